package store

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// state is everything the store holds, as one value that a change
// copies, edits and, once it validates, commits.
type state struct {
	gen      uint64
	segments map[string]spec.Segment
	profiles map[string]spec.Profile
	ports    map[string]netdef.Port
	bindings map[bindKey]Binding
	dynamic  map[string]PortProfile
	// vnnNext numbers the next dynamic port profile: numbers are never
	// reused, so a name means one pair for the life of the data file.
	vnnNext uint64
	// veths remembers the vEth number each port identity (portIdentity)
	// had on each module, bound or not, so that a port bound again gets
	// its number back.
	veths map[int]map[string]int
}

type bindKey struct {
	module int
	iface  string
}

func newState() *state {
	return &state{
		segments: map[string]spec.Segment{},
		profiles: map[string]spec.Profile{},
		ports:    map[string]netdef.Port{},
		bindings: map[bindKey]Binding{},
		dynamic:  map[string]PortProfile{},
		vnnNext:  1,
		veths:    map[int]map[string]int{},
	}
}

// clone copies s deeply enough for a change to edit the copy: maps are
// copied; values are replaced whole, never edited in place.
func (s *state) clone() *state {
	c := *s
	c.segments = maps.Clone(s.segments)
	c.profiles = maps.Clone(s.profiles)
	c.ports = maps.Clone(s.ports)
	c.bindings = maps.Clone(s.bindings)
	c.dynamic = maps.Clone(s.dynamic)
	c.veths = make(map[int]map[string]int, len(s.veths))
	for m, v := range s.veths {
		c.veths[m] = maps.Clone(v)
	}
	return &c
}

// network returns the network definition, sorted by name and ID.
func (s *state) network() netdef.Network {
	var n netdef.Network
	for _, k := range slices.Sorted(maps.Keys(s.segments)) {
		n.Segments = append(n.Segments, s.segments[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.profiles)) {
		n.Profiles = append(n.Profiles, s.profiles[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.ports)) {
		n.Ports = append(n.Ports, s.ports[k])
	}
	return n
}

// setNetwork replaces the network definition with n.
func (s *state) setNetwork(n *netdef.Network) {
	s.segments = make(map[string]spec.Segment, len(n.Segments))
	s.profiles = make(map[string]spec.Profile, len(n.Profiles))
	s.ports = make(map[string]netdef.Port, len(n.Ports))
	s.merge(n)
}

// merge creates or replaces the objects of n.
func (s *state) merge(n *netdef.Network) {
	for _, seg := range n.Segments {
		s.segments[seg.Name] = seg
	}
	for _, pr := range n.Profiles {
		s.profiles[pr.Name] = pr
	}
	for _, p := range n.Ports {
		s.ports[p.ID] = p
	}
}

// sortedBindings returns the bindings by module and vEth number.
func (s *state) sortedBindings() []Binding {
	out := slices.Collect(maps.Values(s.bindings))
	slices.SortFunc(out, func(a, b Binding) int {
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Vethernet, b.Vethernet))
	})
	return out
}

// sortedPortProfiles returns the dynamic port profiles by number.
func (s *state) sortedPortProfiles() []PortProfile {
	out := slices.Collect(maps.Values(s.dynamic))
	slices.SortFunc(out, func(a, b PortProfile) int { return cmp.Compare(vnnNumber(a.Name), vnnNumber(b.Name)) })
	return out
}

func vnnNumber(name string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimPrefix(name, netdef.DynamicPrefix), 10, 64)
	return n
}

// snapshot copies s for a reader.
func (s *state) snapshot() Snapshot {
	return Snapshot{
		Generation:   s.gen,
		Network:      s.network(),
		Bindings:     s.sortedBindings(),
		PortProfiles: s.sortedPortProfiles(),
	}
}

// bindingProblem is a binding that a change of the network would break.
type bindingProblem struct {
	kind Kind   // of the object at fault
	name string // its name or ID
	attr string // the field of that object, or "" for the object itself
	msg  string
}

// resolve brings every binding up to date with the network (a bound
// pre-created port's segment, profile and addresses are the port's) and
// the dynamic port profiles up to date with the bindings: one for every
// pair in use, none for a pair out of use. It reports the bindings the
// network no longer fits: a binding's pre-created port, segment or
// profile gone, or its port's MAC changed under it.
func (s *state) resolve() []bindingProblem {
	var problems []bindingProblem
	byPair := map[PortProfile]string{}
	for name, pp := range s.dynamic {
		byPair[PortProfile{Profile: pp.Profile, Segment: pp.Segment}] = name
	}
	used := map[string]bool{}
	for _, k := range slices.SortedFunc(maps.Keys(s.bindings), compareBindKeys) {
		b := s.bindings[k]
		where := fmt.Sprintf("bound as Vethernet%d of module %d (%s, %s)", b.Vethernet, b.Module, b.Host, b.Interface)
		if b.ID != "" {
			p, ok := s.ports[b.ID]
			switch {
			case !ok:
				problems = append(problems, bindingProblem{KindPort, b.ID, "", fmt.Sprintf("port %s is %s: unbind it before deleting it", b.ID, where)})
				continue
			case p.MAC != b.MAC:
				problems = append(problems, bindingProblem{KindPort, b.ID, "mac", fmt.Sprintf("port %s is %s with MAC %s: unbind it before changing its MAC", b.ID, where, b.MAC)})
				continue
			}
			b.Segment, b.Profile, b.IPs = p.Segment, p.Profile, slices.Clone(p.IPs)
		}
		if _, ok := s.segments[b.Segment]; !ok {
			problems = append(problems, bindingProblem{KindSegment, b.Segment, "", fmt.Sprintf("segment %s is used by the port %s", b.Segment, where)})
			continue
		}
		if _, ok := s.profiles[b.Profile]; !ok && b.Profile != "" {
			problems = append(problems, bindingProblem{KindProfile, b.Profile, "", fmt.Sprintf("profile %s is used by the port %s", b.Profile, where)})
			continue
		}
		pair := PortProfile{Profile: b.Profile, Segment: b.Segment}
		name, ok := byPair[pair]
		if !ok {
			name = fmt.Sprintf("%s%d", netdef.DynamicPrefix, s.vnnNext)
			s.vnnNext++
			pair.Name = name
			s.dynamic[name] = pair
			byPair[PortProfile{Profile: b.Profile, Segment: b.Segment}] = name
		}
		used[name] = true
		b.PortProfile = name
		s.bindings[k] = b
	}
	for name := range s.dynamic {
		if !used[name] {
			delete(s.dynamic, name)
		}
	}
	return problems
}

func compareBindKeys(a, b bindKey) int {
	return cmp.Or(cmp.Compare(a.module, b.module), strings.Compare(a.iface, b.iface))
}
