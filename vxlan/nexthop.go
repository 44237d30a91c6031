package vxlan

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/vem-switch/vem/bpf"
)

// The datapath asks the kernel's FIB for the next hop of every frame it
// encapsulates. Two things on the host make that work:
//
//   - bpf_fib_lookup answers only for interfaces with IPv4 forwarding on,
//     so the agent turns it on for the uplink that holds the VTEP;
//   - a frame whose next hop is not resolved yet can be sent by
//     bpf_redirect_neigh only when it is IP (ARP and clones cannot), so the
//     agent keeps the next hops of all remote VTEPs resolved.

// Forwarding reports whether IPv4 forwarding is on for one interface.
func Forwarding(iface string) (bool, error) {
	path := forwardingPath(iface)
	cur, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(cur)) == "1", nil
}

// SetForwarding turns IPv4 forwarding on or off for one interface.
func SetForwarding(iface string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(forwardingPath(iface), []byte(v), 0o644); err != nil {
		return fmt.Errorf("set IPv4 forwarding on %s to %s: %w", iface, v, err)
	}
	return nil
}

func forwardingPath(iface string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", iface, "forwarding")
}

// NextHop is how the underlay reaches one remote VTEP.
type NextHop struct {
	Addr      netip.Addr // the gateway, or the VTEP itself when on-link
	Ifindex   int
	Interface string
}

// ResolveNextHop asks the kernel for the route to vtep.
func ResolveNextHop(vtep netip.Addr) (NextHop, error) {
	routes, err := netlink.RouteGet(net.IP(vtep.AsSlice()))
	if err != nil {
		return NextHop{}, fmt.Errorf("route to VTEP %s: %w", vtep, err)
	}
	if len(routes) == 0 {
		return NextHop{}, fmt.Errorf("no route to VTEP %s", vtep)
	}
	r := routes[0]
	nh := NextHop{Addr: vtep, Ifindex: r.LinkIndex}
	if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok && r.Gw != nil {
		nh.Addr = gw
	}
	if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		nh.Interface = l.Attrs().Name
	}
	return nh, nil
}

// NextHopCache is the datapath's next-hop cache.
type NextHopCache interface {
	NextHops() (map[netip.Addr]bpf.NextHop, error)
	SetNextHop(vtep netip.Addr, nh bpf.NextHop) error
	DeleteNextHop(vtep netip.Addr) error
}

// SyncNextHops makes the kernel resolve the next hop of every remote VTEP
// (NTF_USE: as if a packet were sent) and writes the resolved ones into
// the datapath's cache, so encapsulation skips the FIB lookup and ARP and
// floods always find a complete neighbour. VTEPs whose next hop is not
// resolved (yet) are left to bpf_fib_lookup. slotOf gives an interface's
// counter slot; spread says whether tunnels leaving on it are spread over
// the port-channel's members.
func SyncNextHops(dp NextHopCache, vteps []netip.Addr, slotOf func(ifindex int) uint16, spread func(ifindex int) bool, log *zap.Logger) {
	var errs []error
	want := map[netip.Addr]bpf.NextHop{}
	for _, v := range vteps {
		nh, err := ResolveNextHop(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ip := net.IP(nh.Addr.AsSlice())
		err = netlink.NeighSet(&netlink.Neigh{
			LinkIndex: nh.Ifindex, Family: netlink.FAMILY_V4, IP: ip, Flags: netlink.NTF_USE,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve next hop %s of VTEP %s: %w", nh.Addr, v, err))
			continue
		}
		dst := neighbourMAC(nh.Ifindex, ip)
		link, err := netlink.LinkByIndex(nh.Ifindex)
		if dst == nil || err != nil {
			continue // resolving: bpf_fib_lookup and redirect_neigh meanwhile
		}
		want[v] = bpf.NextHop{Ifindex: nh.Ifindex, Slot: slotOf(nh.Ifindex), SrcMAC: link.Attrs().HardwareAddr, DstMAC: dst, Spread: spread(nh.Ifindex)}
	}
	have, err := dp.NextHops()
	if err != nil {
		errs = append(errs, err)
	}
	for v, nh := range want {
		if old, ok := have[v]; !ok || old.Ifindex != nh.Ifindex || old.Slot != nh.Slot || old.Spread != nh.Spread ||
			!bytes.Equal(old.SrcMAC, nh.SrcMAC) || !bytes.Equal(old.DstMAC, nh.DstMAC) {
			if err := dp.SetNextHop(v, nh); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for v := range have {
		if _, ok := want[v]; !ok {
			if err := dp.DeleteNextHop(v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("underlay next hops", zap.Error(err))
	}
}

// neighbourMAC returns the link-layer address of a usable neighbour entry
// for ip on ifindex, nil when there is none yet.
func neighbourMAC(ifindex int, ip net.IP) net.HardwareAddr {
	neighs, err := netlink.NeighList(ifindex, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
	for _, n := range neighs {
		if n.IP.Equal(ip) && n.State&usable != 0 && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr
		}
	}
	return nil
}
