package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
)

// The datapath asks the kernel's FIB for the next hop of every frame it
// encapsulates. Two things on the host make that work:
//
//   - bpf_fib_lookup answers only for interfaces with IPv4 forwarding on,
//     so the agent turns it on for the uplink that holds the VTEP;
//   - a frame whose next hop is not resolved yet can be sent by
//     bpf_redirect_neigh only when it is IP (ARP and clones cannot), so the
//     agent keeps the next hops of all remote VTEPs resolved.

// enableForwarding turns IPv4 forwarding on for one interface.
func enableForwarding(iface string) error {
	path := filepath.Join("/proc/sys/net/ipv4/conf", iface, "forwarding")
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable forwarding on %s (route lookups for VXLAN need it): %w", iface, err)
	}
	return nil
}

// nextHop is how the underlay reaches one remote VTEP.
type nextHop struct {
	Addr      netip.Addr // the gateway, or the VTEP itself when on-link
	Ifindex   int
	Interface string
}

// resolveNextHop asks the kernel for the route to vtep.
func resolveNextHop(vtep netip.Addr) (nextHop, error) {
	routes, err := netlink.RouteGet(net.IP(vtep.AsSlice()))
	if err != nil {
		return nextHop{}, fmt.Errorf("route to VTEP %s: %w", vtep, err)
	}
	if len(routes) == 0 {
		return nextHop{}, fmt.Errorf("no route to VTEP %s", vtep)
	}
	r := routes[0]
	nh := nextHop{Addr: vtep, Ifindex: r.LinkIndex}
	if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok && r.Gw != nil {
		nh.Addr = gw
	}
	if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		nh.Interface = l.Attrs().Name
	}
	return nh, nil
}

// warmNeighbours makes the kernel resolve the next hop of every remote
// VTEP (NTF_USE: as if a packet were sent), so the datapath finds a
// complete neighbour entry for every frame, ARP and floods included.
func warmNeighbours(vteps []netip.Addr, log *zap.Logger) {
	var errs []error
	seen := map[nextHop]bool{}
	for _, v := range vteps {
		nh, err := resolveNextHop(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[nh] {
			continue
		}
		seen[nh] = true
		err = netlink.NeighSet(&netlink.Neigh{
			LinkIndex: nh.Ifindex,
			Family:    netlink.FAMILY_V4,
			IP:        net.IP(nh.Addr.AsSlice()),
			Flags:     netlink.NTF_USE,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve next hop %s of VTEP %s: %w", nh.Addr, v, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("underlay next hops", zap.Error(err))
	}
}
