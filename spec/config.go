// Package spec is the desired state of one switch: its segments, bridge
// domains (the VTEP lists of vxlan segments), port profiles, vEth ports,
// port-channels, VTEP and MAC ageing, as plain values with their
// validation. It is what every source of configuration speaks: the
// agent's YAML file, ports attached at run time, the supervisor (VSM) and
// the checkpoint store; the agent's engine turns a Switch into datapath
// state. spec knows nothing of eBPF: the datapath's capacities come in
// through ValidateOptions.Limits.
//
// Parse and Load decode YAML strictly (unknown fields are errors), fill in
// defaults (see Switch.ApplyDefaults) and validate. Validation reports
// every problem at once as a *ValidationError, each problem with the YAML
// line and the field path it concerns.
package spec

import "time"

// SegmentType is the kind of a segment: how it reaches other hosts.
type SegmentType string

// Segment types.
const (
	SegmentVLAN  SegmentType = "vlan"  // tagged on the uplink
	SegmentFlat  SegmentType = "flat"  // untagged on the uplink
	SegmentLocal SegmentType = "local" // this host only
	SegmentVXLAN SegmentType = "vxlan" // a bridge domain over VXLAN
)

// ChannelMode is how a port-channel bundles its members.
type ChannelMode string

// Port-channel modes.
const (
	ModeLACPActive  ChannelMode = "lacp-active"
	ModeLACPPassive ChannelMode = "lacp-passive"
	ModeStatic      ChannelMode = "static"
	ModeMACPinning  ChannelMode = "mac-pinning"
)

// IsLACP reports whether the mode runs LACP.
func (m ChannelMode) IsLACP() bool { return m == ModeLACPActive || m == ModeLACPPassive }

// Hashes reports whether the mode spreads flows by hash; mac-pinning pins
// each vEth to one member instead.
func (m ChannelMode) Hashes() bool { return m.IsLACP() || m == ModeStatic }

// Rate is the LACP transmission rate of a port-channel in an LACP mode.
type Rate string

// LACP transmission rates.
const (
	RateFast Rate = "fast" // a PDU every second, partner timeout 3 s
	RateSlow Rate = "slow" // a PDU every 30 s, partner timeout 90 s
)

// HashMode is what a port-channel hashes to pick a flow's member.
type HashMode string

// Hash modes of a port-channel.
const (
	HashSrcDstMAC      HashMode = "src-dst-mac"
	HashSrcDstIP       HashMode = "src-dst-ip"
	HashSrcDstIPL4Port HashMode = "src-dst-ip-l4port"
)

// DefaultMACAgeing is the MAC table ageing time when the file sets none.
const DefaultMACAgeing = 300 * time.Second

// DefaultVXLANPort is the VTEP's UDP port when the file sets none (IANA).
const DefaultVXLANPort = 4789

// Config is the whole desired state of one agent instance.
type Switch struct {
	// Host names this hypervisor; required.
	Host string `yaml:"host" json:"host,omitempty"`
	// Instance names the bpffs directory /sys/fs/bpf/vem/<instance>/, so
	// it is 1..32 of [a-zA-Z0-9_-]; default "default".
	Instance string `yaml:"instance" json:"instance,omitempty"`
	// Socket is vemctl's unix socket, an absolute path; default
	// /run/vem/<instance>.sock.
	Socket string `yaml:"socket" json:"socket,omitempty"`
	// Uplink is an interface or the name of a port-channel. It is required
	// when any segment leaves the host (vlan, flat or vxlan).
	Uplink string `yaml:"uplink" json:"uplink,omitempty"`
	// VTEP is the local VXLAN tunnel endpoint, required by vxlan segments.
	VTEP         *VTEP         `yaml:"vtep" json:"vtep,omitempty"`
	PortChannels []PortChannel `yaml:"portChannels" json:"portChannels,omitempty"`
	Segments     []Segment     `yaml:"segments" json:"segments,omitempty"`
	Profiles     []Profile     `yaml:"profiles" json:"profiles,omitempty"`
	Ports        []Port        `yaml:"ports" json:"ports,omitempty"`
	// MACAgeing is how long a learned MAC stays without traffic, 10s to
	// 1000000s; default DefaultMACAgeing.
	MACAgeing Duration `yaml:"macAgeing" json:"macAgeing,omitempty"`
	// VSM, when set, switches the agent to VSM mode (see VSM).
	VSM *VSM `yaml:"vsm" json:"vsm,omitempty"`
	// Metrics, when set with an address, serves Prometheus metrics.
	Metrics *Metrics `yaml:"metrics" json:"metrics,omitempty"`
	// OVS, when set, binds the interfaces of an Open vSwitch database as
	// vEth ports (see OVS).
	OVS *OVS `yaml:"ovs" json:"ovs,omitempty"`
}

