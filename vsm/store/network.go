package store

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// Apply creates or replaces the segments, profiles and ports of n (`vsm
// apply -f`): objects it does not name stay as they are. The result must
// validate as a whole (netdef.Validate); problems name n's fields
// ("segments[1].vlan"). A pre-created port that is bound may change its
// segment, profile and addresses (its binding follows), not its MAC.
// Apply normalises n in place.
func (s *Store) Apply(n netdef.Network) (Result, error) {
	return s.apply(&n, "apply", false)
}

// Create is Apply for objects that must not exist yet: one that does is
// a *ConflictError naming its field.
func (s *Store) Create(n netdef.Network) (Result, error) {
	return s.apply(&n, "create", true)
}

func (s *Store) apply(n *netdef.Network, cause string, create bool) (Result, error) {
	n.Normalize()
	return s.update(cause, false, func(next *state) error {
		if create {
			if err := next.refuseExisting(n); err != nil {
				return err
			}
		}
		if err := validateMerged(next, n); err != nil {
			return err
		}
		next.merge(n)
		return nil
	}, locateIn(n))
}

// SyncOptions tune Sync.
type SyncOptions struct {
	// DryRun computes and reports the difference without making it.
	DryRun bool
}

// Sync makes n the whole network definition (an orchestrator's full
// sync): objects n lacks are deleted, the others created or replaced, and
// only what differs is written and reported. n must validate on its own,
// and may not delete what a bound port uses (its pre-created port, its
// segment or profile): all or nothing, a refused sync changes nothing.
// Sync normalises n in place.
func (s *Store) Sync(n netdef.Network, opts SyncOptions) (Result, error) {
	n.Normalize()
	return s.update("sync", opts.DryRun, func(next *state) error {
		if err := n.Validate(); err != nil {
			return err
		}
		next.setNetwork(&n)
		return nil
	}, locateIn(&n))
}

// Delete deletes a segment, a profile or a pre-created port. What a
// pre-created or bound port uses, and a bound port itself, cannot be
// deleted (*ConflictError); dynamic port profiles are never deleted by
// hand (ErrReadOnly), nor bindings (the VEMs unbind their ports).
func (s *Store) Delete(kind Kind, name string) (Result, error) {
	cause := fmt.Sprintf("delete %s %s", kind, name)
	switch kind {
	case KindPortProfile:
		return s.Result(), fmt.Errorf("%w: %s", ErrReadOnly, DynamicReadOnly(name))
	case KindBinding:
		return s.Result(), fmt.Errorf("%w: binding %s: the VEM that bound the port unbinds it", ErrReadOnly, name)
	case KindSegment, KindProfile, KindPort:
	default:
		return s.Result(), fmt.Errorf("delete: unknown kind %q", kind)
	}
	return s.update(cause, false, func(next *state) error {
		return next.delete(kind, name)
	}, nil)
}

// Result reports the current generation and no change.
func (s *Store) Result() Result { return resultOf(s.Generation(), nil) }

// DynamicReadOnly says why the dynamic port profile name cannot be edited.
func DynamicReadOnly(name string) string {
	return fmt.Sprintf("%s is a dynamic port profile: the VSM creates one for each pair of policy profile and segment that bound ports use, "+
		"shares it among them and removes it with the last; it is never edited directly: change the policy profile or the segment instead", name)
}

func (s *state) delete(kind Kind, name string) error {
	var exists bool
	var users []string
	switch kind {
	case KindSegment:
		_, exists = s.segments[name]
		for _, p := range s.ports {
			if p.Segment == name {
				users = append(users, p.ID)
			}
		}
	case KindProfile:
		_, exists = s.profiles[name]
		for _, p := range s.ports {
			if p.Profile == name {
				users = append(users, p.ID)
			}
		}
	case KindPort:
		_, exists = s.ports[name]
	}
	if !exists {
		return fmt.Errorf("%w: no %s %s", ErrNotFound, kind, name)
	}
	if len(users) > 0 {
		slices.Sort(users)
		if len(users) > 3 {
			users = append(users[:3], fmt.Sprintf("and %d more", len(users)-3))
		}
		return conflict(sections[kind], fmt.Sprintf("%s %s is used by the port %s: change or delete the ports first", kind, name, strings.Join(users, ", ")))
	}
	switch kind {
	case KindSegment:
		delete(s.segments, name)
	case KindProfile:
		delete(s.profiles, name)
	case KindPort:
		delete(s.ports, name)
	}
	return nil
}

