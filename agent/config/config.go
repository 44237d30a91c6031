// Package config holds the agent's desired state as operators write it in
// YAML (standalone mode) and validates it before anything touches the
// datapath. The same model is what a supervisor will push later, so the
// datapath reconciler in package agent consumes only these types.
//
// Parse and Load decode a file strictly (unknown fields are errors), fill in
// defaults (see Config.ApplyDefaults) and validate it. Validation reports
// every problem at once as a *ValidationError, each problem with the YAML
// line and the field path it concerns.
package config

import "time"

// Segment types.
const (
	SegmentVLAN  = "vlan"
	SegmentFlat  = "flat"
	SegmentLocal = "local"
	SegmentVXLAN = "vxlan"
)

// Port-channel modes.
const (
	ModeLACPActive  = "lacp-active"
	ModeLACPPassive = "lacp-passive"
	ModeStatic      = "static"
	ModeMACPinning  = "mac-pinning"
)

// LACP transmission rates of a port-channel in an LACP mode.
const (
	RateFast = "fast" // a PDU every second, partner timeout 3 s
	RateSlow = "slow" // a PDU every 30 s, partner timeout 90 s
)

// Hash modes of a port-channel.
const (
	HashSrcDstMAC      = "src-dst-mac"
	HashSrcDstIP       = "src-dst-ip"
	HashSrcDstIPL4Port = "src-dst-ip-l4port"
)

// DefaultMACAgeing is the MAC table ageing time when the file sets none.
const DefaultMACAgeing = 300 * time.Second

// DefaultVXLANPort is the VTEP's UDP port when the file sets none (IANA).
const DefaultVXLANPort = 4789

// Config is the whole desired state of one agent instance.
type Config struct {
	// Host names this hypervisor; required.
	Host string `yaml:"host"`
	// Instance names the bpffs directory /sys/fs/bpf/vem/<instance>/, so
	// it is 1..32 of [a-zA-Z0-9_-]; default "default".
	Instance string `yaml:"instance"`
	// Socket is vemctl's unix socket, an absolute path; default
	// /run/vem/<instance>.sock.
	Socket string `yaml:"socket"`
	// Uplink is an interface or the name of a port-channel. It is required
	// when any segment leaves the host (vlan, flat or vxlan).
	Uplink string `yaml:"uplink"`
	// VTEP is the local VXLAN tunnel endpoint, required by vxlan segments.
	VTEP         *VTEP         `yaml:"vtep"`
	PortChannels []PortChannel `yaml:"portChannels"`
	Segments     []Segment     `yaml:"segments"`
	Profiles     []Profile     `yaml:"profiles"`
	Ports        []Port        `yaml:"ports"`
	// MACAgeing is how long a learned MAC stays without traffic, 10s to
	// 1000000s; default DefaultMACAgeing.
	MACAgeing Duration `yaml:"macAgeing"`
}

// VTEP is the local VXLAN tunnel endpoint.
type VTEP struct {
	// Address is a unicast IPv4 address of this host.
	Address string `yaml:"address"`
	// Port is the UDP destination port; default DefaultVXLANPort.
	Port uint16 `yaml:"port"`
	// DF sets Don't Fragment on the outer IPv4 header.
	DF bool `yaml:"df"`
	// AcceptUnlistedVTEPs accepts VXLAN from VTEPs that are not in the
	// bridge domain's list. Off (strict) by default: such frames are
	// dropped and counted as unknown-vtep.
	AcceptUnlistedVTEPs bool `yaml:"acceptUnlistedVTEPs"`
}

// PortChannel bundles uplink members.
type PortChannel struct {
	// Name is how Config.Uplink refers to the port-channel. It follows the
	// rules of a Linux interface name and may not be one of the
	// configuration's interfaces.
	Name string `yaml:"name"`
	// Mode is one of ModeLACPActive, ModeLACPPassive, ModeStatic or
	// ModeMACPinning.
	Mode string `yaml:"mode"`
	// Rate is RateFast or RateSlow in LACP modes (default fast) and must be
	// empty otherwise.
	Rate string `yaml:"rate"`
	// Hash picks a member for each flow in the lacp and static modes
	// (default src-dst-mac); mac-pinning pins each vEth instead, so it must
	// be empty there.
	Hash string `yaml:"hash"`
	// Members are 1..16 physical interfaces.
	Members []Member `yaml:"members"`
	// MinLinks is how many members must be up for the port-channel to
	// carry traffic (default 1).
	MinLinks int `yaml:"minLinks"`
	// AutoPriorityFailover (mac-pinning; default on) keeps vEths on the
	// best-priority operational members: they fail back as soon as a
	// better member recovers. Off, a vEth stays on its member until that
	// member fails.
	AutoPriorityFailover *bool `yaml:"autoPriorityFailover"`
}

// AutoFailback reports whether AutoPriorityFailover is on (the default).
func (pc *PortChannel) AutoFailback() bool {
	return pc.AutoPriorityFailover == nil || *pc.AutoPriorityFailover
}

// Member is one physical interface of a port-channel.
type Member struct {
	Interface string `yaml:"interface"`
	// Priority is the failover priority (mac-pinning) or LACP port priority;
	// lower is better. 0..65535, default 0.
	Priority int `yaml:"priority"`
}

// Segment is an isolated L2 broadcast domain.
type Segment struct {
	Name string `yaml:"name"`
	// Type is one of SegmentVLAN, SegmentFlat, SegmentLocal or SegmentVXLAN.
	Type string `yaml:"type"`
	// VLAN is the VLAN ID (1..4094) of a vlan segment, unique among them.
	VLAN int `yaml:"vlan"`
	// VNI is the VXLAN network identifier (1..16777215) of a vxlan segment,
	// unique among them.
	VNI int `yaml:"vni"`
	// VTEPs are the remote tunnel endpoints (IPv4) of a vxlan segment's
	// bridge domain, the head-end replication list.
	VTEPs []string `yaml:"vteps"`
	// MTU is the largest L3 packet a vxlan segment carries, default
	// DefaultSegmentMTU; the uplink's MTU must leave room for the VXLAN
	// overhead on top of it.
	MTU int `yaml:"mtu"`
}

// Profile is a port (policy) profile applied to vEth ports.
type Profile struct {
	Name         string `yaml:"name"`
	AdminDown    bool   `yaml:"adminDown"`
	PortSecurity bool   `yaml:"portSecurity"`
}

// Port is one vEth: the host-side interface of a VM NIC.
type Port struct {
	Interface string `yaml:"interface"`
	// MAC is the VM NIC's unicast MAC, colon-separated (see ParseMAC).
	MAC string `yaml:"mac"`
	// Segment names a segment of the same config; required.
	Segment string `yaml:"segment"`
	// Profile names a profile of the same config. Empty means no policy:
	// the port is admin up with port security off (the zero Profile).
	Profile string `yaml:"profile"`
}

// Duration is a time.Duration written as a Go duration string ("300s").
type Duration time.Duration
