package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
)

// vsmFile is a valid VSM-mode file: host facts and a vsm section only.
const vsmFile = `host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
vsm:
  domain: 100
  addresses: [203.0.113.1:7443, 203.0.113.2:7443]
  tls: {ca: /etc/vem/pki/ca.pem, cert: /etc/vem/pki/hv1.pem, key: /etc/vem/pki/hv1-key.pem}
`

func TestParseVSMSection(t *testing.T) {
	c, err := spec.Parse([]byte(vsmFile))
	if err != nil {
		t.Fatal(err)
	}
	want := spec.VSM{
		Domain:        100,
		Addresses:     []string{"203.0.113.1:7443", "203.0.113.2:7443"},
		HeadlessAfter: spec.Duration(15 * time.Second),
		TLS:           &spec.TLS{CA: "/etc/vem/pki/ca.pem", Cert: "/etc/vem/pki/hv1.pem", Key: "/etc/vem/pki/hv1-key.pem"},
	}
	if c.VSM == nil || c.VSM.Domain != want.Domain || strings.Join(c.VSM.Addresses, ",") != strings.Join(want.Addresses, ",") ||
		c.VSM.HeadlessAfter != want.HeadlessAfter || *c.VSM.TLS != *want.TLS {
		t.Errorf("vsm = %+v, want %+v", c.VSM, want)
	}
	h := c.HostFacts()
	if h.VSM != nil || h.Host != "hv1" || h.VTEP == nil || c.VSM == nil {
		t.Errorf("HostFacts() = %+v (the file's vsm %v)", h, c.VSM)
	}
}

func TestParseVSMRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line: field: substring"
	}{
		{"network in a VSM-mode file", vsmFile + `segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web}
`, []string{"8: segments: not allowed with vsm", "10: profiles: not allowed with vsm", "12: ports: not allowed with vsm"}},
		{"domain 0", strings.Replace(vsmFile, "domain: 100", "domain: 0", 1), []string{"5: vsm.domain: 0 is outside 1..4095"}},
		{"domain 4096", strings.Replace(vsmFile, "domain: 100", "domain: 4096", 1), []string{"5: vsm.domain: 4096 is outside"}},
		{"no addresses", strings.Replace(vsmFile, "[203.0.113.1:7443, 203.0.113.2:7443]", "[]", 1), []string{"6: vsm.addresses: required"}},
		{"repeated address", strings.Replace(vsmFile, "203.0.113.2:7443", "203.0.113.1:7443", 1),
			[]string{"6: vsm.addresses[1]: duplicate 203.0.113.1:7443 (also vsm.addresses[0])"}},
		{"bad addresses", strings.Replace(vsmFile, "[203.0.113.1:7443, 203.0.113.2:7443]", `["203.0.113.1", ":7443", "a:0", ""]`, 1),
			[]string{"6: vsm.addresses[0]: \"203.0.113.1\" is not host:port", "6: vsm.addresses[1]: \":7443\" has no host",
				"6: vsm.addresses[2]: \"a:0\": port", "6: vsm.addresses[3]: \"\" is not host:port"}},
		{"headless too soon", strings.Replace(vsmFile, "  domain: 100", "  domain: 100\n  headlessAfter: 1s", 1),
			[]string{"6: vsm.headlessAfter: 1s is outside 2s..5m0s"}},
		{"headless too late", strings.Replace(vsmFile, "  domain: 100", "  domain: 100\n  headlessAfter: 1h", 1),
			[]string{"6: vsm.headlessAfter: 1h0m0s is outside"}},
		{"no tls", strings.Replace(vsmFile, "  tls: {ca: /etc/vem/pki/ca.pem, cert: /etc/vem/pki/hv1.pem, key: /etc/vem/pki/hv1-key.pem}\n", "", 1),
			[]string{"4: vsm.tls: required"}},
		{"tls files missing", strings.Replace(vsmFile, "{ca: /etc/vem/pki/ca.pem, cert: /etc/vem/pki/hv1.pem, key: /etc/vem/pki/hv1-key.pem}", "{cert: /c.pem}", 1),
			[]string{"7: vsm.tls.ca: required", "7: vsm.tls.key: required"}},
		{"unknown field", strings.Replace(vsmFile, "  domain: 100", "  domain: 100\n  domian: 7", 1), []string{"6: vsm.domian: unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tt.yaml))
			var got []string
			for _, p := range problems(t, err) {
				got = append(got, p.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], "line "+w[:strings.Index(w, ":")]) || !strings.Contains(got[i], w[strings.Index(w, ":")+2:]) {
					t.Errorf("problem %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

func TestStandaloneFileHasNoVSM(t *testing.T) {
	c, err := spec.Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.VSM != nil {
		t.Errorf("vsm = %+v in a standalone file", c.VSM)
	}
}
