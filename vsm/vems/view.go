package vems

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/store"
)

// view is what the VEMs should have at one generation of the store and
// one set of module VTEPs: computed once, when the first session asks for
// it after a change, from one store snapshot, and then shared, read-only,
// by every session. A session's work is then what its own VEM needs:
// its bindings, the MACs of its bridge domains, and its network, which
// VEMs without ports share and a VEM whose bindings and whose network's
// inputs did not change carries over from the previous view.
type view struct {
	gen     uint64
	vtepVer uint64
	vteps   map[int]string

	segments []spec.Segment // as the store holds them (vxlan VTEPs: the configured ones)
	profiles []spec.Profile
	vnis     map[string]uint32 // vxlan segment → VNI
	// members is, for each vxlan segment, the VTEPs of the modules with
	// ports in it (sorted, unique).
	members map[string][]string
	// common identifies everything a module's network depends on besides
	// its own ports and VTEP: two views with equal common give every
	// module whose bindings did not change the same network.
	common  []byte
	modules map[int]*moduleView
	// segs holds the MACs of every vxlan segment with ports, for the MAC
	// distribution; one unchanged since the view before is the same
	// value, so a session compares pointers to know what it must diff.
	segs map[string]*segView

	mu       sync.Mutex
	portless map[string][]byte // network of a module without ports, by its VTEP if a member's, else ""
}

// segView is the ports of one vxlan segment: their modules, MACs and
// those modules' VTEPs, sorted by MAC.
type segView struct {
	vni     uint32
	entries []segEntry
}

type segEntry struct {
	module    int
	mac, vtep string
}

// macs adds to out the segment's MACs that module needs: those of the
// other modules' ports whose VTEP is known.
func (s *segView) macs(module int, out map[macKey]string) {
	if s == nil {
		return
	}
	for _, e := range s.entries {
		if e.module != module && e.vtep != "" {
			out[macKey{s.vni, e.mac}] = e.vtep
		}
	}
}

// moduleView is one module's part of a view.
type moduleView struct {
	bindings []store.Binding                  // sorted by interface
	byIface  map[string]*protocol.PortBinding // as sent
	msgs     []*protocol.PortBinding          // sorted by interface
	segments []string                         // the segments it has ports in, sorted

	mu      sync.Mutex // guards network and err, computed on first use
	network []byte
	err     error
}

// buildView computes the view of snap with the modules' VTEPs; prev (may
// be nil) is the view before, whose modules' networks it reuses where
// nothing they depend on changed.
func buildView(snap store.Snapshot, vteps map[int]string, vtepVer uint64, prev *view) (*view, error) {
	v := &view{gen: snap.Generation, vtepVer: vtepVer, vteps: vteps, segments: snap.Network.Segments, profiles: snap.Network.Profiles,
		vnis: map[string]uint32{}, members: map[string][]string{}, modules: map[int]*moduleView{},
		segs: map[string]*segView{}, portless: map[string][]byte{}}
	for _, s := range v.segments {
		if s.Type == spec.SegmentVXLAN {
			v.vnis[s.Name] = uint32(s.VNI)
		}
	}
	for i := range snap.Bindings {
		b := &snap.Bindings[i]
		mv := v.modules[b.Module]
		if mv == nil {
			mv = &moduleView{byIface: map[string]*protocol.PortBinding{}}
			v.modules[b.Module] = mv
		}
		mv.bindings = append(mv.bindings, *b)
		if vni, ok := v.vnis[b.Segment]; ok {
			sv := v.segs[b.Segment]
			if sv == nil {
				sv = &segView{vni: vni}
				v.segs[b.Segment] = sv
			}
			sv.entries = append(sv.entries, segEntry{module: b.Module, mac: b.MAC, vtep: vteps[b.Module]})
			if vtep := vteps[b.Module]; vtep != "" {
				v.members[b.Segment] = append(v.members[b.Segment], vtep)
			}
		}
	}
	for s, m := range v.members {
		v.members[s] = slices.Compact(slices.Sorted(slices.Values(m)))
	}
	for name, sv := range v.segs {
		slices.SortFunc(sv.entries, func(a, b segEntry) int {
			return cmp.Or(strings.Compare(a.mac, b.mac), cmp.Compare(a.module, b.module))
		})
		if prev != nil {
			if old := prev.segs[name]; old != nil && old.vni == sv.vni && slices.Equal(old.entries, sv.entries) {
				v.segs[name] = old
			}
		}
	}
	for _, mv := range v.modules {
		slices.SortFunc(mv.bindings, func(a, b store.Binding) int { return compareStrings(a.Interface, b.Interface) })
		segs := map[string]bool{}
		for i := range mv.bindings {
			b := &mv.bindings[i]
			pb := bindingMsg(b)
			mv.byIface[b.Interface] = pb
			mv.msgs = append(mv.msgs, pb)
			segs[b.Segment] = true
		}
		mv.segments = slices.Sorted(maps.Keys(segs))
	}
	common, err := protocol.EncodeNetwork(&spec.Switch{Segments: v.segmentsFor(""), Profiles: v.profiles})
	if err != nil {
		return nil, err
	}
	v.common = common
	if prev != nil && bytes.Equal(prev.common, v.common) {
		for m, mv := range v.modules {
			old := prev.modules[m]
			if old == nil || vteps[m] != prev.vteps[m] || !slices.EqualFunc(old.bindings, mv.bindings, sameBinding) {
				continue
			}
			old.mu.Lock()
			mv.network = old.network
			old.mu.Unlock()
		}
	}
	return v, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sameBinding(a, b store.Binding) bool {
	return a.Module == b.Module && a.Host == b.Host && a.Interface == b.Interface && a.Vethernet == b.Vethernet &&
		a.ID == b.ID && a.VM == b.VM && a.MAC == b.MAC && a.Segment == b.Segment && a.Profile == b.Profile &&
		slices.Equal(a.IPs, b.IPs) && a.PortProfile == b.PortProfile
}

// segmentsFor is the segments as the VEM whose VTEP is own gets them:
// each vxlan segment's VTEPs completed with those of the modules with
// ports in it, but for own.
func (v *view) segmentsFor(own string) []spec.Segment {
	out := make([]spec.Segment, 0, len(v.segments))
	for _, s := range v.segments {
		if s.Type == spec.SegmentVXLAN {
			var add []string
			for _, vtep := range v.members[s.Name] {
				if vtep != own {
					add = append(add, vtep)
				}
			}
			s.VTEPs = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(s.VTEPs), add...))))
		}
		out = append(out, s)
	}
	return out
}

