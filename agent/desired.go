package agent

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/spec"
)

// Desired is a whole desired state, as the agent's sources hand it to the
// engine: a base switch (the file's, later the supervisor's or the
// checkpoint's) with the ports attached at run time layered on top.
type Desired struct {
	// Switch is the base: host facts, segments, profiles and ports. It has
	// been validated on its own (Parse does), with line numbers.
	Switch *spec.Switch
	// Attached are the ports attached at run time (the libvirt hook,
	// vemctl). One whose segment or profile the base lacks is orphaned:
	// kept, shown, and programmed again when they return.
	Attached []spec.Port
	// OVS are the ports of the Open vSwitch source (agent/ovsport),
	// orphaned like attached ones, and also when the local API attached
	// their interface.
	OVS []spec.Port
	// OVSBound are the interfaces of the OVS source's ports that the
	// base binds (VSM mode: the VSM's bindings of the ports it was sent),
	// shown with the source ovs.
	OVSBound []string
	// RemoteMACs are the static remote MACs of VSM mode's MAC
	// distribution: each becomes a static entry against its VTEP, so
	// unicast to a VM on another host is never flooded. A MAC of a bridge
	// domain the base lacks, or one a local port holds, is left out.
	RemoteMACs []headless.RemoteMAC
}

// orphan is an attached (or OVS) port the base cannot serve.
type orphan struct {
	Port   spec.Port
	Reason string
	Source string
}

// resolve splits d's attached and OVS ports into those the base serves
// (the attached ones first) and the orphaned ones; fromOVS names the
// kept ports that came from the OVS source.
func resolve(d Desired) (kept []spec.Port, fromOVS map[string]bool, orphans []orphan) {
	why := func(p spec.Port) string {
		switch {
		case !hasSegment(d.Switch, p.Segment):
			return fmt.Sprintf("segment %s no longer exists", p.Segment)
		case p.Profile != "" && !hasProfile(d.Switch, p.Profile):
			return fmt.Sprintf("profile %s no longer exists", p.Profile)
		case slices.ContainsFunc(d.Switch.Ports, func(c spec.Port) bool { return c.Interface == p.Interface }):
			return "the configuration file now configures this interface"
		}
		return ""
	}
	for _, p := range d.Attached {
		if r := why(p); r != "" {
			orphans = append(orphans, orphan{p, r, sourceAttached})
			continue
		}
		kept = append(kept, p)
	}
	for _, p := range d.OVS {
		r := why(p)
		if r == "" && slices.ContainsFunc(d.Attached, func(c spec.Port) bool { return c.Interface == p.Interface }) {
			r = "the local API attached this interface"
		}
		if r != "" {
			orphans = append(orphans, orphan{p, r, sourceOVS})
			continue
		}
		if fromOVS == nil {
			fromOVS = map[string]bool{}
		}
		fromOVS[p.Interface] = true
		kept = append(kept, p)
	}
	return kept, fromOVS, orphans
}

func hasSegment(sw *spec.Switch, name string) bool { _, ok := sw.Segment(name); return ok }
func hasProfile(sw *spec.Switch, name string) bool { _, ok := sw.Profile(name); return ok }

// merged is the base with the kept attached ports appended: what is
// validated against the datapath's limits and planned.
func merged(base *spec.Switch, attached []spec.Port) *spec.Switch {
	all := *base
	all.Ports = append(slices.Clip(base.Ports), attached...)
	return &all
}

var portIndexRE = regexp.MustCompile(`^ports\[(\d+)\]`)

// relabel names the attached ports in a merged switch's problems by
// their interface rather than by an index past the file's ports (as OVS
// ports those fromOVS names).
func relabel(err error, base *spec.Switch, attached []spec.Port, fromOVS map[string]bool) error {
	var verr *spec.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	out := &spec.ValidationError{}
	for _, p := range verr.Problems {
		if m := portIndexRE.FindStringSubmatch(p.Field); m != nil {
			if i, _ := strconv.Atoi(m[1]); i >= len(base.Ports) && i-len(base.Ports) < len(attached) {
				kind, iface := "attached port ", attached[i-len(base.Ports)].Interface
				if fromOVS[iface] {
					kind = "ovs port "
				}
				p.Field = kind + iface + p.Field[len(m[0]):]
			}
		}
		out.Problems = append(out.Problems, p)
	}
	return out
}
