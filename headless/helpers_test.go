package headless

import (
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
)

const testYAML = `
host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web, profile: default}
`

// testSwitch is a valid configuration.
func testSwitch(t testing.TB) *spec.Switch {
	t.Helper()
	sw, err := spec.Parse([]byte(testYAML))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return sw
}

// testCheckpoint is a valid checkpoint of generation gen.
func testCheckpoint(t testing.TB, gen uint64) Checkpoint {
	return Checkpoint{
		Switch:      testSwitch(t),
		Generation:  gen,
		Module:      3,
		AttachedVSM: "vsm-a",
		Epoch:       2,
		Bindings: []Binding{{ID: "p1", Interface: "tap-a", VEth: 1, DynamicProfile: "vnn-default-web",
			Segment: "web", Profile: "default", MAC: "52:54:00:00:00:0a"}},
		RemoteMACs: []RemoteMAC{{VNI: 5001, MAC: "52:54:00:00:00:0b", VTEP: "198.51.100.2"}},
		SavedAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}
