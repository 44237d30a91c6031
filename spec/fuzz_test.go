package spec_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vem-switch/vem/spec"
)

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base))
	f.Add([]byte(""))
	f.Add([]byte("~\n"))
	f.Add([]byte("host: hv1\nsegments: [\n"))
	f.Add([]byte("host: hv1\nsegments:\n  - {name: web, type: vlan, vlan: 5000}\n  - {name: web, type: flat}\n"))
	f.Add([]byte("host: hv1\nsegments:\n  - &s {name: a, type: local}\n  - *s\n  - <<: *s\n    name: b\n"))
	f.Add([]byte("host: hv1\nportChannels: [{name: po1, mode: mac-pinning, members: [{interface: eth1, priority: -1}]}]\nuplink: po1\n"))
	f.Add([]byte("host: hv1\nmacAgeing: -1s\nvtep: {address: '::1', port: 70000}\n"))
	// Port security: every field, valid and not.
	f.Add([]byte(base + `profiles:
  - {name: sec, portSecurity: true, trusted: true, allowLinkLocal: [stp, lldp], maxMACs: 8,
     stormControl: {broadcast: 100, multicast: 0, unknownUnicast: 10000000},
     allowedAddressPairs: [{ip: 192.0.2.100/32, mac: "52:54:00:00:00:0b"}, {ip: "2001:db8:1::/48"}]}
  - {name: open, maxMACs: 4096}
`))
	f.Add([]byte("host: hv1\nsegments: [{name: web, type: flat}]\nports:\n  - {interface: tap-a, mac: \"52:54:00:00:00:0a\", segment: web, ips: [192.0.2.1, \"2001:db8::1\", \"::ffff:192.0.2.1\", 192.0.2.1]}\n"))
	f.Add([]byte("host: hv1\nprofiles:\n  - {name: p, maxMACs: -1, allowLinkLocal: [stp, stp, bpdu], stormControl: {broadcast: -5},\n     allowedAddressPairs: [{ip: \"fe80::1%eth0\"}, {ip: 192.0.2.1/24, mac: \"01:00:5e:00:00:01\"}, {mac: \"52:54:00:00:00:0c\"}]}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := spec.Parse(data)
		if err != nil {
			var verr *spec.ValidationError
			if !errors.As(err, &verr) {
				return
			}
			lines := countLines(data)
			if len(verr.Problems) == 0 {
				t.Fatal("ValidationError without problems")
			}
			for _, p := range verr.Problems {
				if p.Line < 1 || p.Line > lines || p.Field == "" || p.Msg == "" {
					t.Fatalf("malformed problem %+v in a %d-line file", p, lines)
				}
			}
			return
		}
		if err := c.Validate(spec.ValidateOptions{}); err != nil {
			t.Fatalf("parsed config does not validate again: %v", err)
		}
		// What parses, written back out, parses to the same thing.
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		c2, err := spec.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		out2, err := yaml.Marshal(c2)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the config:\n%s\nbecame\n%s", out, out2)
		}
	})
}

// countLines counts lines as YAML does: \r\n, \r, \n, NEL, LS and PS
// all end one.
func countLines(data []byte) int {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	n := 1
	for _, brk := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(brk))
	}
	return n
}
