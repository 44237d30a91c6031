package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// planYAML has a vlan, a flat and a local segment, an admin-down port,
// and a static port-channel uplink.
const planYAML = `
host: hv1
uplink: po1
portChannels:
  - {name: po1, mode: static, hash: src-dst-ip, members: [{interface: eth2}, {interface: eth1}]}
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: mgmt, type: flat}
  - {name: lab, type: local}
profiles:
  - {name: default, portSecurity: true}
  - {name: shut, adminDown: true}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web, profile: default}
  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: web}
  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: web, profile: shut}
  - {interface: tap-d, mac: "52:54:00:00:00:0d", segment: mgmt}
`

func TestBuildPlan(t *testing.T) {
	cfg := mustParse(t, planYAML)
	attached := []spec.Port{{Interface: "tap-e", MAC: "52:54:00:00:00:0e", Segment: "lab"}}
	p, err := buildPlan(cfg, attached, segmentIDs(cfg, nil), testLinks, newSlots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := segmentIDs(cfg, nil)
	web, mgmt, lab := ids["web"], ids["mgmt"], ids["lab"]

	t.Run("ports", func(t *testing.T) {
		// vEth slots follow file order (then attached), not ifindex order.
		tests := []struct {
			iface  string
			source string
			want   bpf.Port
		}{
			{"tap-a", sourceConfig, bpf.Port{Ifindex: 12, Kind: bpf.PortVEth, Segment: web, Slot: 1, Secure: true}},
			{"tap-b", sourceConfig, bpf.Port{Ifindex: 11, Kind: bpf.PortVEth, Segment: web, Slot: 2, Peer: true, Secure: true}},
			{"tap-c", sourceConfig, bpf.Port{Ifindex: 10, Kind: bpf.PortVEth, Segment: web, Slot: 3, Down: true}},
			{"tap-d", sourceConfig, bpf.Port{Ifindex: 13, Kind: bpf.PortVEth, Segment: mgmt, Slot: 4, Secure: true}},
			{"tap-e", sourceAttached, bpf.Port{Ifindex: 14, Kind: bpf.PortVEth, Segment: lab, Slot: 5, Secure: true}},
			{"eth2", sourceConfig, bpf.Port{Ifindex: 3, Kind: bpf.PortUplink, Slot: bpf.MaxPorts - 1, Collecting: true, MAC: make(net.HardwareAddr, 6)}},
			{"eth1", sourceConfig, bpf.Port{Ifindex: 2, Kind: bpf.PortUplink, Slot: bpf.MaxPorts - 2, Collecting: true, MAC: make(net.HardwareAddr, 6)}},
		}
		if len(p.ports) != len(tests) {
			t.Errorf("plan has %d ports, want %d", len(p.ports), len(tests))
		}
		for _, tt := range tests {
			pi, ok := p.ports[tt.want.Ifindex]
			if !ok {
				t.Errorf("%s (ifindex %d) not planned", tt.iface, tt.want.Ifindex)
				continue
			}
			if pi.Iface != tt.iface || pi.Kind != tt.want.Kind || pi.Source != tt.source {
				t.Errorf("ifindex %d: iface %s kind %s source %s, want %s %s %s",
					tt.want.Ifindex, pi.Iface, pi.Kind, pi.Source, tt.iface, tt.want.Kind, tt.source)
			}
			if tt.want.Kind == bpf.PortVEth {
				tt.want.MAC, _ = spec.ParseMAC("52:54:00:00:00:0" + tt.iface[len(tt.iface)-1:])
				// Every vEth has storm control; an open one a MAC limit.
				tt.want.Storm = bpf.StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000}
				if !tt.want.Secure {
					tt.want.MaxMACs = spec.DefaultMaxMACs
				}
			}
			if !portEqual(pi.Entry, tt.want) {
				t.Errorf("%s entry = %+v, want %+v", tt.iface, pi.Entry, tt.want)
			}
		}
	})

	t.Run("segments", func(t *testing.T) {
		// Flood lists are in ifindex order and leave out the admin-down
		// tap-c.
		tests := []struct {
			id   uint32
			want bpf.Segment
		}{
			{web, bpf.Segment{ID: web, Type: bpf.SegmentVLAN, VLAN: 100,
				Ports: []bpf.FloodPort{{Ifindex: 11, Slot: 2}, {Ifindex: 12, Slot: 1}}}},
			{mgmt, bpf.Segment{ID: mgmt, Type: bpf.SegmentFlat,
				Ports: []bpf.FloodPort{{Ifindex: 13, Slot: 4}}}},
			{lab, bpf.Segment{ID: lab, Type: bpf.SegmentLocal,
				Ports: []bpf.FloodPort{{Ifindex: 14, Slot: 5}}}},
		}
		if len(p.segments) != len(tests) {
			t.Errorf("plan has %d segments, want %d", len(p.segments), len(tests))
		}
		for _, tt := range tests {
			if got := p.segments[tt.id]; !segmentEqual(got, tt.want) {
				t.Errorf("segment %s = %+v, want %+v", p.segNames[tt.id], got, tt.want)
			}
		}
		wantVLANs := map[uint16]uint32{100: web, 0: mgmt}
		if !maps.Equal(p.vlans, wantVLANs) {
			t.Errorf("vlans = %v, want %v", p.vlans, wantVLANs)
		}
	})

	t.Run("uplink", func(t *testing.T) {
		// Members in the port-channel's order, which picks hash buckets.
		want := bpf.Uplink{Hash: bpf.HashSrcDstIP, Members: []bpf.Member{
			{Ifindex: 3, Slot: bpf.MaxPorts - 1}, {Ifindex: 2, Slot: bpf.MaxPorts - 2},
		}}
		if p.uplink == nil || p.uplink.Hash != want.Hash || !slices.Equal(p.uplink.Members, want.Members) {
			t.Errorf("uplink = %+v, want %+v", p.uplink, want)
		}
	})
}

