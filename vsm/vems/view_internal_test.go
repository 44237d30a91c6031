package vems

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

// The reference: what one VEM should have, computed on its own from the
// whole snapshot (as every session did before views were shared). The
// shared view must give every module exactly this.

// build computes what the VEM of module should have from snap: the
// network (segments and profiles; the module's bound ports as its ports;
// each vxlan segment's VTEPs completed with those of the other modules
// with ports in it), the module's bindings, and the MAC and VTEP of every
// port other modules have bound in the vxlan segments the module has
// ports in. vteps gives every module's VTEP.
func build(snap store.Snapshot, module int, vteps map[int]string) (*desired, error) {
	d := &desired{bindings: map[string]*protocol.PortBinding{}, macs: map[macKey]string{}}
	vnis := map[string]uint32{}
	for _, s := range snap.Network.Segments {
		if s.Type == spec.SegmentVXLAN {
			vnis[s.Name] = uint32(s.VNI)
		}
	}
	own := map[string]bool{}         // segments the module has ports in
	members := map[string][]string{} // segment → VTEPs of other modules with ports in it
	sw := &spec.Switch{}
	for i := range snap.Bindings {
		b := &snap.Bindings[i]
		if b.Module == module {
			own[b.Segment] = true
			d.bindings[b.Interface] = bindingMsg(b)
			sw.Ports = append(sw.Ports, spec.Port{Interface: b.Interface, MAC: b.MAC, Segment: b.Segment,
				IPs: slices.Clone(b.IPs), Profile: b.Profile})
			continue
		}
		if vtep := vteps[b.Module]; vtep != "" && vtep != vteps[module] {
			members[b.Segment] = append(members[b.Segment], vtep)
		}
	}
	for _, s := range snap.Network.Segments {
		if s.Type == spec.SegmentVXLAN {
			s.VTEPs = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(s.VTEPs), members[s.Name]...))))
		}
		sw.Segments = append(sw.Segments, s)
	}
	sw.Profiles = snap.Network.Profiles
	for i := range snap.Bindings {
		b := &snap.Bindings[i]
		vni, ok := vnis[b.Segment]
		vtep := vteps[b.Module]
		if b.Module == module || !ok || !own[b.Segment] || vtep == "" {
			continue
		}
		d.macs[macKey{vni, b.MAC}] = vtep
	}
	network, err := protocol.EncodeNetwork(sw)
	if err != nil {
		return nil, err
	}
	var bindings []*protocol.PortBinding
	for _, k := range slices.Sorted(maps.Keys(d.bindings)) {
		bindings = append(bindings, d.bindings[k])
	}
	d.msg, err = protocol.NewSnapshot(snap.Generation, sw, bindings, macEntries(d.macs))
	if err != nil {
		return nil, fmt.Errorf("snapshot of generation %d: %w", snap.Generation, err)
	}
	d.network = network
	return d, nil
}

// viewSnapshot is a store snapshot with vlan and vxlan segments and ports
// on several modules; vteps gives modules 3..9 their VTEPs: 6 shares 3's,
// 7 (no ports) shares 4's, 8 has neither ports nor a VTEP, 9 has ports but
// no VTEP.
func viewSnapshot(gen uint64, extra ...store.Binding) (store.Snapshot, map[int]string) {
	snap := store.Snapshot{Generation: gen, Network: netdef.Network{
		Segments: []spec.Segment{
			{Name: "app", Type: spec.SegmentVXLAN, VNI: 5002},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001, VTEPs: []string{"198.51.100.9"}},
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
		},
		Profiles: []spec.Profile{{Name: "sec", PortSecurity: true}},
	}}
	n := 0
	bind := func(module int, seg string) {
		n++
		snap.Bindings = append(snap.Bindings, store.Binding{Module: module, Host: fmt.Sprintf("hv%d", module), Interface: fmt.Sprintf("tap%d", n),
			Vethernet: n, MAC: fmt.Sprintf("52:54:00:00:00:%02x", n), Segment: seg, Profile: "sec", IPs: []string{fmt.Sprintf("192.0.2.%d", n)},
			PortProfile: "vnn1"})
	}
	bind(3, "db")
	bind(3, "web")
	bind(4, "db")
	bind(4, "app")
	bind(5, "app")
	bind(6, "db")
	bind(9, "db")
	snap.Bindings = append(snap.Bindings, extra...)
	slices.SortFunc(snap.Bindings, func(a, b store.Binding) int {
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Vethernet, b.Vethernet))
	})
	vteps := map[int]string{3: "198.51.100.3", 4: "198.51.100.4", 5: "198.51.100.5", 6: "198.51.100.3", 7: "198.51.100.4"}
	return snap, vteps
}

