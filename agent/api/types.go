// Package api is the agent's local API: the JSON types vemctl and scripts
// read, an HTTP server on the agent's unix socket and a client for it.
package api

import (
	"context"

	"github.com/vem-switch/vem/agent/config"
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
	State     string `json:"state"`  // "up" or "down"
	Source    string `json:"source"` // "config" or "attached"
}

// MACEntry is one learned MAC address.
type MACEntry struct {
	Segment string `json:"segment"`
	MAC     string `json:"mac"`
	Port    string `json:"port"` // interface the MAC was learned on
	Remote  bool   `json:"remote"`
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
	// Counters for one port (by interface or Vethernet name), or all when port is "".
	Counters(ctx context.Context, port string) ([]Counters, error)
	// Attach adds a vEth port at run time (the libvirt hook's entry point).
	Attach(ctx context.Context, p config.Port) error
	// Detach removes a port attached at run time or by configuration.
	Detach(ctx context.Context, iface string) error
}
