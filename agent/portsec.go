package agent

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// portSecurity fills a vEth's policy in its port entry from its profile
// and returns the address bindings the entry does not hold (further fixed
// IPs, allowed address pairs) and the pairs' own MACs, which become
// static entries of the port.
func portSecurity(e *bpf.Port, port spec.Port, pol spec.Profile) (bindings []bpf.AddressBinding, pairMACs []net.HardwareAddr) {
	e.Secure = pol.PortSecurity
	e.Trusted = pol.Trusted
	if len(pol.AllowLinkLocal) > 0 {
		// Validated names: stp, pause, lacp, eapol, lldp.
		e.AllowLinkLocal, _ = bpf.ParseLinkLocal(strings.Join(pol.AllowLinkLocal, ","))
	}
	storm := spec.DefaultStormControl
	if pol.StormControl != nil {
		storm = *pol.StormControl
	}
	e.Storm = bpf.StormControl{Broadcast: uint32(storm.Broadcast), Multicast: uint32(storm.Multicast),
		UnknownUnicast: uint32(storm.UnknownUnicast)}
	if !e.Secure {
		// An open port learns: bound, so that a random-MAC flood cannot
		// evict every other port's entries.
		e.MaxMACs = pol.MaxMACs
		if e.MaxMACs == 0 {
			e.MaxMACs = spec.DefaultMaxMACs
		}
		return nil, nil
	}
	if len(port.IPs) == 0 && len(pol.AllowedAddressPairs) == 0 {
		return nil, nil // only the MAC is held
	}
	e.BindAddresses = true
	// The entry holds PortAddresses of each family, IPv4 first (the order
	// the datapath reads them back in); more become bindings.
	var v4, v6 []bpf.AddressBinding
	for _, s := range port.IPs {
		a, err := spec.ParseAddress(s)
		if err != nil {
			continue // validated
		}
		switch {
		case a.Is4() && len(v4) < bpf.PortAddresses:
			v4 = append(v4, bpf.AddressBinding{Prefix: netipPrefix(a)})
		case a.Is6() && len(v6) < bpf.PortAddresses:
			v6 = append(v6, bpf.AddressBinding{Prefix: netipPrefix(a)})
		default:
			bindings = append(bindings, bpf.AddressBinding{Prefix: netipPrefix(a)})
		}
	}
	for _, b := range slices.Concat(v4, v6) {
		e.Addresses = append(e.Addresses, b.Prefix.Addr())
	}
	for _, pair := range pol.AllowedAddressPairs {
		prefix, err := spec.ParsePairPrefix(pair.IP)
		if err != nil {
			continue // validated
		}
		b := bpf.AddressBinding{Prefix: prefix}
		if pair.MAC != "" {
			if mac, err := spec.ParseMAC(pair.MAC); err == nil && mac.String() != net.HardwareAddr(e.MAC).String() {
				b.MAC = mac
				if !slices.ContainsFunc(pairMACs, func(m net.HardwareAddr) bool { return m.String() == mac.String() }) {
					pairMACs = append(pairMACs, mac)
				}
			}
		}
		bindings = append(bindings, b)
	}
	return bindings, pairMACs
}

func netipPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
