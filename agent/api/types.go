// Package api is the agent's local API: the JSON types vemctl and scripts
// read, an HTTP server on the agent's unix socket and a client for it.
package api

import (
	"context"

	"github.com/vem-switch/vem/spec"
)

// Status describes the agent itself (vemctl show module).
type Status struct {
	Host       string `json:"host"`
	Instance   string `json:"instance"`
	Mode       string `json:"mode"` // "standalone" until a supervisor is configured
	Uplink     string `json:"uplink,omitempty"`
	ConfigFile string `json:"configFile,omitempty"`
	// LastReload is the RFC 3339 time of the last successful reconcile.
	LastReload string `json:"lastReload,omitempty"`
	// ConfigError is the last rejected configuration's error; the running
	// state is the previous good one.
	ConfigError string `json:"configError,omitempty"`
	// Engine is the state of the engine that applies the desired state
	// to the datapath. Its State is "" from an agent without one.
	Engine EngineStatus `json:"engine"`
	// Announcements count the MAC announcements of vEths that came up
	// (a VM started or migrated in); nil from an agent without them.
	Announcements *AnnounceCounters `json:"announcements,omitempty"`
}

// AnnounceCounters count the agent's MAC announcements: RARP and
// gratuitous ARP from a vEth's MAC into its segment when the port comes
// up, so switches and other hosts move the MAC to it.
type AnnounceCounters struct {
	// Ports is how many port appearances were announced.
	Ports uint64 `json:"ports"`
	// FramesSent and FramesFailed count frames (one per VTEP on VXLAN).
	FramesSent   uint64 `json:"framesSent"`
	FramesFailed uint64 `json:"framesFailed"`
	// Deferred counts the ports of incoming domains whose announcement
	// waited for the domain to resume here; Pending is how many wait
	// now; Expired counts those that never were told (no announcement).
	Deferred uint64 `json:"deferred"`
	Pending  int    `json:"pending"`
	Expired  uint64 `json:"expired"`
}

// The states of EngineStatus.State.
const (
	// EngineCurrent: the datapath is the desired state.
	EngineCurrent = "current"
	// EngineRetrying: applying the desired state failed; the engine
	// tries again at NextRetry.
	EngineRetrying = "retrying"
	// EngineRolledBack: applying failed and the engine put back the
	// last state it applied, LastApplied.
	EngineRolledBack = "rolled-back"
)

// EngineStatus is how far the datapath is from the desired state
// (vemctl show module).
type EngineStatus struct {
	// State is EngineCurrent, EngineRetrying or EngineRolledBack.
	State string `json:"state"`
	// Error is why the last apply failed, when State is not current.
	Error string `json:"error,omitempty"`
	// Attempts counts the failed applies of the current desired state.
	Attempts int `json:"attempts,omitempty"`
	// NextRetry is the RFC 3339 time of the next attempt (retrying).
	NextRetry string `json:"nextRetry,omitempty"`
	// LastApplied is the RFC 3339 time the datapath last reached a
	// desired state.
	LastApplied string `json:"lastApplied,omitempty"`
	// DriftRepairs counts the times the engine found the datapath
	// changed behind its back and put it right.
	DriftRepairs uint64 `json:"driftRepairs"`
	// LastResync is the RFC 3339 time of the last full comparison of
	// the datapath with the desired state.
	LastResync string `json:"lastResync,omitempty"`
}

// Port is one switch port: a vEth or an uplink member.
type Port struct {
	Name      string `json:"name"` // Vethernet1..n, or the uplink interface
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"`
	Kind      string `json:"kind"` // "veth" or "uplink"
	MAC       string `json:"mac,omitempty"`
	Segment   string `json:"segment,omitempty"`
	Profile   string `json:"profile,omitempty"`
	// State is PortUp, PortDown, PortAbsent or PortOrphaned.
	State  string `json:"state"`
	Source string `json:"source"` // "config" or "attached"
}

// The states of Port.State.
const (
	// PortUp: the port forwards.
	PortUp = "up"
	// PortDown: the port is admin down (its profile says so).
	PortDown = "down"
	// PortAbsent: a vEth whose interface is gone (its VM stopped); its
	// Name is "--" and its Ifindex 0.
	PortAbsent = "absent"
	// PortOrphaned: a vEth whose segment or profile no longer exists in
	// the desired state.
	PortOrphaned = "orphaned"
)

// MACEntry is one learned MAC address.
type MACEntry struct {
	Segment string `json:"segment"`
	MAC     string `json:"mac"`
	Port    string `json:"port"` // interface the MAC was learned on
	Remote  bool   `json:"remote"`
	// Static marks a port-secured vEth's own MAC: installed from the
	// configuration, never learned or aged (AgeSeconds is 0).
	Static bool `json:"static,omitempty"`
	// VTEP is the remote tunnel endpoint a VXLAN MAC was learned behind.
	VTEP string `json:"vtep,omitempty"`
	// AgeSeconds is the time since the address was last seen.
	AgeSeconds float64 `json:"ageSeconds"`
}

// Segment is a network segment and the ports in it.
type Segment struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	VLAN  int      `json:"vlan,omitempty"`
	VNI   int      `json:"vni,omitempty"`
	Ports []string `json:"ports"`
}

// VTEPs is the local tunnel endpoint and the remote ones it sends to
// (vemctl show vxlan vteps).
type VTEPs struct {
	Local  string       `json:"local,omitempty"` // address, "" when no VTEP is configured
	Port   int          `json:"port,omitempty"`  // UDP destination port
	Remote []RemoteVTEP `json:"remote"`
}