// refuseExisting refuses the objects of n that s holds already.
func (s *state) refuseExisting(n *netdef.Network) error {
	e := &ConflictError{}
	for i, seg := range n.Segments {
		if _, ok := s.segments[seg.Name]; ok {
			e.Problems = append(e.Problems, spec.Problem{Field: fmt.Sprintf("segments[%d].name", i), Msg: fmt.Sprintf("segment %s exists already", seg.Name)})
		}
	}
	for i, pr := range n.Profiles {
		if _, ok := s.profiles[pr.Name]; ok {
			e.Problems = append(e.Problems, spec.Problem{Field: fmt.Sprintf("profiles[%d].name", i), Msg: fmt.Sprintf("profile %s exists already", pr.Name)})
		}
	}
	for i, p := range n.Ports {
		if _, ok := s.ports[p.ID]; ok {
			e.Problems = append(e.Problems, spec.Problem{Field: fmt.Sprintf("ports[%d].id", i), Msg: fmt.Sprintf("port %s exists already", p.ID)})
		}
	}
	if len(e.Problems) > 0 {
		return e
	}
	return nil
}

// validateMerged validates what s would hold with n merged in, with
// problems on n's fields. The merged definition lists s's objects that
// n does not replace first, then n's: a rule broken between the two
// (a VLAN taken twice) is reported on the later, n's.
func validateMerged(s *state, n *netdef.Network) error {
	var merged netdef.Network
	stored := s.network()
	for _, seg := range stored.Segments {
		if _, ok := n.Segment(seg.Name); !ok {
			merged.Segments = append(merged.Segments, seg)
		}
	}
	for _, pr := range stored.Profiles {
		if _, ok := n.Profile(pr.Name); !ok {
			merged.Profiles = append(merged.Profiles, pr)
		}
	}
	for _, p := range stored.Ports {
		if _, ok := n.Port(p.ID); !ok {
			merged.Ports = append(merged.Ports, p)
		}
	}
	offsets := map[string]int{"segments": len(merged.Segments), "profiles": len(merged.Profiles), "ports": len(merged.Ports)}
	merged.Segments = append(merged.Segments, n.Segments...)
	merged.Profiles = append(merged.Profiles, n.Profiles...)
	merged.Ports = append(merged.Ports, n.Ports...)
	err := merged.Validate()
	var ve *spec.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	for i, p := range ve.Problems {
		ve.Problems[i] = rebase(p, &merged, offsets)
	}
	return ve
}

var indexedField = regexp.MustCompile(`^(segments|profiles|ports)\[(\d+)\](.*)$`)

// rebase moves a problem of the merged definition onto the request's
// fields, or onto the stored object it concerns.
func rebase(p spec.Problem, merged *netdef.Network, offsets map[string]int) spec.Problem {
	m := indexedField.FindStringSubmatch(p.Field)
	if m == nil {
		return p
	}
	i, _ := strconv.Atoi(m[2])
	if off := offsets[m[1]]; i >= off {
		p.Field = fmt.Sprintf("%s[%d]%s", m[1], i-off, m[3])
		return p
	}
	var what string
	switch m[1] {
	case "segments":
		what = "segment " + merged.Segments[i].Name
	case "profiles":
		what = "profile " + merged.Profiles[i].Name
	case "ports":
		what = "port " + merged.Ports[i].ID
	}
	p.Field = m[1]
	p.Msg = fmt.Sprintf("the stored %s%s: %s", what, m[3], p.Msg)
	return p
}

// locateIn places a binding problem on n's field for the object at fault
// when n writes it, on its section otherwise (n deleted it).
func locateIn(n *netdef.Network) locator {
	return func(p bindingProblem) string {
		var i int
		switch p.kind {
		case KindSegment:
			i = slices.IndexFunc(n.Segments, func(s spec.Segment) bool { return s.Name == p.name })
		case KindProfile:
			i = slices.IndexFunc(n.Profiles, func(s spec.Profile) bool { return s.Name == p.name })
		case KindPort:
			i = slices.IndexFunc(n.Ports, func(s netdef.Port) bool { return s.ID == p.name })
		default:
			return ""
		}
		if i < 0 {
			return sections[p.kind]
		}
		f := fmt.Sprintf("%s[%d]", sections[p.kind], i)
		if p.attr != "" {
			f += "." + p.attr
		}
		return f
	}
}
