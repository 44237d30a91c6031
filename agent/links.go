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
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: addresses: %w", name, err)
	}
	return n.link(l, addrs), nil
}

// Snapshot reads every interface and address at once: an apply looks up
// every port, and one dump beats a request per port (and an address dump
// per port, which grows with the host).
func (n netlinkLinks) Snapshot() (Links, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	byIndex := map[int][]netlink.Addr{}
	for _, a := range addrs {
		byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], a)
	}
	snap := make(snapshotLinks, len(links))
	for _, l := range links {
		snap[l.Attrs().Name] = n.link(l, byIndex[l.Attrs().Index])
	}
	return snap, nil
}

func (n netlinkLinks) link(l netlink.Link, addrs []netlink.Addr) Link {
	link := Link{
		Index:            l.Attrs().Index,
		MTU:              l.Attrs().MTU,
		MAC:              l.Attrs().HardwareAddr,
		PeerInOtherNetns: !n.noPeer && l.Type() == "veth" && l.Attrs().NetNsID >= 0,
		Kind:             l.Type(),
		Loopback:         l.Attrs().Flags&net.FlagLoopback != 0,
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		switch ip = ip.Unmap(); {
		case ip.Is4():
			link.Addrs = append(link.Addrs, ip)
		case ip.IsGlobalUnicast():
			link.HostAddrs = append(link.HostAddrs, ip)
		}
	}
	return link
}

// snapshotLinks is the interfaces as one Snapshot found them.
type snapshotLinks map[string]Link

func (s snapshotLinks) Lookup(name string) (Link, error) {
	l, ok := s[name]
	if !ok {
		return Link{}, fmt.Errorf("interface %s: %w", name, errNoInterface)
	}
	return l, nil
}

// snapshotter is implemented by Links that can read every interface at
// once.
type snapshotter interface {
	Snapshot() (Links, error)
}
