package vems

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/store"
)

// macKey names a MAC in the distribution: a MAC in a bridge domain.
type macKey struct {
	vni uint32
	mac string
}

// desired is what one VEM should have at one generation.
type desired struct {
	msg      *protocol.Snapshot
	network  []byte                           // msg's network
	bindings map[string]*protocol.PortBinding // by interface
	macs     map[macKey]string                // → VTEP
}

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

// bindingMsg is a binding as the protocol carries it.
func bindingMsg(b *store.Binding) *protocol.PortBinding {
	return &protocol.PortBinding{Id: b.ID, Interface: b.Interface, Veth: uint32(b.Vethernet),
		DynamicProfile: b.PortProfile, Segment: b.Segment, Profile: b.Profile, Mac: b.MAC}
}

// macEntries lists a distribution sorted by VNI and MAC.
func macEntries(m map[macKey]string) []*protocol.MacEntry {
	out := make([]*protocol.MacEntry, 0, len(m))
	for k, vtep := range m {
		out = append(out, &protocol.MacEntry{Vni: k.vni, Mac: k.mac, Vtep: vtep})
	}
	slices.SortFunc(out, func(a, b *protocol.MacEntry) int {
		return cmp.Or(cmp.Compare(a.GetVni(), b.GetVni()), cmp.Compare(a.GetMac(), b.GetMac()))
	})
	return out
}

// diffMACs is the update that turns the distribution from into to: a MAC
// gone or moved to another VTEP is removed (with its old VTEP), a new or
// moved one added.
func diffMACs(from, to map[macKey]string) *protocol.MacUpdate {
	rm, add := map[macKey]string{}, map[macKey]string{}
	for k, vtep := range from {
		if to[k] != vtep {
			rm[k] = vtep
		}
	}
	for k, vtep := range to {
		if from[k] != vtep {
			add[k] = vtep
		}
	}
	return &protocol.MacUpdate{Add: macEntries(add), Remove: macEntries(rm)}
}