// TestViewMatchesReference: every module's configuration from the shared
// view is what the reference computes for it alone.
func TestViewMatchesReference(t *testing.T) {
	snap, vteps := viewSnapshot(7)
	v, err := buildView(snap, vteps, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range []int{3, 4, 5, 6, 7, 8, 9, 10} {
		t.Run(fmt.Sprint("module ", module), func(t *testing.T) {
			want, err := build(snap, module, vteps)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second from what the view keeps.
			for range 2 {
				got, err := v.desired(module)
				if err != nil {
					t.Fatal(err)
				}
				sameDesired(t, got, want)
			}
		})
	}
	// Modules without ports share one network, 7 (whose VTEP is a
	// member's) its own.
	n8, _ := v.network(8)
	n10, _ := v.network(10)
	n7, _ := v.network(7)
	if &n8[0] != &n10[0] {
		t.Error("modules 8 and 10, without ports, do not share their network")
	}
	if bytes.Equal(n7, n8) {
		t.Error("module 7's network lists its own VTEP")
	}
}

// TestViewCarriesNetworksOver: a view reuses a module's network from the
// view before when nothing it depends on changed, and computes it again
// when its bindings, the network or the VTEPs did.
func TestViewCarriesNetworksOver(t *testing.T) {
	snap1, vteps := viewSnapshot(1)
	v1, err := buildView(snap1, vteps, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	n1, err := v1.network(3)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := store.Binding{Module: 5, Host: "hv5", Interface: "tapx", Vethernet: 9, MAC: "52:54:00:00:01:01", Segment: "web", PortProfile: "vnn2"}
	own := store.Binding{Module: 3, Host: "hv3", Interface: "tapx", Vethernet: 9, MAC: "52:54:00:00:01:01", Segment: "web", PortProfile: "vnn2"}
	newVXLANMember := store.Binding{Module: 8, Host: "hv8", Interface: "tapx", Vethernet: 9, MAC: "52:54:00:00:01:01", Segment: "app", PortProfile: "vnn2"}
	profile := func(s store.Snapshot) store.Snapshot {
		s.Network.Profiles = append(slices.Clone(s.Network.Profiles), spec.Profile{Name: "zz"})
		return s
	}
	cases := []struct {
		name   string
		snap   store.Snapshot
		vteps  map[int]string
		reused bool
	}{
		{"a vlan port bound elsewhere", func() store.Snapshot { s, _ := viewSnapshot(2, elsewhere); return s }(), vteps, true},
		{"a port bound on the module", func() store.Snapshot { s, _ := viewSnapshot(2, own); return s }(), vteps, false},
		{"a new profile", profile(snap1), vteps, false},
		{"a vxlan port bound on a new VTEP", func() store.Snapshot { s, _ := viewSnapshot(2, newVXLANMember); return s }(),
			func() map[int]string { m := maps.Clone(vteps); m[8] = "198.51.100.8"; return m }(), false},
		{"the module's VTEP moved", snap1, func() map[int]string { m := maps.Clone(vteps); m[3] = "198.51.100.33"; return m }(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v2, err := buildView(c.snap, c.vteps, 2, v1)
			if err != nil {
				t.Fatal(err)
			}
			n2, err := v2.network(3)
			if err != nil {
				t.Fatal(err)
			}
			if reused := &n1[0] == &n2[0]; reused != c.reused {
				t.Errorf("network reused: %v, want %v", reused, c.reused)
			}
			for _, module := range []int{3, 4, 5, 8} {
				want, err := build(c.snap, module, c.vteps)
				if err != nil {
					t.Fatal(err)
				}
				got, err := v2.desired(module)
				if err != nil {
					t.Fatal(err)
				}
				sameDesired(t, got, want)
			}
		})
	}
}

func sameDesired(t *testing.T, got, want *desired) {
	t.Helper()
	if !bytes.Equal(got.network, want.network) {
		t.Errorf("network\n%s\nwant\n%s", got.network, want.network)
	}
	if !proto.Equal(got.msg, want.msg) {
		t.Errorf("snapshot\n%v\nwant\n%v", got.msg, want.msg)
	}
	if !maps.Equal(got.macs, want.macs) {
		t.Errorf("macs %v, want %v", got.macs, want.macs)
	}
	if !sameBindings(got.bindings, want.bindings) {
		t.Errorf("bindings %v, want %v", got.bindings, want.bindings)
	}
}

// TestViewInBridgeDomain: a module is in a bridge domain when it has a
// port in a vxlan segment; only then do other VEMs name its VTEP.
func TestViewInBridgeDomain(t *testing.T) {
	vlanOnly := store.Binding{Module: 8, Host: "hv8", Interface: "tapx", Vethernet: 1, MAC: "52:54:00:00:01:01", Segment: "web", PortProfile: "vnn2"}
	snap, vteps := viewSnapshot(1, vlanOnly)
	v, err := buildView(snap, vteps, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		module int
		want   bool
	}{{3, true}, {5, true}, {7, false}, {8, false}, {9, true}, {10, false}} {
		if got := v.inBridgeDomain(c.module); got != c.want {
			t.Errorf("module %d in a bridge domain: %v, want %v", c.module, got, c.want)
		}
	}
}

// TestViewMACUpdates: from one view to the next, a module's MAC update
// (computed only for the segments whose value changed) turns what the
// reference gave it before into what the reference gives it now; a
// segment nothing changed in keeps its value.
func TestViewMACUpdates(t *testing.T) {
	snap1, vteps1 := viewSnapshot(1)
	v1, err := buildView(snap1, vteps1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	inApp := store.Binding{Module: 5, Host: "hv5", Interface: "tapx", Vethernet: 9, MAC: "52:54:00:00:01:01", Segment: "app", PortProfile: "vnn2"}
	inWeb := store.Binding{Module: 5, Host: "hv5", Interface: "tapx", Vethernet: 9, MAC: "52:54:00:00:01:01", Segment: "web", PortProfile: "vnn2"}
	moved := maps.Clone(vteps1)
	moved[4] = "198.51.100.44"
	cases := []struct {
		name      string
		extra     []store.Binding
		vteps     map[int]string
		dbChanged bool
	}{
		{"a port bound in app", []store.Binding{inApp}, vteps1, false},
		{"a vlan port bound", []store.Binding{inWeb}, vteps1, false},
		{"a VTEP moved", nil, moved, true},
		{"nothing", nil, vteps1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap2, _ := viewSnapshot(2, c.extra...)
			v2, err := buildView(snap2, c.vteps, 2, v1)
			if err != nil {
				t.Fatal(err)
			}
			if changed := v2.segs["db"] != v1.segs["db"]; changed != c.dbChanged {
				t.Errorf("segment db changed: %v, want %v", changed, c.dbChanged)
			}
			for _, module := range []int{3, 4, 5, 6, 9} {
				before, err := build(snap1, module, vteps1)
				if err != nil {
					t.Fatal(err)
				}
				after, err := build(snap2, module, c.vteps)
				if err != nil {
					t.Fatal(err)
				}
				got := maps.Clone(before.macs)
				u := v2.macUpdate(module, v1.macSegs(module))
				for _, e := range u.GetRemove() {
					delete(got, macKey{e.GetVni(), e.GetMac()})
				}
				for _, e := range u.GetAdd() {
					got[macKey{e.GetVni(), e.GetMac()}] = e.GetVtep()
				}
				if !maps.Equal(got, after.macs) {
					t.Errorf("module %d: update %v turns %v into %v, want %v", module, u, before.macs, got, after.macs)
				}
			}
		})
	}
}
