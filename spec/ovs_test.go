package spec_test

import (
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// ovsFile is a valid standalone file with an ovs section.
const ovsFile = `host: hv1
segments:
  - {name: web, type: local}
profiles:
  - {name: default, portSecurity: true}
ovs:
  database: unix:/run/openvswitch/db.sock
  segment: web
  profile: default
`

func TestParseOVSSection(t *testing.T) {
	c, err := spec.Parse([]byte(ovsFile))
	if err != nil {
		t.Fatal(err)
	}
	if c.OVS == nil || c.OVS.Database != "unix:/run/openvswitch/db.sock" || c.OVS.Segment != "web" || c.OVS.Profile != "default" {
		t.Fatalf("ovs = %+v", c.OVS)
	}
	if h := c.HostFacts(); h.OVS != nil {
		t.Errorf("HostFacts kept the ovs section: %+v", h.OVS)
	}
	c, err = spec.Parse([]byte("host: hv1\nsegments: [{name: web, type: local}]\novs: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OVS.Database != spec.DefaultOVSDatabase {
		t.Errorf("default database = %q, want %q", c.OVS.Database, spec.DefaultOVSDatabase)
	}
	c, err = spec.Parse([]byte("host: hv1\nsegments: [{name: web, type: local}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OVS != nil {
		t.Errorf("no section: ovs = %+v, want nil (off)", c.OVS)
	}
}

func TestParseOVSErrors(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"relative socket", "unix:/run/openvswitch/db.sock", "unix:db.sock", `line 7: ovs.database: "unix:db.sock": the socket path must be absolute`},
		{"no method", "unix:/run/openvswitch/db.sock", "/run/openvswitch/db.sock", `line 7: ovs.database: "/run/openvswitch/db.sock" is not unix:PATH or tcp:HOST:PORT`},
		{"ssl", "unix:/run/openvswitch/db.sock", "ssl:127.0.0.1:6640", "ssl is not supported"},
		{"tcp without port", "unix:/run/openvswitch/db.sock", "tcp:127.0.0.1", `ovs.database: tcp: "127.0.0.1" is not host:port`},
		{"unknown segment", "segment: web", "segment: db", `line 8: ovs.segment: no segment named "db"`},
		{"unknown profile", "profile: default", "profile: shut", `line 9: ovs.profile: no profile named "shut"`},
		{"unknown field", "profile: default", "profil: default", "line 9: ovs.profil: unknown field (want one of database, segment, profile)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(strings.Replace(ovsFile, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"tcp:127.0.0.1:6640", "tcp:[::1]:6640", "unix:/var/run/openvswitch/db.sock"} {
		if _, err := spec.Parse([]byte(strings.Replace(ovsFile, "unix:/run/openvswitch/db.sock", ok, 1))); err != nil {
			t.Errorf("database %q refused: %v", ok, err)
		}
	}
}

// In VSM mode the segments come from the VSM: the defaults are not
// looked up in the file.
func TestParseOVSInVSMMode(t *testing.T) {
	const file = `host: hv1
vsm:
  domain: 100
  addresses: [203.0.113.1:7443]
  tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}
ovs: {segment: web, profile: default}
`
	c, err := spec.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if c.OVS.Segment != "web" {
		t.Errorf("ovs = %+v", c.OVS)
	}
}
