package store

import (
	"fmt"
	"time"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// FirstVEMModule is the lowest module number of a VEM: the VSMs are
// modules 1 and 2.
const FirstVEMModule = 3

// BindRequest is what a VEM reports when it attaches a port: either the
// ID of a pre-created port, or the segment and profile of a port the VSM
// has not heard of (with its MAC).
type BindRequest struct {
	// ID names a pre-created port; its MAC, segment, profile and IPs
	// apply. MAC, Segment and Profile may repeat the port's, not differ.
	ID string `json:"id,omitempty"`
	// MAC is the interface's MAC; required without an ID.
	MAC string `json:"mac,omitempty"`
	// Segment names a segment; required without an ID.
	Segment string `json:"segment,omitempty"`
	// Profile names a policy profile; empty: the default policy.
	Profile string `json:"profile,omitempty"`
	// IPs are the port's addresses (without an ID).
	IPs []string `json:"ips,omitempty"`
	// VM is the UUID of the VM the interface belongs to, if known.
	VM string `json:"vm,omitempty"`
}

// Binding is a port bound on a VEM: an interface of a module, numbered
// Vethernet<N> on it, with the segment and profile that apply to it (its
// pre-created port's, when it names one) and the dynamic port profile of
// that pair.
type Binding struct {
	Module    int    `json:"module"`
	Host      string `json:"host"`
	Interface string `json:"interface"`
	// Vethernet numbers the port on its module from 1. A port that is
	// bound again on the same module (the VEM reattached, the VM was
	// restarted) gets its number back: the same pre-created port, or
	// without an ID the same MAC.
	Vethernet int      `json:"vethernet"`
	ID        string   `json:"id,omitempty"`
	VM        string   `json:"vm,omitempty"`
	MAC       string   `json:"mac"`
	Segment   string   `json:"segment"`
	Profile   string   `json:"profile,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	// PortProfile is the dynamic port profile (vnn<N>) of the binding's
	// policy profile and segment.
	PortProfile string `json:"portProfile"`
}

// Name is the binding's key in changes: "<module>/<interface>".
func (b *Binding) Name() string { return bindingName(b.Module, b.Interface) }

func bindingName(module int, iface string) string { return fmt.Sprintf("%d/%s", module, iface) }

// PortProfile is a dynamic port profile: the VSM's name for one pair of
// policy profile and segment that bound ports use. Every port with the
// pair shares it; it is created with the first such binding, removed with
// the last, and its number is never reused.
type PortProfile struct {
	Name string `json:"name"`
	// Profile is the policy profile; empty is the default policy.
	Profile string `json:"profile"`
	Segment string `json:"segment"`
}

// Snapshot is everything the VSM holds at one generation.
type Snapshot struct {
	Generation uint64 `json:"generation"`
	// Network holds segments and profiles sorted by name and pre-created
	// ports sorted by ID.
	Network netdef.Network `json:"network"`
	// Bindings are sorted by module and vEth number.
	Bindings []Binding `json:"bindings"`
	// PortProfiles are sorted by number.
	PortProfiles []PortProfile `json:"portProfiles"`
}

// Kind is the kind of a stored object.
type Kind string

// Kinds of objects, as changes name them.
const (
	KindSegment     Kind = "segment"
	KindProfile     Kind = "profile"
	KindPort        Kind = "port"
	KindBinding     Kind = "binding"
	KindPortProfile Kind = "port-profile"
)

// Op is what a change did to an object.
type Op string

// Operations of a change.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// ObjectRef names one object.
type ObjectRef struct {
	Kind Kind `json:"kind"`
	// Name is a segment's, profile's or port profile's name, a port's ID
	// or a binding's "<module>/<interface>".
	Name string `json:"name"`
}

// ObjectChange is one object created, updated or deleted, with its new
// value unless deleted (one of the pointers, by Kind).
type ObjectChange struct {
	Op Op `json:"op"`
	ObjectRef
	Segment     *spec.Segment `json:"segment,omitempty"`
	Profile     *spec.Profile `json:"profile,omitempty"`
	Port        *netdef.Port  `json:"port,omitempty"`
	Binding     *Binding      `json:"binding,omitempty"`
	PortProfile *PortProfile  `json:"portProfile,omitempty"`
}

// Change is what one generation changed: every object it created,
// updated or deleted, in the order kinds depend on each other (segments
// and profiles before the ports and bindings that use them; deletions of
// bindings before those of what they used).
type Change struct {
	Generation uint64         `json:"generation"`
	Time       time.Time      `json:"time"`
	Cause      string         `json:"cause"`
	Objects    []ObjectChange `json:"objects"`
}

// Result is what a change did, reported to its caller: the generation it
// made (or the current one, when nothing changed) and the objects it
// created, updated and deleted.
type Result struct {
	Generation uint64      `json:"generation"`
	Created    []ObjectRef `json:"created"`
	Updated    []ObjectRef `json:"updated"`
	Deleted    []ObjectRef `json:"deleted"`
	// DryRun is set when the change was only computed, not made.
	DryRun bool `json:"dryRun,omitempty"`
}

// Changed reports whether the result changed anything.
func (r *Result) Changed() bool {
	return len(r.Created)+len(r.Updated)+len(r.Deleted) > 0
}

func resultOf(gen uint64, objs []ObjectChange) Result {
	r := Result{Generation: gen, Created: []ObjectRef{}, Updated: []ObjectRef{}, Deleted: []ObjectRef{}}
	for _, o := range objs {
		switch o.Op {
		case OpCreate:
			r.Created = append(r.Created, o.ObjectRef)
		case OpUpdate:
			r.Updated = append(r.Updated, o.ObjectRef)
		case OpDelete:
			r.Deleted = append(r.Deleted, o.ObjectRef)
		}
	}
	return r
}
