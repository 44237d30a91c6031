package topo

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// maxIfname is the longest interface name the kernel accepts (IFNAMSIZ-1).
const maxIfname = 15

// VethOption configures a veth pair made by Topology.Veth.
type VethOption func(*vethConfig)

type vethConfig struct {
	mtu        int
	aMAC, bMAC net.HardwareAddr
}

// MTU sets the MTU of both ends.
func MTU(mtu int) VethOption {
	return func(c *vethConfig) { c.mtu = mtu }
}

// MACs sets the hardware addresses of the a and b ends; a nil address leaves
// that end's random one.
func MACs(a, b net.HardwareAddr) VethOption {
	return func(c *vethConfig) { c.aMAC, c.bMAC = a, b }
}

// Veth creates a veth pair with end aName in namespace a and end bName in
// namespace b, and sets both up. It is created directly in a, never in the
// root namespace, and disappears when either namespace is deleted.
func (t *Topology) Veth(a *NS, aName string, b *NS, bName string, opts ...VethOption) error {
	if a.topo != t || b.topo != t {
		return fmt.Errorf("topo: veth %s/%s: namespace belongs to another topology", aName, bName)
	}
	for _, name := range []string{aName, bName} {
		if name == "" || len(name) > maxIfname {
			return fmt.Errorf("topo: interface name %q: want 1 to %d bytes", name, maxIfname)
		}
	}
	var cfg vethConfig
	for _, o := range opts {
		o(&cfg)
	}
	peerNS, err := netns.GetFromPath(b.path)
	if err != nil {
		return fmt.Errorf("topo: open netns %s: %w", b.name, err)
	}
	defer peerNS.Close()

	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: aName, MTU: cfg.mtu, HardwareAddr: cfg.aMAC},
		PeerName:         bName,
		PeerHardwareAddr: cfg.bMAC,
		PeerMTU:          uint32(cfg.mtu),
		PeerNamespace:    netlink.NsFd(peerNS),
	}
	err = a.Netlink(func(h *netlink.Handle) error {
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("topo: veth %s/%s -- %s/%s: %w", a.name, aName, b.name, bName, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.SetUp(aName); err != nil {
		return err
	}
	return b.SetUp(bName)
}
