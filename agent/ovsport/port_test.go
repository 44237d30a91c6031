package ovsport

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// libvirtIDs are the external_ids libvirt writes for an interface.
func libvirtIDs(extra ...string) map[string]string {
	ids := map[string]string{
		KeyIfaceID:     "6f0c1c5e-0000-4000-8000-000000000001",
		KeyAttachedMAC: "52:54:00:00:0a:01",
		KeyVMID:        "0d1e2f3a-0000-4000-8000-000000000001",
		KeyIfaceStatus: "active",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "\x00" {
			delete(ids, extra[i])
			continue
		}
		ids[extra[i]] = extra[i+1]
	}
	return ids
}

func TestDecode(t *testing.T) {
	def := Defaults{Segment: "web", Profile: "default"}
	for _, tc := range []struct {
		name    string
		iface   string
		ids     map[string]string
		def     Defaults
		notOurs bool
		want    Port // compared: Interface, MAC, InterfaceID, VM, Segment, Profile, IPs
		err     string
	}{
		{name: "libvirt's keys, the file's defaults", iface: "tap1", ids: libvirtIDs(), def: def,
			want: port("tap1", "52:54:00:00:0a:01", "web", "default")},
		{name: "vem's keys win over the defaults", iface: "tap1", def: def,
			ids:  libvirtIDs(KeySegment, "db", KeyProfile, "open", KeyIPs, "192.0.2.1, 2001:db8::1"),
			want: port("tap1", "52:54:00:00:0a:01", "db", "open", "192.0.2.1", "2001:db8::1")},
		{name: "libvirt's profileid", iface: "tap1", def: def, ids: libvirtIDs(KeyPortProfile, "gold"),
			want: port("tap1", "52:54:00:00:0a:01", "web", "gold")},
		{name: "profileid and vem-profile agree", iface: "tap1", def: def, ids: libvirtIDs(KeyPortProfile, "gold", KeyProfile, "gold"),
			want: port("tap1", "52:54:00:00:0a:01", "web", "gold")},
		{name: "vm-uuid for vm-id", iface: "tap1", def: def, ids: libvirtIDs(KeyVMID, "\x00", KeyVMUUID, "0d1e2f3a-0000-4000-8000-000000000001"),
			want: port("tap1", "52:54:00:00:0a:01", "web", "default")},
		{name: "no iface-status is active", iface: "tap1", def: def, ids: libvirtIDs(KeyIfaceStatus, "\x00"),
			want: port("tap1", "52:54:00:00:0a:01", "web", "default")},
		{name: "not vem's", iface: "eth0", ids: map[string]string{"owner": "x"}, notOurs: true},
		{name: "inactive", iface: "tap1", def: def, ids: libvirtIDs(KeyIfaceStatus, "inactive"), err: "inactive"},
		{name: "no segment", iface: "tap1", ids: libvirtIDs(), err: "no segment: set external_ids:vem-segment"},
		{name: "broadcast MAC", iface: "tap1", def: def, ids: libvirtIDs(KeyAttachedMAC, "ff:ff:ff:ff:ff:ff"), err: "attached-mac: MAC ff:ff:ff:ff:ff:ff is multicast"},
		{name: "no MAC", iface: "tap1", def: def, ids: libvirtIDs(KeyAttachedMAC, "\x00"), err: "no external_ids:attached-mac"},
		{name: "empty MAC", iface: "tap1", def: def, ids: libvirtIDs(KeyAttachedMAC, ""), err: "attached-mac is empty"},
		{name: "dashed MAC", iface: "tap1", def: def, ids: libvirtIDs(KeyAttachedMAC, "52-54-00-00-0a-01"), err: "want six colon-separated hex octets"},
		{name: "profiles differ", iface: "tap1", def: def, ids: libvirtIDs(KeyPortProfile, "gold", KeyProfile, "silver"), err: `vem-profile "silver" differs from port-profile "gold"`},
		{name: "vm ids differ", iface: "tap1", def: def, ids: libvirtIDs(KeyVMUUID, "0d1e2f3a-0000-4000-8000-000000000002"), err: "vm-id"},
		{name: "vm-id not a UUID", iface: "tap1", def: def, ids: libvirtIDs(KeyVMID, "vm1"), err: `vm-id "vm1" is not a UUID`},
		{name: "bad status", iface: "tap1", def: def, ids: libvirtIDs(KeyIfaceStatus, "up"), err: `iface-status "up": want active or inactive`},
		{name: "bad address", iface: "tap1", def: def, ids: libvirtIDs(KeyIPs, "192.0.2.300"), err: "vem-ips: invalid IP address"},
		{name: "address twice", iface: "tap1", def: def, ids: libvirtIDs(KeyIPs, "192.0.2.1 192.0.2.1"), err: "given twice"},
		{name: "multicast address", iface: "tap1", def: def, ids: libvirtIDs(KeyIPs, "224.0.0.1"), err: "not a host address"},
		{name: "empty iface-id", iface: "tap1", def: def, ids: libvirtIDs(KeyIfaceID, ""), err: "iface-id is empty"},
		{name: "control characters", iface: "tap1", def: def, ids: libvirtIDs(KeySegment, "web\n"), err: "vem-segment has control characters"},
		{name: "long value", iface: "tap1", def: def, ids: libvirtIDs(KeySegment, strings.Repeat("w", 300)), err: "longer than 256 bytes"},
		{name: "long name", iface: "tap-with-a-long-name", def: def, ids: libvirtIDs(), err: "longer than 15 bytes"},
		{name: "bad name", iface: "../x", def: def, ids: libvirtIDs(), err: "not a valid interface name"},
		{name: "VSM mode: bound by iface-id", iface: "tap1", def: Defaults{ByID: true}, ids: libvirtIDs(),
			want: port("tap1", "52:54:00:00:0a:01", "", "")},
		{name: "VSM mode: a segment still binds by it", iface: "tap1", def: Defaults{ByID: true}, ids: libvirtIDs(KeySegment, "web"),
			want: port("tap1", "52:54:00:00:0a:01", "web", "")},
		{name: "VSM mode: iface-id not a UUID", iface: "tap1", def: Defaults{ByID: true}, ids: libvirtIDs(KeyIfaceID, "port-1"), err: `iface-id "port-1" is not the UUID of a port the VSM could bind`},
		{name: "VSM mode: addresses of a pre-created port", iface: "tap1", def: Defaults{ByID: true}, ids: libvirtIDs(KeyIPs, "192.0.2.1"), err: "vem-ips without vem-segment"},
		{name: "every problem at once", iface: "tap1", ids: libvirtIDs(KeyAttachedMAC, "x", KeyVMID, "y"), err: "attached-mac: invalid MAC \"x\": want six colon-separated hex octets; external_ids:vm-id \"y\" is not a UUID; no segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok, err := Decode(&Row{UUID: "u1", Name: tc.iface, ExternalIDs: tc.ids}, tc.def)
			if ok == tc.notOurs {
				t.Fatalf("ours = %v, want %v", ok, !tc.notOurs)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want it to contain %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.iface) {
					t.Errorf("error %v does not name the interface", err)
				}
				if (tc.err == "inactive") != errors.Is(err, ErrInactive) {
					t.Errorf("errors.Is(%v, ErrInactive) = %v", err, !(tc.err == "inactive"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.notOurs {
				return
			}
			got := p.Spec()
			w := tc.want.Spec()
			if got.Interface != w.Interface || got.MAC != w.MAC || got.Segment != w.Segment || got.Profile != w.Profile || !slices.Equal(got.IPs, w.IPs) {
				t.Errorf("port %+v, want %+v", got, w)
			}
			if p.InterfaceID != tc.ids[KeyIfaceID] || p.UUID != "u1" || p.VM == "" {
				t.Errorf("port ids %q %q %q", p.InterfaceID, p.UUID, p.VM)
			}
		})
	}
}

func port(iface, mac, seg, prof string, ips ...string) Port {
	var p Port
	p.Interface, p.MAC, p.Segment, p.Profile, p.IPs = iface, mac, seg, prof, ips
	return p
}

func TestSnapshotRefusesDuplicates(t *testing.T) {
	rows := map[string]*Row{
		"u1": {UUID: "u1", Name: "tap1", ExternalIDs: libvirtIDs()},
		"u2": {UUID: "u2", Name: "tap2", ExternalIDs: libvirtIDs(KeyIfaceID, "other")},                 // same MAC
		"u3": {UUID: "u3", Name: "tap3", ExternalIDs: libvirtIDs(KeyAttachedMAC, "52:54:00:00:0a:03")}, // same iface-id
		"u4": {UUID: "u4", Name: "tap4", ExternalIDs: libvirtIDs(KeyIfaceID, "4", KeyAttachedMAC, "52:54:00:00:0a:04")},
		"u5": {UUID: "u5", Bad: errors.New("row u5: no name column")},
	}
	ports, refused := Snapshot(rows, Defaults{Segment: "web"})
	if len(ports) != 2 || ports[0].Interface != "tap1" || ports[1].Interface != "tap4" {
		t.Fatalf("ports %+v, want tap1 and tap4", ports)
	}
	for uuid, want := range map[string]string{"u2": `attached-mac 52:54:00:00:0a:01 is also interface tap1's`,
		"u3": `iface-id "6f0c1c5e-0000-4000-8000-000000000001" is also interface tap1's`, "u5": "no name column"} {
		if err := refused[uuid]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: refusal %v, want %q", uuid, err, want)
		}
	}
}

func TestDecodeRow(t *testing.T) {
	r, err := DecodeRow("u1", []byte(`{"name":"tap1","external_ids":["map",[["iface-id","i1"],["attached-mac","52:54:00:00:0a:01"]]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "tap1" || r.ExternalIDs[KeyIfaceID] != "i1" || len(r.ExternalIDs) != 2 {
		t.Fatalf("row %+v", r)
	}
	r, err = DecodeRow("u2", []byte(`{"name":"eth0","external_ids":["map",[]]}`))
	if err != nil || len(r.ExternalIDs) != 0 {
		t.Fatalf("empty map: %+v, %v", r, err)
	}
	for _, tc := range []struct{ data, want string }{
		{`{"external_ids":["map",[]]}`, "no name column"},
		{`{"name":"x","external_ids":["set",[]]}`, "not an OVSDB map"},
		{`{"name":"x","external_ids":["map",[["k"]]]}`, "not two strings"},
		{`{"name":"x","external_ids":["map",[["k",1]]]}`, "not two strings"},
		{`{"name":"x","external_ids":["map",[["k","a"],["k","b"]]]}`, `key "k" given twice`},
		{`{"name":"x","external_ids":["map",` + manyPairs(MaxExternalIDs+1) + `]}`, "more than 256"},
		{`{"name":1}`, "row u3"},
		{`[]`, "row u3"},
	} {
		if _, err := DecodeRow("u3", []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.data, err, tc.want)
		}
	}
}

func manyPairs(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf(`["k%d","v"]`, i)
	}
	return "[" + strings.Join(pairs, ",") + "]"
}
