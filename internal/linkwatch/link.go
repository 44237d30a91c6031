package linkwatch

import (
	"bytes"
	"net"
	"time"
)

// Link is the state of one network interface.
type Link struct {
	// Index is the ifindex, the link's identity while it exists.
	Index int
	Name  string
	// Kind is the link type netlink reports ("veth", "tuntap", "bridge",
	// "vxlan", ...; "device" for a link without IFLA_LINKINFO, such as a
	// NIC).
	Kind string
	// MasterIndex is the ifindex of the bridge or bond the link is
	// enslaved to; 0 for none.
	MasterIndex int
	MTU         int
	// HardwareAddr is the MAC address.
	HardwareAddr net.HardwareAddr
	// PeerNetNSID is the namespace ID of a veth peer's or tunnel's other
	// namespace as seen from this one (IFLA_LINK_NETNSID), -1 for none.
	PeerNetNSID int
	// AdminUp is IFF_UP: the link is administratively up.
	AdminUp bool
	// Carrier is IFF_LOWER_UP: the lower layer has carrier.
	Carrier bool
}

// Up reports whether the link can carry frames: administratively up with
// carrier.
func (l Link) Up() bool { return l.AdminUp && l.Carrier }

// equal reports whether l and o are the same state.
func (l Link) equal(o Link) bool {
	return l.Index == o.Index && l.Name == o.Name && l.Kind == o.Kind &&
		l.MasterIndex == o.MasterIndex && l.MTU == o.MTU &&
		bytes.Equal(l.HardwareAddr, o.HardwareAddr) && l.PeerNetNSID == o.PeerNetNSID &&
		l.AdminUp == o.AdminUp && l.Carrier == o.Carrier
}

// clone copies the slices of l.
func (l Link) clone() Link {
	l.HardwareAddr = bytes.Clone(l.HardwareAddr)
	return l
}

// Event is the latest change of one link a Subscription has to report.
type Event struct {
	// Time is when the Watcher learned of the change (its clock).
	Time time.Time
	// Link is the link's new state; for a deleted link, its last one.
	Link Link
	// Gone reports that the link was deleted (or left the namespace).
	Gone bool
	// OldName is the name this subscription last heard for the ifindex
	// when it differs from Link.Name (a rename, or an index reused): a
	// consumer that tracks links by name treats OldName as gone.
	OldName string
}