func TestBuildPlanUplink(t *testing.T) {
	tests := []struct {
		name    string
		uplink  string
		want    bpf.HashMode
		members []int
	}{
		{"interface", "uplink: eth1", bpf.HashSrcDstMAC, []int{2}},
		{"static default hash", "uplink: po1\nportChannels: [{name: po1, mode: static, members: [{interface: eth1}, {interface: eth2}]}]",
			bpf.HashSrcDstMAC, []int{2, 3}},
		{"static l4", "uplink: po1\nportChannels: [{name: po1, mode: static, hash: src-dst-ip-l4port, members: [{interface: eth1}]}]",
			bpf.HashSrcDstIPL4Port, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "host: hv1\n"+tt.uplink+"\nsegments: [{name: web, type: vlan, vlan: 100}]\n")
			p, err := buildPlan(cfg, nil, segmentIDs(cfg, nil), testLinks, newSlots(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range p.uplink.Members {
				got = append(got, m.Ifindex)
			}
			if p.uplink.Hash != tt.want || !slices.Equal(got, tt.members) {
				t.Errorf("uplink hash %d members %v, want %d %v", p.uplink.Hash, got, tt.want, tt.members)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		cfg := mustParse(t, "host: hv1\nsegments: [{name: lab, type: local}]\n")
		p, err := buildPlan(cfg, nil, segmentIDs(cfg, nil), testLinks, newSlots(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.uplink != nil {
			t.Errorf("uplink = %+v, want none", p.uplink)
		}
	})
}

// TestBuildPlanAbsentVEth: a vEth whose interface is gone (its VM
// stopped) is planned as absent, with nothing in the datapath, and the
// rest of the switch is planned as usual.
func TestBuildPlanAbsentVEth(t *testing.T) {
	const head = "host: hv1\nuplink: eth1\nsegments: [{name: web, type: vlan, vlan: 100}]\nprofiles: [{name: secure, portSecurity: true}]\n"
	tests := []struct {
		name     string
		yaml     string
		attached []spec.Port
	}{
		{"configured", head + `ports: [{interface: tap-gone, mac: "52:54:00:00:00:01", segment: web, profile: secure}, {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web, profile: secure}]`, nil},
		{"attached", head + `ports: [{interface: tap-a, mac: "52:54:00:00:00:0a", segment: web, profile: secure}]`,
			[]spec.Port{{Interface: "tap-gone", MAC: "52:54:00:00:00:01", Segment: "web", Profile: "secure"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := buildPlan(mustParse(t, tt.yaml), tt.attached, segmentIDs(mustParse(t, tt.yaml), nil), testLinks, newSlots(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.absent) != 1 || p.absent[0].Iface != "tap-gone" {
				t.Fatalf("absent = %+v, want tap-gone", p.absent)
			}
			for _, pi := range p.ports {
				if pi.Iface == "tap-gone" {
					t.Errorf("absent vEth planned as a port: %+v", pi)
				}
			}
			if len(p.statics) != 1 {
				t.Errorf("static MACs %v, want tap-a's alone", p.statics)
			}
			web := p.segments[segmentIDs(mustParse(t, tt.yaml), nil)["web"]]
			if len(web.Ports) != 1 || web.Ports[0].Ifindex != testLinks["tap-a"].Index {
				t.Errorf("web floods to %+v, want tap-a alone", web.Ports)
			}
		})
	}
}

func TestBuildPlanErrors(t *testing.T) {
	const head = "host: hv1\nuplink: eth1\nsegments: [{name: web, type: vlan, vlan: 100}]\n"
	tests := []struct {
		name     string
		yaml     string
		attached []spec.Port
		want     string
		wantIs   error
	}{
		{"missing uplink", "host: hv1\nuplink: eth9\nsegments: [{name: web, type: vlan, vlan: 100}]\n",
			nil, "eth9", errNoInterface},
		{"missing member", "host: hv1\nuplink: po1\nportChannels: [{name: po1, mode: static, members: [{interface: eth1}, {interface: eth9}]}]\nsegments: [{name: web, type: vlan, vlan: 100}]\n",
			nil, "eth9", errNoInterface},
		{"vtep not on the uplink", "host: hv1\nuplink: eth2\nvtep: {address: 198.51.100.1}\nsegments: [{name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}]\n",
			nil, "198.51.100.1", nil},
		// 1500 bytes inside plus 50 of VXLAN do not fit eth3's 1500.
		{"uplink MTU too small", "host: hv1\nuplink: eth3\nvtep: {address: 198.51.100.1}\nsegments: [{name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}]\n",
			nil, "segment db", nil},
		{"configured and attached", head + `ports: [{interface: tap-a, mac: "52:54:00:00:00:01", segment: web}]`,
			[]spec.Port{{Interface: "tap-a", MAC: "52:54:00:00:00:02", Segment: "web"}}, "tap-a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildPlan(mustParse(t, tt.yaml), tt.attached, segmentIDs(mustParse(t, tt.yaml), nil), testLinks, newSlots(), nil)
			if err == nil {
				t.Fatal("buildPlan succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
		})
	}
}

func TestBuildPlanVXLAN(t *testing.T) {
	cfg := mustParse(t, `
host: hv1
uplink: eth1
vtep: {address: 198.51.100.1, port: 8472, df: true}
segments:
  - {name: db, type: vxlan, vni: 5001, mtu: 8950, vteps: [198.51.100.2, 198.51.100.3]}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: db}
`)
	p, err := buildPlan(cfg, nil, segmentIDs(cfg, nil), testLinks, newSlots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := segmentIDs(cfg, nil)["db"]
	want := bpf.Segment{
		ID: id, Type: bpf.SegmentVXLAN, VNI: 5001, MTU: 8950,
		Ports: []bpf.FloodPort{{Ifindex: 12, Slot: 1}},
		VTEPs: []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")},
	}
	if got := p.segments[id]; !segmentEqual(got, want) {
		t.Errorf("segment = %+v, want %+v", got, want)
	}
	if want := map[uint32]uint32{5001: id}; !maps.Equal(p.vnis, want) {
		t.Errorf("vnis = %v, want %v", p.vnis, want)
	}
	if len(p.vlans) != 0 {
		t.Errorf("vlans = %v, want none", p.vlans)
	}
	s := p.settings
	if s.VTEP != netip.MustParseAddr("198.51.100.1") || s.VTEPPort != 8472 || !s.DontFragment || s.UnderlayIfindex != 2 {
		t.Errorf("settings = %+v, want VTEP 198.51.100.1:8472 with DF on ifindex 2", s)
	}
}

// TestFloodLimitRefused checks that a segment with more local ports
// than its flood list holds is refused before anything is written,
// rather than silently truncated.
func TestFloodLimitRefused(t *testing.T) {
	links := fakeLinks{}
	var b strings.Builder
	b.WriteString("host: hv1\nsegments: [{name: lab, type: local}]\nports:\n")
	for i := 0; i <= bpf.MaxFlood; i++ {
		name := fmt.Sprintf("tap%d", i)
		links[name] = Link{Index: 100 + i}
		fmt.Fprintf(&b, "  - {interface: %s, mac: \"52:54:00:00:%02x:%02x\", segment: lab}\n", name, i/256, i%256)
	}
	if _, err := spec.Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "segment lab has more than 64") {
		t.Errorf("%d ports on one segment: Parse err = %v, want an error naming segment lab", bpf.MaxFlood+1, err)
	}
	// The file alone is fine with 64; 65 with an attached port is refused
	// by the engine with nothing written.
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.links = links
	a.restart()
	cfg, err := spec.Parse([]byte(strings.TrimSuffix(b.String(), fmt.Sprintf("  - {interface: tap%d, mac: \"52:54:00:00:00:40\", segment: lab}\n", bpf.MaxFlood))))
	if err != nil {
		t.Fatal(err)
	}
	extra := spec.Port{Interface: fmt.Sprintf("tap%d", bpf.MaxFlood), MAC: "52:54:00:00:00:40", Segment: "lab"}
	err = a.e.Apply(context.Background(), Desired{Switch: cfg, Attached: []spec.Port{extra}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "attached port tap64.segment") {
		t.Errorf("65th port attached: err = %v, want refused naming the attached port", err)
	}
	if len(dp.writes) != 0 {
		t.Errorf("refused state wrote %v", dp.writes)
	}
}

// TestDefaultLimitsAreTheDatapaths keeps spec.DefaultLimits, which the
// supervisor validates with, equal to what the eBPF objects declare.
func TestDefaultLimitsAreTheDatapaths(t *testing.T) {
	got, err := datapathLimits()
	if err != nil {
		t.Fatal(err)
	}
	if got != spec.DefaultLimits {
		t.Errorf("datapath limits %+v, spec.DefaultLimits %+v", got, spec.DefaultLimits)
	}
}
