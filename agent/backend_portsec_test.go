package agent

import (
	"reflect"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
)

const portSecurityViewYAML = `
host: hv1
uplink: eth1
segments: [{name: red, type: local}]
profiles:
  - {name: vip, portSecurity: true, allowedAddressPairs: [{ip: 192.0.2.100/32, mac: "52:54:00:00:00:aa"}, {ip: "2001:db8::/64"}]}
  - {name: dhcp, portSecurity: true, trusted: true, allowLinkLocal: [lldp, eapol]}
  - {name: open, maxMACs: 8, stormControl: {broadcast: 50}}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: red, profile: vip, ips: [192.0.2.1, "2001:db8::a"]}
  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: red, profile: dhcp}
  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: red, profile: open}
  - {interface: tap-d, mac: "52:54:00:00:00:0d", segment: red}
`

// TestPortSecurityView: each vEth's view shows its entry's policy, its
// addresses and its profile's pairs; only an open port has a MAC limit.
func TestPortSecurityView(t *testing.T) {
	a := newTestAgent(t, newFakeDatapath())
	a.apply(t, portSecurityViewYAML)
	cur := a.e.view()
	storm := api.StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000} // spec.DefaultStormControl
	none := []api.AddressPair{}
	want := map[string]api.PortSecurity{
		"tap-a": {Interface: "tap-a", MAC: "52:54:00:00:00:0a", Profile: "vip", PortSecurity: true, Bound: true,
			Addresses: []string{"192.0.2.1", "2001:db8::a"},
			AllowedAddressPairs: []api.AddressPair{
				{IP: "192.0.2.100/32", MAC: "52:54:00:00:00:aa"}, {IP: "2001:db8::/64"},
			},
			AllowLinkLocal: []string{}, StormControl: storm},
		"tap-b": {Interface: "tap-b", MAC: "52:54:00:00:00:0b", Profile: "dhcp", PortSecurity: true, Trusted: true,
			Addresses: []string{}, AllowedAddressPairs: none, AllowLinkLocal: []string{"eapol", "lldp"}, StormControl: storm},
		"tap-c": {Interface: "tap-c", MAC: "52:54:00:00:00:0c", Profile: "open",
			Addresses: []string{}, AllowedAddressPairs: none, AllowLinkLocal: []string{},
			MACLimit: &api.MACLimit{Max: 8}, StormControl: api.StormControl{Broadcast: 50}},
		// No profile: the default's port security, held to its MAC only.
		"tap-d": {Interface: "tap-d", MAC: "52:54:00:00:00:0d", PortSecurity: true,
			Addresses: []string{}, AllowedAddressPairs: none, AllowLinkLocal: []string{}, StormControl: storm},
	}
	seen := 0
	for _, pi := range cur.sortedPorts() {
		if pi.Kind != bpf.PortVEth {
			continue
		}
		seen++
		w, ok := want[pi.Iface]
		if !ok {
			t.Errorf("unexpected vEth %s", pi.Iface)
			continue
		}
		w.Name, w.Drops = portName(pi), map[string]uint64{}
		if got := portSecurityOf(pi, cur.sw.PortPolicy(pi.Config)); !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", pi.Iface, got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("%d vEths, want %d", seen, len(want))
	}
}

func TestPortSecurityDropped(t *testing.T) {
	tests := []struct {
		name  string
		drops map[bpf.DropReason]uint64
		want  map[string]uint64
	}{
		{"none", nil, map[string]uint64{}},
		{"port security only", map[bpf.DropReason]uint64{
			bpf.DropSpoofedSource: 1, bpf.DropIPSpoof: 2, bpf.DropARPSpoof: 3, bpf.DropNDSpoof: 4,
			bpf.DropDHCPServer: 5, bpf.DropRouterAdvert: 6, bpf.DropLinkLocal: 7, bpf.DropMACLimit: 8, bpf.DropStorm: 9,
			bpf.DropPortDown: 10, bpf.DropTaggedOnAccess: 11, bpf.DropNoRoute: 12,
		}, map[string]uint64{
			"spoofed-source": 1, "ip-spoof": 2, "arp-spoof": 3, "nd-spoof": 4,
			"dhcp-server": 5, "router-advert": 6, "link-local": 7, "mac-limit": 8, "storm": 9,
		}},
		{"others only", map[bpf.DropReason]uint64{bpf.DropHairpin: 1}, map[string]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c bpf.Counters
			for r, n := range tt.drops {
				c.Drops[r] = n
			}
			if got := portSecurityDropped(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLinkLocalKinds(t *testing.T) {
	tests := []struct {
		l    bpf.LinkLocal
		want []string
	}{
		{0, []string{}},
		{bpf.LinkLocalAll, []string{"all"}},
		{bpf.LinkLocalLLDP | bpf.LinkLocalSlow, []string{"lacp", "lldp"}},
		{bpf.LinkLocalSTP | 1<<0x5, []string{"stp", "01:80:c2:00:00:05"}},
	}
	for _, tt := range tests {
		if got := linkLocalKinds(tt.l); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("linkLocalKinds(%#x) = %q, want %q", uint16(tt.l), got, tt.want)
		}
	}
}
