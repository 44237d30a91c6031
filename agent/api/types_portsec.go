package api

// PortSecurity is the port-security policy of one vEth as the datapath
// enforces it, and the frames it dropped (vemctl show port-security).
type PortSecurity struct {
	Name      string `json:"name"` // Vethernet1..n
	Interface string `json:"interface"`
	// MAC is the port's own MAC, the one source a secure port holds to.
	MAC string `json:"mac,omitempty"`
	// Profile is the port's profile; "" is the default one (port
	// security on).
	Profile string `json:"profile,omitempty"`
	// PortSecurity holds the port to its MAC (and, when Bound, its
	// addresses) and guards DHCP and router advertisements from it.
	PortSecurity bool `json:"portSecurity"`
	// Trusted lets a secure port send DHCP server messages and router
	// advertisements.
	Trusted bool `json:"trusted"`
	// Addresses are the port's own IPs.
	Addresses []string `json:"addresses"`
	// AllowedAddressPairs are the further addresses its profile lets it
	// send from.
	AllowedAddressPairs []AddressPair `json:"allowedAddressPairs"`
	// Bound says the datapath checks the IPv4, IPv6, ARP and neighbour
	// discovery sources against Addresses and AllowedAddressPairs: a
	// secure port with any of them.
	Bound bool `json:"bound"`
	// AllowLinkLocal lists the link-local frame kinds (01:80:c2:00:00:0X)
	// the port may send: stp, pause, lacp, eapol, lldp, all, or an
	// address for a kind without a name. Empty allows none.
	AllowLinkLocal []string `json:"allowLinkLocal"`
	// MACLimit is the learning bound of an open port; nil for a secure
	// one, which learns nothing.
	MACLimit *MACLimit `json:"macLimit,omitempty"`
	// StormControl is the port's flood rates.
	StormControl StormControl `json:"stormControl"`
	// Drops are the port's frames dropped by port security, by reason
	// (spoofed-source, ip-spoof, ...); only non-zero reasons.
	Drops map[string]uint64 `json:"drops"`
}

// AddressPair is an allowed address pair: an address or prefix, and the
// MAC it may be sent from ("" is the port's own).
type AddressPair struct {
	IP  string `json:"ip"`
	MAC string `json:"mac,omitempty"`
}

// MACLimit is how many source MACs an open port may have learned, and how
// many it has.
type MACLimit struct {
	Max     int `json:"max"` // 0 is no limit
	Learned int `json:"learned"`
}

// StormControl is a port's flood limits per class in packets per second;
// 0 is no limit.
type StormControl struct {
	Broadcast      uint32 `json:"broadcast"`
	Multicast      uint32 `json:"multicast"`
	UnknownUnicast uint32 `json:"unknownUnicast"`
}
