package vems

import (
	"cmp"
	"slices"

	"github.com/vem-switch/vem/protocol"
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
	segs     map[string]*segView              // the vxlan segments the MACs come from
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

// diffInto adds to rm and add what turns the distribution from into to:
// a MAC gone or moved to another VTEP is removed (with its old VTEP), a
// new or moved one added.
func diffInto(rm, add, from, to map[macKey]string) {
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
}
