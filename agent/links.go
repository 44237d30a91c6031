package agent

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

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
}

// Links resolves interface names; tests may substitute their own.
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
		return Link{}, fmt.Errorf("interface %s: %w", name, err)
	}
	link := Link{
		Index:            l.Attrs().Index,
		MTU:              l.Attrs().MTU,
		MAC:              l.Attrs().HardwareAddr,
		PeerInOtherNetns: !n.noPeer && l.Type() == "veth" && l.Attrs().NetNsID >= 0,
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
	return link, nil
}

func exists(links Links) func(string) bool {
	return func(name string) bool {
		_, err := links.Lookup(name)
		return err == nil
	}
}