// inBridgeDomain reports whether module has ports in a vxlan segment:
// whether other VEMs' configurations name its VTEP.
func (v *view) inBridgeDomain(module int) bool {
	mv := v.modules[module]
	if mv == nil {
		return false
	}
	for _, s := range mv.segments {
		if _, ok := v.vnis[s]; ok {
			return true
		}
	}
	return false
}

// isMember reports whether vtep is the VTEP of a module with ports in a
// vxlan segment.
func (v *view) isMember(vtep string) bool {
	if vtep == "" {
		return false
	}
	for _, m := range v.members {
		if _, ok := slices.BinarySearch(m, vtep); ok {
			return true
		}
	}
	return false
}

// network is the network the VEM of module should have: the segments
// (vxlan ones with their VTEPs, but its own), the profiles, and its bound
// ports as its ports. VEMs without ports share theirs.
func (v *view) network(module int) ([]byte, error) {
	own := v.vteps[module]
	mv := v.modules[module]
	if mv == nil {
		key := ""
		if v.isMember(own) {
			key = own
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if n, ok := v.portless[key]; ok {
			return n, nil
		}
		n, err := protocol.EncodeNetwork(&spec.Switch{Segments: v.segmentsFor(key), Profiles: v.profiles})
		if err != nil {
			return nil, err
		}
		v.portless[key] = n
		return n, nil
	}
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.network == nil && mv.err == nil {
		sw := &spec.Switch{Segments: v.segmentsFor(own), Profiles: v.profiles}
		for i := range mv.bindings {
			b := &mv.bindings[i]
			sw.Ports = append(sw.Ports, spec.Port{Interface: b.Interface, MAC: b.MAC, Segment: b.Segment,
				IPs: slices.Clone(b.IPs), Profile: b.Profile})
		}
		mv.network, mv.err = protocol.EncodeNetwork(sw)
	}
	return mv.network, mv.err
}

// macs is the MAC distribution of module: the MAC and VTEP of every port
// other modules have bound in the vxlan segments it has ports in.
func (v *view) macs(module int) map[macKey]string {
	out := map[macKey]string{}
	for _, sv := range v.macSegs(module) {
		sv.macs(module, out)
	}
	return out
}

// macSegs is the vxlan segments module has ports in, by name.
func (v *view) macSegs(module int) map[string]*segView {
	out := map[string]*segView{}
	if mv := v.modules[module]; mv != nil {
		for _, s := range mv.segments {
			if sv, ok := v.segs[s]; ok {
				out[s] = sv
			}
		}
	}
	return out
}

// bindings is module's bindings by interface, as sent.
func (v *view) bindings(module int) map[string]*protocol.PortBinding {
	if mv := v.modules[module]; mv != nil {
		return mv.byIface
	}
	return nil
}

// macUpdate is what changes in module's MAC distribution from the
// segments it was sent (sent) to this view's: only the segments whose
// value changed are compared.
func (v *view) macUpdate(module int, sent map[string]*segView) *protocol.MacUpdate {
	now := v.macSegs(module)
	rm, add := map[macKey]string{}, map[macKey]string{}
	diff := func(name string) {
		from, to := sent[name], now[name]
		if from == to {
			return
		}
		a, b := map[macKey]string{}, map[macKey]string{}
		from.macs(module, a)
		to.macs(module, b)
		diffInto(rm, add, a, b)
	}
	for name := range sent {
		diff(name)
	}
	for name := range now {
		if _, ok := sent[name]; !ok {
			diff(name)
		}
	}
	return &protocol.MacUpdate{Add: macEntries(add), Remove: macEntries(rm)}
}

// desired is what the VEM of module should have in this view.
func (v *view) desired(module int) (*desired, error) {
	network, err := v.network(module)
	if err != nil {
		return nil, err
	}
	d := &desired{network: network, macs: v.macs(module), segs: v.macSegs(module), bindings: map[string]*protocol.PortBinding{}}
	var msgs []*protocol.PortBinding
	if mv := v.modules[module]; mv != nil {
		d.bindings, msgs = mv.byIface, mv.msgs
	}
	d.msg = &protocol.Snapshot{Generation: v.gen, NetworkFormat: protocol.NetworkFormatJSON, Network: network,
		Bindings: msgs, Macs: macEntries(d.macs)}
	return d, nil
}
