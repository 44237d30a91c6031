package agent

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// portSecurityDrops are the drop reasons of port security and of the
// limits a profile sets on a vEth.
var portSecurityDrops = []bpf.DropReason{
	bpf.DropSpoofedSource, bpf.DropIPSpoof, bpf.DropARPSpoof, bpf.DropNDSpoof,
	bpf.DropDHCPServer, bpf.DropRouterAdvert, bpf.DropLinkLocal,
	bpf.DropMACLimit, bpf.DropStorm,
}

// PortSecurity implements api.Backend: the policy of each vEth as its
// port entry holds it, with its learned MACs and port-security drops.
func (a *Agent) PortSecurity(_ context.Context, port string) ([]api.PortSecurity, error) {
	cur := a.engine.view()
	out := []api.PortSecurity{}
	if cur == nil {
		if port != "" {
			return nil, fmt.Errorf("port %q: %w", port, api.ErrNotFound)
		}
		return out, nil
	}
	for _, pi := range cur.sortedPorts() {
		name := portName(pi)
		if port != "" && port != name && port != pi.Iface {
			continue
		}
		if pi.Kind != bpf.PortVEth {
			return nil, fmt.Errorf("port %q is an uplink, not a vEth: %w", port, api.ErrNotFound)
		}
		ps := portSecurityOf(pi, cur.sw.PortPolicy(pi.Config))
		c, err := a.dp.Counters(pi.Entry.Slot)
		if err != nil {
			return nil, fmt.Errorf("port %s: %w", name, err)
		}
		ps.Drops = portSecurityDropped(c)
		if ps.MACLimit != nil {
			if ps.MACLimit.Learned, err = a.dp.LearnedMACs(pi.Entry.Slot); err != nil {
				return nil, fmt.Errorf("port %s: %w", name, err)
			}
		}
		out = append(out, ps)
	}
	if port != "" && len(out) == 0 {
		return nil, fmt.Errorf("port %q: %w", port, api.ErrNotFound)
	}
	return out, nil
}

// portSecurityOf is the policy of the vEth pi, whose profile is pol: what
// its port entry holds, its addresses and its profile's address pairs.
func portSecurityOf(pi portInfo, pol spec.Profile) api.PortSecurity {
	e := pi.Entry
	ps := api.PortSecurity{
		Name: portName(pi), Interface: pi.Iface, Profile: pi.Config.Profile,
		PortSecurity: e.Secure, Trusted: e.Trusted, Bound: e.BindAddresses,
		Addresses:           append([]string{}, pi.Config.IPs...),
		AllowedAddressPairs: []api.AddressPair{},
		AllowLinkLocal:      linkLocalKinds(e.AllowLinkLocal),
		StormControl: api.StormControl{
			Broadcast: e.Storm.Broadcast, Multicast: e.Storm.Multicast, UnknownUnicast: e.Storm.UnknownUnicast,
		},
		Drops: map[string]uint64{},
	}
	if len(e.MAC) > 0 {
		ps.MAC = net.HardwareAddr(e.MAC).String()
	}
	for _, p := range pol.AllowedAddressPairs {
		ps.AllowedAddressPairs = append(ps.AllowedAddressPairs, api.AddressPair{IP: p.IP, MAC: p.MAC})
	}
	if !e.Secure {
		// Only an open port learns, and so has a limit.
		ps.MACLimit = &api.MACLimit{Max: e.MaxMACs}
	}
	return ps
}

// linkLocalKinds lists the kinds in l by name; none is the empty list.
func linkLocalKinds(l bpf.LinkLocal) []string {
	if l == 0 {
		return []string{}
	}
	return strings.Split(l.String(), ",")
}

// portSecurityDropped returns c's non-zero port-security drops by reason.
func portSecurityDropped(c bpf.Counters) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range portSecurityDrops {
		if n := c.Drops[r]; n != 0 {
			out[r.String()] = n
		}
	}
	return out
}
