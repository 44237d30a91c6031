// Package api is the VSM's northbound HTTP/JSON API, for the vsm CLI, for
// operators' scripts and for an orchestrator (the Neutron plugin), and its
// Go client.
//
// Routes (every response carries the configuration generation, in its
// body and in the X-VSM-Generation header):
//
//	GET    /v1/status                      the VSM and its generation
//	GET    /v1/network                     segments, profiles, ports: the apply shape
//	POST   /v1/apply                       create or replace the objects of a network definition
//	PUT    /v1/sync[?dryRun=true]          make a network definition the whole one (full sync)
//	GET    /v1/segments, /v1/profiles      lists
//	POST   /v1/segments, /v1/profiles      create one (409 if it exists)
//	GET|PUT|DELETE /v1/segments/{name}     one segment; PUT creates or replaces
//	GET|PUT|DELETE /v1/profiles/{name}     one policy profile
//	GET    /v1/ports                       pre-created ports and bound ports, with their bindings
//	POST   /v1/ports                       pre-create one
//	GET|PUT|DELETE /v1/ports/{id}          one pre-created port
//	GET    /v1/bindings                    ports bound on VEMs
//	GET    /v1/port-profiles[/{name}]      dynamic port profiles (read-only: other methods are 405)
//	GET    /v1/bridge-domains              the bridge domains of vxlan segments
//	GET    /v1/changes?since=N             the change log after generation N (410 once compacted)
//	GET    /v1/modules                     show module: this VSM and every VEM it has numbered
//	GET    /v1/system/redundancy           show system redundancy status
//	POST   /v1/system/switchover           manual switchover (409 without a stable standby)
//	PUT    /v1/system/redundancy/role      {"role"}: the role from the next boot
//
// In an HA pair only the active VSM accepts changes (503 elsewhere), and
// it answers one once its stable standby holds it (or did not in time:
// then X-Vsm-Replicated: false).
//
// Network definitions (apply, sync) are YAML or JSON by Content-Type
// (YAML when none); single objects are JSON. Decoding is strict: unknown,
// misspelt or repeated fields are refused. An error is
// {"error": "...", "problems": [{"line", "field", "message"}], "generation"}:
// 400 for what is malformed or invalid, 404 for what does not exist, 405
// for a dynamic port profile, 409 for what contradicts the state (such
// as deleting a segment a bound port uses), 410 for compacted changes.
package api

