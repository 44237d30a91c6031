package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// errNoInterface is wrapped by Links.Lookup when no interface has the name.
var errNoInterface = errors.New("no such interface")

// Link is what the agent needs to know of a network interface.
type Link struct {
	Index int
	MTU   int
	MAC   net.HardwareAddr
	// Addrs are the interface's IPv4 addresses (a VTEP's must be here).
	Addrs []netip.Addr
	// PeerInOtherNetns is true for a veth whose peer lives in another
	// network namespace: the datapath can then deliver with
	// bpf_redirect_peer.
	PeerInOtherNetns bool
	// Kind is netlink's link type ("veth", "tuntap", "device", ...);
	// empty when unknown.
	Kind string
	// Loopback is true for the loopback interface.
	Loopback bool
	// HostAddrs are the interface's global IPv6 addresses; with Addrs,
	// what makes it a host interface rather than a VM's port.
	HostAddrs []netip.Addr
}

// Links resolves interface names; tests may substitute their own.
// Lookup wraps errNoInterface when the interface does not exist.
type Links interface {
	Lookup(name string) (Link, error)
}

// netlinkLinks resolves names in the agent's network namespace.
type netlinkLinks struct {
	noPeer bool // never report a peer: disables bpf_redirect_peer
}

func (n netlinkLinks) Lookup(name string) (Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if nf := (netlink.LinkNotFoundError{}); errors.As(err, &nf) {
			return Link{}, fmt.Errorf("interface %s: %w", name, errNoInterface)
		}
		return Link{}, fmt.Errorf("interface %s: %w", name, err)
	}
	link := Link{
		Index:            l.Attrs().Index,
		MTU:              l.Attrs().MTU,
		MAC:              l.Attrs().HardwareAddr,
		PeerInOtherNetns: !n.noPeer && l.Type() == "veth" && l.Attrs().NetNsID >= 0,
		Kind:             l.Type(),
		Loopback:         l.Attrs().Flags&net.FlagLoopback != 0,
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: addresses: %w", name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			link.Addrs = append(link.Addrs, ip)
		}
	}
	addrs6, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: addresses: %w", name, err)
	}
	for _, a := range addrs6 {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsGlobalUnicast() {
			link.HostAddrs = append(link.HostAddrs, ip)
		}
	}
	return link, nil
}
