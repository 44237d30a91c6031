package netdef

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// Normalize fills in the agent file's defaults (a vxlan segment's MTU) and
// writes port IDs and MACs in lower case, so that equal definitions
// compare equal however they were written.
func (n *Network) Normalize() {
	sw := spec.Switch{Segments: n.Segments}
	sw.ApplyDefaults() // defaults segments in place: they share the slice
	for i := range n.Ports {
		n.Ports[i].ID = strings.ToLower(n.Ports[i].ID)
		n.Ports[i].MAC = strings.ToLower(n.Ports[i].MAC)
	}
}

// uuidRE is a UUID in its canonical text form, either case.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidID checks a port ID: a UUID such as
// 6f1d2b7c-3e0a-4a5b-9c8d-112233445566.
func ValidID(id string) error {
	if id == "" {
		return fmt.Errorf("required: the port's UUID")
	}
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("%q is not a UUID such as 6f1d2b7c-3e0a-4a5b-9c8d-112233445566", id)
	}
	return nil
}

// ValidProfileName checks that a policy profile's name is not one the
// VSM keeps for dynamic port profiles.
func ValidProfileName(name string) error {
	if strings.HasPrefix(name, DynamicPrefix) {
		return fmt.Errorf("%q begins with %s, which names dynamic port profiles: the VSM creates those itself", name, DynamicPrefix)
	}
	return nil
}

// Limits are what the VSM validates against: the datapath's own for what
// every VEM holds (segments, VTEPs per bridge domain), none for the ports,
// which spread over many hosts: each VEM checks its own share.
var Limits = spec.Limits{
	Segments:             spec.DefaultLimits.Segments,
	PortsPerSegment:      math.MaxInt,
	VTEPsPerBridgeDomain: spec.DefaultLimits.VTEPsPerBridgeDomain,
	Members:              spec.DefaultLimits.Members,
	Ports:                math.MaxInt,
}

// Validate checks a network definition as Normalize leaves it by the agent file's
// rules (spec.Validate: types, VLAN and VNI ranges and uniqueness, one
// flat segment, profiles' port security, ports' MACs, addresses and
// references) and the VSM's own: port IDs are unique UUIDs and no policy
// profile is named like a dynamic port profile. It returns a
// *spec.ValidationError naming every problem's field, or nil.
func (n *Network) Validate() error {
	sw := spec.Switch{Host: "vsm", Segments: n.Segments, Profiles: n.Profiles}
	sw.Ports = make([]spec.Port, len(n.Ports))
	for i, p := range n.Ports {
		// A stand-in interface, unique and valid: the VEM names the real one.
		sw.Ports[i] = spec.Port{Interface: fmt.Sprintf("p%d", i), MAC: p.MAC, Segment: p.Segment, Profile: p.Profile, IPs: p.IPs}
	}
	var problems []spec.Problem
	if err := sw.Validate(spec.ValidateOptions{Limits: &Limits}); err != nil {
		ve, ok := err.(*spec.ValidationError)
		if !ok {
			return fmt.Errorf("validate network: %w", err)
		}
		for _, p := range ve.Problems {
			if networkField(p.Field) {
				problems = append(problems, p)
			}
		}
	}
	for i, pr := range n.Profiles {
		if err := ValidProfileName(pr.Name); err != nil {
			problems = append(problems, spec.Problem{Field: fmt.Sprintf("profiles[%d].name", i), Msg: err.Error()})
		}
	}
	ids := map[string]string{}
	for i, p := range n.Ports {
		field := fmt.Sprintf("ports[%d].id", i)
		if err := ValidID(p.ID); err != nil {
			problems = append(problems, spec.Problem{Field: field, Msg: err.Error()})
			continue
		}
		if first, dup := ids[p.ID]; dup {
			problems = append(problems, spec.Problem{Field: field, Msg: fmt.Sprintf("duplicate %s (also %s)", p.ID, first)})
			continue
		}
		ids[p.ID] = field
	}
	if len(problems) == 0 {
		return nil
	}
	return &spec.ValidationError{Problems: problems}
}

// networkField reports whether a problem spec found concerns the
// definition rather than the host facts it lacks here (host, uplink,
// vtep...) or the stand-in interfaces of its ports.
func networkField(field string) bool {
	switch {
	case strings.HasPrefix(field, "ports[") && strings.HasSuffix(field, ".interface"):
		return false
	case strings.HasPrefix(field, "segments"), strings.HasPrefix(field, "profiles"), strings.HasPrefix(field, "ports["):
		return true
	}
	return false
}