import (
	"context"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

// GenerationHeader carries the configuration generation in every response.
const GenerationHeader = "X-VSM-Generation"

// Status is the answer of GET /v1/status.
type Status struct {
	Generation uint64 `json:"generation"`
	Name       string `json:"name"`
	Domain     int    `json:"domain"`
	Role       string `json:"role"`
	Module     int    `json:"module"`
	// Schema is the data file's schema version.
	Schema int `json:"schema"`
}

// Info is what the server says about its VSM in Status.
type Info struct {
	Name   string
	Domain int
	Role   string
	Module int
	// Modules lists the VEMs (module, host, status and what the VEM
	// sessions know; the server counts the ports); nil lists none.
	Modules func() ([]Module, error)
	// Redundancy is `show system redundancy status`; nil answers 404.
	Redundancy func() ha.Status
	// Switchover starts a manual switchover; nil refuses it.
	Switchover func() error
	// SetRole records the role this VSM has from its next boot.
	SetRole func(config.Role) (RoleResponse, error)
	// Writable refuses northbound changes (a VSM that is not active);
	// nil accepts them.
	Writable func() error
	// Replicated waits (bounded) until the standby holds generation gen,
	// before a change is acknowledged; it reports whether it does.
	Replicated func(ctx context.Context, gen uint64) bool
}

// RoleResponse is the answer of PUT /v1/system/redundancy/role.
type RoleResponse struct {
	// Role is the role this VSM runs with now; NextBoot the one it
	// has from its next boot.
	Role     config.Role `json:"role"`
	NextBoot config.Role `json:"nextBoot"`
	Message  string      `json:"message"`
}

// RoleRequest is the body of PUT /v1/system/redundancy/role.
type RoleRequest struct {
	Role config.Role `json:"role"`
}

// SwitchoverResponse is the answer of POST /v1/system/switchover.
type SwitchoverResponse struct {
	Message string `json:"message"`
}

// NetworkResponse is the answer of GET /v1/network.
type NetworkResponse struct {
	Generation uint64 `json:"generation"`
	netdef.Network
}

// SegmentsResponse is the answer of GET /v1/segments.
type SegmentsResponse struct {
	Generation uint64         `json:"generation"`
	Segments   []spec.Segment `json:"segments"`
}

// SegmentResponse is the answer of GET /v1/segments/{name}.
type SegmentResponse struct {
	Generation uint64       `json:"generation"`
	Segment    spec.Segment `json:"segment"`
}

// ProfilesResponse is the answer of GET /v1/profiles.
type ProfilesResponse struct {
	Generation uint64         `json:"generation"`
	Profiles   []spec.Profile `json:"profiles"`
}

// ProfileResponse is the answer of GET /v1/profiles/{name}.
type ProfileResponse struct {
	Generation uint64       `json:"generation"`
	Profile    spec.Profile `json:"profile"`
}

// PortStatus is a port the VSM knows: pre-created (with an ID), bound on
// a VEM (with a binding), or both.
type PortStatus struct {
	ID      string   `json:"id,omitempty"`
	MAC     string   `json:"mac"`
	Segment string   `json:"segment"`
	Profile string   `json:"profile,omitempty"`
	IPs     []string `json:"ips,omitempty"`
	// Binding is where the port is bound; nil for a pre-created port no
	// VEM has bound.
	Binding *store.Binding `json:"binding,omitempty"`
}

// PortsResponse is the answer of GET /v1/ports: pre-created ports by ID,
// then the ports bound without one by module and vEth.
type PortsResponse struct {
	Generation uint64       `json:"generation"`
	Ports      []PortStatus `json:"ports"`
}

// PortResponse is the answer of GET /v1/ports/{id}.
type PortResponse struct {
	Generation uint64     `json:"generation"`
	Port       PortStatus `json:"port"`
}

// BindingsResponse is the answer of GET /v1/bindings.
type BindingsResponse struct {
	Generation uint64          `json:"generation"`
	Bindings   []store.Binding `json:"bindings"`
}

// PortProfileStatus is a dynamic port profile with the number of bound
// ports that use it.
type PortProfileStatus struct {
	store.PortProfile
	Ports int `json:"ports"`
}

// PortProfilesResponse is the answer of GET /v1/port-profiles.
type PortProfilesResponse struct {
	Generation   uint64              `json:"generation"`
	PortProfiles []PortProfileStatus `json:"portProfiles"`
}

// PortProfileResponse is the answer of GET /v1/port-profiles/{name}.
type PortProfileResponse struct {
	Generation  uint64            `json:"generation"`
	PortProfile PortProfileStatus `json:"portProfile"`
}

// BridgeDomain is the L2 flood domain of a vxlan segment, named by its
// VNI: its static VTEPs (the segment's vteps, outside the VSM's VEMs) and
// the modules with ports bound in it, whose VTEPs complete each host's
// replication list.
type BridgeDomain struct {
	VNI         int      `json:"vni"`
	Segment     string   `json:"segment"`
	MTU         int      `json:"mtu"`
	StaticVTEPs []string `json:"staticVteps"`
	Modules     []int    `json:"modules"`
}

// BridgeDomainsResponse is the answer of GET /v1/bridge-domains.
type BridgeDomainsResponse struct {
	Generation    uint64         `json:"generation"`
	BridgeDomains []BridgeDomain `json:"bridgeDomains"`
}

// ChangesResponse is the answer of GET /v1/changes.
type ChangesResponse struct {
	Generation uint64         `json:"generation"`
	Changes    []store.Change `json:"changes"`
}

// Problem is one problem of a refused request, as spec.Problem.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error      string    `json:"error"`
	Problems   []Problem `json:"problems,omitempty"`
	Generation uint64    `json:"generation"`
}