// RemoteVTEP is one remote tunnel endpoint.
type RemoteVTEP struct {
	Address string `json:"address"`
	// BridgeDomains lists the VNIs whose floods replicate to it.
	BridgeDomains []int `json:"bridgeDomains"`
	// NextHop and Interface say how the underlay reaches it; empty when
	// there is no route.
	NextHop   string `json:"nextHop,omitempty"`
	Interface string `json:"interface,omitempty"`
	// MACs is how many MACs are learned behind it.
	MACs int `json:"macs"`
}

// BridgeDomain is the flood domain of a VXLAN segment, named by its VNI
// (vemctl show bridge-domains).
type BridgeDomain struct {
	VNI     int      `json:"vni"`
	Segment string   `json:"segment"`
	Mode    string   `json:"mode"` // "unicast-only": head-end replication
	MTU     int      `json:"mtu"`
	VTEPs   []string `json:"vteps"`
	Ports   []string `json:"ports"`
}

// PortChannel is the uplink port-channel and its members
// (vemctl show port-channel summary / show port-channel).
type PortChannel struct {
	Name     string `json:"name"`
	Mode     string `json:"mode"`
	Up       bool   `json:"up"`
	MinLinks int    `json:"minLinks"`
	// AutoPriorityFailover is the mac-pinning failback setting.
	AutoPriorityFailover bool `json:"autoPriorityFailover"`
	// System and Key are this host's LACP actor identity (LACP modes).
	System string `json:"system,omitempty"`
	Key    int    `json:"key,omitempty"`
	// PartnerSystem and PartnerKey identify the switch bundled with.
	PartnerSystem string              `json:"partnerSystem,omitempty"`
	PartnerKey    int                 `json:"partnerKey,omitempty"`
	Members       []PortChannelMember `json:"members"`
}

// PortChannelMember is one member of a port-channel.
type PortChannelMember struct {
	Interface string `json:"interface"`
	// Priority is the failover priority (mac-pinning) or LACP port priority.
	Priority int `json:"priority"`
	// Status is bundled, standby, individual, down or waiting (LACP), or
	// Operational / Link Down (static, mac-pinning).
	Status string `json:"status"`
	// Reason says why an LACP member is not bundled.
	Reason string `json:"reason,omitempty"`
	// Active: frames leave on it (mac-pinning: vEths are pinned to it).
	Active bool `json:"active"`
	// VEths pinned to it (mac-pinning).
	VEths []string `json:"veths,omitempty"`
}

// LACPNeighbor is the partner seen on one member (vemctl show lacp neighbor).
type LACPNeighbor struct {
	PortChannel string `json:"portChannel"`
	Interface   string `json:"interface"`
	State       string `json:"state"` // bundled, standby, ...
	// Partner identity as its last LACPDU gave it.
	PartnerSystem       string `json:"partnerSystem"`
	PartnerKey          int    `json:"partnerKey"`
	PartnerPort         int    `json:"partnerPort"`
	PartnerPortPriority int    `json:"partnerPortPriority"`
	// PartnerState and ActorState are the state bits as letters
	// (A activity, T short timeout, G aggregation, S sync, C collecting,
	// D distributing, F defaulted, E expired).
	PartnerState string `json:"partnerState"`
	ActorState   string `json:"actorState"`
	// LastPDU is the RFC 3339 time of the last LACPDU; empty if none came.
	LastPDU string `json:"lastPdu,omitempty"`
}

// LACPCounters are one member's LACP packet counters.
type LACPCounters struct {
	PortChannel string `json:"portChannel"`
	Interface   string `json:"interface"`
	PDUsRx      uint64 `json:"pdusRx"`
	PDUsTx      uint64 `json:"pdusTx"`
	MalformedRx uint64 `json:"malformedRx"`
	MarkersRx   uint64 `json:"markersRx"`
	MarkersTx   uint64 `json:"markersTx"`
}

// Counters are a port's packet and byte counters, summed over CPUs.
type Counters struct {
	Port      string            `json:"port"`
	RxPackets uint64            `json:"rxPackets"`
	RxBytes   uint64            `json:"rxBytes"`
	TxPackets uint64            `json:"txPackets"`
	TxBytes   uint64            `json:"txBytes"`
	Drops     map[string]uint64 `json:"drops"` // reason -> packets; only non-zero reasons
}

// Backend is what the agent exposes to the API server.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Ports(ctx context.Context) ([]Port, error)
	// MACTable lists learned MACs; segment "" means all segments.
	MACTable(ctx context.Context, segment string) ([]MACEntry, error)
	Segments(ctx context.Context) ([]Segment, error)
	// VTEPs lists the local and remote VXLAN tunnel endpoints.
	VTEPs(ctx context.Context) (VTEPs, error)
	// BridgeDomains lists the VXLAN bridge domains.
	BridgeDomains(ctx context.Context) ([]BridgeDomain, error)
	// PortChannels lists the port-channels in use.
	PortChannels(ctx context.Context) ([]PortChannel, error)
	// LACPNeighbors lists the LACP partners of every member.
	LACPNeighbors(ctx context.Context) ([]LACPNeighbor, error)
	// LACPCounters lists every member's LACP counters.
	LACPCounters(ctx context.Context) ([]LACPCounters, error)
	// Counters for one port (by interface or Vethernet name), or all when port is "".
	Counters(ctx context.Context, port string) ([]Counters, error)
	// PortSecurity for one vEth (by interface or Vethernet name), or
	// every vEth when port is "".
	PortSecurity(ctx context.Context, port string) ([]PortSecurity, error)
	// Attach adds a vEth port at run time (the libvirt hook's entry point).
	Attach(ctx context.Context, p spec.Port) error
	// Detach removes a port attached at run time or by configuration.
	Detach(ctx context.Context, iface string) error
	// DPA reports the Data Path Agent's state (vemctl show dpa).
	DPA(ctx context.Context) (DPA, error)
}