// VTEP is the local VXLAN tunnel endpoint.
type VTEP struct {
	// Address is a unicast IPv4 address of this host.
	Address string `yaml:"address" json:"address,omitempty"`
	// Port is the UDP destination port; default DefaultVXLANPort.
	Port uint16 `yaml:"port" json:"port,omitempty"`
	// DF sets Don't Fragment on the outer IPv4 header.
	DF bool `yaml:"df" json:"df,omitempty"`
	// AcceptUnlistedVTEPs accepts VXLAN from VTEPs that are not in the
	// bridge domain's list. Off (strict) by default: such frames are
	// dropped and counted as unknown-vtep.
	AcceptUnlistedVTEPs bool `yaml:"acceptUnlistedVTEPs" json:"acceptUnlistedVTEPs,omitempty"`
}

// PortChannel bundles uplink members.
type PortChannel struct {
	// Name is how Config.Uplink refers to the port-channel. It follows the
	// rules of a Linux interface name and may not be one of the
	// configuration's interfaces.
	Name string `yaml:"name" json:"name,omitempty"`
	// Mode is one of ModeLACPActive, ModeLACPPassive, ModeStatic or
	// ModeMACPinning.
	Mode ChannelMode `yaml:"mode" json:"mode,omitempty"`
	// Rate is RateFast or RateSlow in LACP modes (default fast) and must be
	// empty otherwise.
	Rate Rate `yaml:"rate" json:"rate,omitempty"`
	// Hash picks a member for each flow in the lacp and static modes
	// (default src-dst-mac); mac-pinning pins each vEth instead, so it must
	// be empty there.
	Hash HashMode `yaml:"hash" json:"hash,omitempty"`
	// Members are 1..16 physical interfaces.
	Members []Member `yaml:"members" json:"members,omitempty"`
	// MinLinks is how many members must be up for the port-channel to
	// carry traffic (default 1).
	MinLinks int `yaml:"minLinks" json:"minLinks,omitempty"`
	// AutoPriorityFailover (mac-pinning; default on) keeps vEths on the
	// best-priority operational members: they fail back as soon as a
	// better member recovers. Off, a vEth stays on its member until that
	// member fails.
	AutoPriorityFailover *bool `yaml:"autoPriorityFailover" json:"autoPriorityFailover,omitempty"`
}

// AutoFailback reports whether AutoPriorityFailover is on (the default).
func (pc *PortChannel) AutoFailback() bool {
	return pc.AutoPriorityFailover == nil || *pc.AutoPriorityFailover
}

// Member is one physical interface of a port-channel.
type Member struct {
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// Priority is the failover priority (mac-pinning) or LACP port priority;
	// lower is better. 0..65535, default 0.
	Priority int `yaml:"priority" json:"priority,omitempty"`
}

