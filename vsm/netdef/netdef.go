// Package netdef is the VSM's network definition: the segments (with the
// bridge domains of vxlan ones), policy profiles and pre-created ports an
// operator or an orchestrator gives the supervisor, through `vsm apply -f
// network.yaml` or the northbound API.
//
// Segments and profiles are exactly the agent file's (spec.Segment,
// spec.Profile) and are validated by the agent's own rules (spec.Validate),
// so that what the VSM accepts a VEM accepts too. A network definition is
// an agent file restricted to segments, profiles and ports: host facts
// (host, uplink, portChannels, vtep, macAgeing...) belong to each host's
// agent file and are refused by name. Ports are pre-created the Neutron
// way, named by a UUID rather than by an interface, which the VEM reports
// when the port is bound.
//
// The vteps of a vxlan segment are the bridge domain's static members:
// remote tunnel endpoints outside the VSM's VEMs (a gateway, a hardware
// VTEP) that every host always replicates to. The VSM adds to them, host
// by host, the VTEPs of the other VEMs with ports bound in the segment
// (a per-host fact it learns when the VEM attaches), so a network
// definition normally lists none.
package netdef

import "github.com/vem-switch/vem/spec"

// DynamicPrefix begins the name of every dynamic port profile ("vnn1");
// no policy profile may take it.
const DynamicPrefix = "vnn"

// Network is a network definition document: what `vsm apply -f` reads,
// what a full sync sends whole, and what the VSM holds.
type Network struct {
	Segments []spec.Segment `yaml:"segments" json:"segments,omitempty"`
	Profiles []spec.Profile `yaml:"profiles" json:"profiles,omitempty"`
	Ports    []Port         `yaml:"ports" json:"ports,omitempty"`
}

// Port is a port pre-created by an orchestrator (a Neutron port): known by
// its ID before any VM attaches it. A VEM that attaches an interface with
// this ID binds it.
type Port struct {
	// ID is the port's UUID, stored in lower case.
	ID string `yaml:"id" json:"id"`
	// MAC is the VM NIC's unicast MAC, colon-separated.
	MAC string `yaml:"mac" json:"mac"`
	// Segment names a segment; required.
	Segment string `yaml:"segment" json:"segment"`
	// Profile names a policy profile; empty means the default policy
	// (spec.DefaultProfile).
	Profile string `yaml:"profile,omitempty" json:"profile,omitempty"`
	// IPs are the port's addresses (Neutron's fixed IPs), held by port
	// security when its profile has it.
	IPs []string `yaml:"ips,omitempty" json:"ips,omitempty"`
}

// Empty reports whether n defines nothing.
func (n *Network) Empty() bool {
	return len(n.Segments) == 0 && len(n.Profiles) == 0 && len(n.Ports) == 0
}

// Segment returns the segment called name.
func (n *Network) Segment(name string) (*spec.Segment, bool) {
	for i := range n.Segments {
		if n.Segments[i].Name == name {
			return &n.Segments[i], true
		}
	}
	return nil, false
}

// Profile returns the policy profile called name.
func (n *Network) Profile(name string) (*spec.Profile, bool) {
	for i := range n.Profiles {
		if n.Profiles[i].Name == name {
			return &n.Profiles[i], true
		}
	}
	return nil, false
}

// Port returns the port whose ID is id.
func (n *Network) Port(id string) (*Port, bool) {
	for i := range n.Ports {
		if n.Ports[i].ID == id {
			return &n.Ports[i], true
		}
	}
	return nil, false
}
