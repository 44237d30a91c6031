package topo

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// link looks ifname up in the namespace.
func link(h *netlink.Handle, ns *NS, ifname string) (netlink.Link, error) {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("topo: netns %s: link %s: %w", ns.name, ifname, err)
	}
	return l, nil
}

// SetUp sets the interface administratively up.
func (n *NS) SetUp(ifname string) error {
	return n.Netlink(func(h *netlink.Handle) error {
		l, err := link(h, n, ifname)
		if err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("topo: netns %s: set %s up: %w", n.name, ifname, err)
		}
		return nil
	})
}

// SetDown sets the interface administratively down.
func (n *NS) SetDown(ifname string) error {
	return n.Netlink(func(h *netlink.Handle) error {
		l, err := link(h, n, ifname)
		if err != nil {
			return err
		}
		if err := h.LinkSetDown(l); err != nil {
			return fmt.Errorf("topo: netns %s: set %s down: %w", n.name, ifname, err)
		}
		return nil
	})
}

// LinkIndex returns the interface's ifindex inside the namespace.
func (n *NS) LinkIndex(ifname string) (int, error) {
	var idx int
	err := n.Netlink(func(h *netlink.Handle) error {
		l, err := link(h, n, ifname)
		if err != nil {
			return err
		}
		idx = l.Attrs().Index
		return nil
	})
	return idx, err
}

// LinkMAC returns the interface's hardware address.
func (n *NS) LinkMAC(ifname string) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := n.Netlink(func(h *netlink.Handle) error {
		l, err := link(h, n, ifname)
		if err != nil {
			return err
		}
		mac = l.Attrs().HardwareAddr
		return nil
	})
	return mac, err
}

// AddAddr adds an address in CIDR form, e.g. "192.0.2.1/24" or
// "2001:db8::1/64", to the interface. IPv6 addresses skip duplicate address
// detection so they are usable at once rather than tentative for seconds.
func (n *NS) AddAddr(ifname, cidr string) error {
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("topo: address %q: %w", cidr, err)
	}
	if addr.IP.To4() == nil {
		addr.Flags |= unix.IFA_F_NODAD
	}
	return n.Netlink(func(h *netlink.Handle) error {
		l, err := link(h, n, ifname)
		if err != nil {
			return err
		}
		if err := h.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("topo: netns %s: add %s to %s: %w", n.name, cidr, ifname, err)
		}
		return nil
	})
}

// AddRoute adds a route to dst, a CIDR or "default", through the gateway via.
func (n *NS) AddRoute(dst, via string) error {
	gw := net.ParseIP(via)
	if gw == nil {
		return fmt.Errorf("topo: gateway %q is not an IP address", via)
	}
	r := &netlink.Route{Gw: gw}
	if dst != "default" {
		_, ipnet, err := net.ParseCIDR(dst)
		if err != nil {
			return fmt.Errorf("topo: route destination %q: %w", dst, err)
		}
		r.Dst = ipnet
	}
	return n.Netlink(func(h *netlink.Handle) error {
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("topo: netns %s: route %s via %s: %w", n.name, dst, via, err)
		}
		return nil
	})
}

// SetSysctl writes a sysctl of the namespace. key is in sysctl(8) form,
// "net.ipv4.ip_forward", or a path below /proc/sys, "net/ipv4/conf/eth0.100/forwarding"
// (needed when a component contains a dot).
func (n *NS) SetSysctl(key, val string) error {
	path := key
	if !strings.Contains(key, "/") {
		path = strings.ReplaceAll(key, ".", "/")
	}
	path = "/proc/sys/" + path
	// /proc/sys/net resolves against the opening thread's namespace.
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(val), 0); err != nil {
			return fmt.Errorf("topo: netns %s: sysctl %s=%s: %w", n.name, key, val, err)
		}
		return nil
	})
}