// Segment is an isolated L2 broadcast domain.
type Segment struct {
	Name string `yaml:"name" json:"name,omitempty"`
	// Type is one of SegmentVLAN, SegmentFlat, SegmentLocal or SegmentVXLAN.
	Type SegmentType `yaml:"type" json:"type,omitempty"`
	// VLAN is the VLAN ID (1..4094) of a vlan segment, unique among them.
	VLAN int `yaml:"vlan" json:"vlan,omitempty"`
	// VNI is the VXLAN network identifier (1..16777215) of a vxlan segment,
	// unique among them.
	VNI int `yaml:"vni" json:"vni,omitempty"`
	// VTEPs are the remote tunnel endpoints (IPv4) of a vxlan segment's
	// bridge domain, the head-end replication list.
	VTEPs []string `yaml:"vteps" json:"vteps,omitempty"`
	// MTU is the largest L3 packet a vxlan segment carries, default
	// DefaultSegmentMTU; the uplink's MTU must leave room for the VXLAN
	// overhead on top of it.
	MTU int `yaml:"mtu" json:"mtu,omitempty"`
}

// Profile is a port (policy) profile applied to vEth ports.
type Profile struct {
	Name      string `yaml:"name" json:"name,omitempty"`
	AdminDown bool   `yaml:"adminDown" json:"adminDown,omitempty"`
	// PortSecurity holds the port to its MAC (and, when the port lists
	// them, its addresses), and keeps DHCP server and router
	// advertisements from it unless Trusted.
	PortSecurity bool `yaml:"portSecurity" json:"portSecurity,omitempty"`
	// MaxMACs bounds the MACs an open port (no port security) may have
	// learned at once; 0 means the default, DefaultMaxMACs.
	MaxMACs int `yaml:"maxMACs" json:"maxMACs,omitempty"`
	// StormControl limits the broadcast, multicast and unknown-unicast
	// frames a port may send; nil means DefaultStormControl.
	StormControl *StormControl `yaml:"stormControl" json:"stormControl,omitempty"`
	// AllowedAddressPairs are further addresses (and MACs) a port-secured
	// port may send from, as Neutron's allowed address pairs.
	AllowedAddressPairs []AddressPair `yaml:"allowedAddressPairs" json:"allowedAddressPairs,omitempty"`
	// Trusted lets the port answer DHCP and send router advertisements:
	// for a VM that is its segment's router or DHCP server.
	Trusted bool `yaml:"trusted" json:"trusted,omitempty"`
	// AllowLinkLocal names the IEEE link-local frame kinds (01:80:C2:00:00:0X)
	// the port may send; every other kind is dropped. See LinkLocalKinds.
	AllowLinkLocal []string `yaml:"allowLinkLocal" json:"allowLinkLocal,omitempty"`
}

// StormControl limits per class, in packets per second; 0 is no limit.
type StormControl struct {
	Broadcast      int `yaml:"broadcast" json:"broadcast,omitempty"`
	Multicast      int `yaml:"multicast" json:"multicast,omitempty"`
	UnknownUnicast int `yaml:"unknownUnicast" json:"unknownUnicast,omitempty"`
}

// AddressPair is an extra address a port may use: an IPv4 or IPv6 address
// or prefix, and the MAC it comes from (empty: the port's own).
type AddressPair struct {
	IP  string `yaml:"ip" json:"ip,omitempty"`
	MAC string `yaml:"mac" json:"mac,omitempty"`
}

// Port is one vEth: the host-side interface of a VM NIC.
type Port struct {
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// MAC is the VM NIC's unicast MAC, colon-separated (see ParseMAC).
	MAC string `yaml:"mac" json:"mac,omitempty"`
	// Segment names a segment of the same config; required.
	Segment string `yaml:"segment" json:"segment,omitempty"`
	// IPs are the port's IPv4 and IPv6 addresses: with port security, the
	// only sources it may use (anti-spoofing). Empty: not checked.
	IPs []string `yaml:"ips" json:"ips,omitempty"`
	// Profile names a profile of the same config. Empty means no policy:
	// the port is admin up with port security off (the zero Profile).
	Profile string `yaml:"profile" json:"profile,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("300s").
type Duration time.Duration
