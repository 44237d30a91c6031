package ovsport

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// FuzzDecodeUpdate feeds arbitrary table-updates to the decoder, as a
// monitor reply or update would carry them, and the rows to the port
// decoder and the snapshot. Whatever arrives: no panic; a row the
// decoder cannot read is held with its error and refused; every port of
// the snapshot is one the agent's API accepts (an interface name, a
// station MAC, a segment, host addresses), with no two ports on one MAC
// or iface-id; every refusal names its reason on one line.
//
//	go test -run='^$' -fuzz='^FuzzDecodeUpdate$' ./agent/ovsport/
func FuzzDecodeUpdate(f *testing.F) {
	for _, s := range []string{
		`{"Interface":{"u1":{"new":{"name":"tap1","external_ids":["map",[["iface-id","6f0c1c5e-0000-4000-8000-000000000001"],["attached-mac","52:54:00:00:0a:01"],["vm-id","0d1e2f3a-0000-4000-8000-000000000001"],["iface-status","active"]]]}}}}`,
		`{"Interface":{"u1":{"new":{"name":"tap1","external_ids":["map",[["iface-id","i1"],["attached-mac","52:54:00:00:0a:01"],["vem-segment","db"],["vem-ips","192.0.2.1,2001:db8::1"],["port-profile","gold"],["vem-profile","gold"]]]}},"u2":{"new":{"name":"tap2","external_ids":["map",[["iface-id","i1"],["attached-mac","52:54:00:00:0a:01"]]]}}}}`,
		`{"Interface":{"u1":{"old":{"name":"tap1"}},"u2":{"new":{"name":"eth0","external_ids":["map",[]]}}}}`,
		`{"Interface":{"u1":{"new":{"name":"tap1","external_ids":["map",[["iface-id",""],["iface-status","inactive"]]]}}}}`,
		`{"Interface":{"u1":{"new":{"name":"../../x","external_ids":["map",[["iface-id","\u0000"],["attached-mac","ff:ff:ff:ff:ff:ff"]]]}}}}`,
		`{"Interface":{"u1":{"new":{"name":"tap1","external_ids":["set",[]]}}}}`,
		`{"Interface":null}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := decodeUpdate(data)
		if err != nil {
			return
		}
		rows := map[string]*Row{}
		for _, r := range u.Rows {
			if r.Bad == nil && r.ExternalIDs == nil {
				t.Fatalf("row %s decoded without external_ids", r.UUID)
			}
			rows[r.UUID] = r
		}
		for _, def := range []Defaults{{Segment: "web"}, {ByID: true}} {
			checkSnapshot(t, rows, def)
		}
	})
}

// checkSnapshot checks the invariants of a snapshot of rows.
func checkSnapshot(t *testing.T, rows map[string]*Row, def Defaults) {
	ports, refused := Snapshot(rows, def)
	macs, ids := map[string]bool{}, map[string]bool{}
	for _, p := range ports {
		s := p.Spec()
		if macs[s.MAC] || ids[p.InterfaceID] {
			t.Fatalf("two ports with MAC %s or iface-id %q", s.MAC, p.InterfaceID)
		}
		macs[s.MAC], ids[p.InterfaceID] = true, true
		if len(s.Interface) == 0 || len(s.Interface) > 15 || strings.ContainsAny(s.Interface, "/: \n") {
			t.Fatalf("port on interface %q", s.Interface)
		}
		if _, err := spec.ParseMAC(s.MAC); err != nil {
			t.Fatalf("port with MAC %q: %v", s.MAC, err)
		}
		switch {
		case s.Segment == "" && !def.ByID:
			t.Fatalf("port %s without a segment", s.Interface)
		case s.Segment == "" && (!uuidRE.MatchString(p.InterfaceID) || len(s.IPs) > 0):
			t.Fatalf("port %s bound by iface-id %q (addresses %v)", s.Interface, p.InterfaceID, s.IPs)
		case len(s.Segment) > maxValue || len(s.Profile) > maxValue:
			t.Fatalf("port segment %q profile %q", s.Segment, s.Profile)
		}
		for _, ip := range s.IPs {
			if err := api.CheckPortIP(ip); err != nil || netip.MustParseAddr(ip).String() != ip {
				t.Fatalf("port address %q: %v", ip, err)
			}
		}
	}
	for uuid, err := range refused {
		if rows[uuid] == nil {
			t.Fatalf("refusal of a row that is not in the table: %s", uuid)
		}
		if err.Error() == "" {
			t.Fatalf("refusal of %s without a reason", uuid)
		}
	}
}
