package spec

import (
	"fmt"
	"net/netip"
	"slices"
)

// LinkLocalKinds are the IEEE link-local frame kinds a profile may allow
// in allowLinkLocal. Every other frame to 01:80:C2:00:00:00..0F from a vEth
// is dropped: one BPDU can err-disable the upstream port of the host.
var LinkLocalKinds = []string{
	"stp",   // 01:80:C2:00:00:00, bridge protocol data units
	"pause", // 01:80:C2:00:00:01, 802.3x flow control
	"lacp",  // 01:80:C2:00:00:02, slow protocols (LACP, marker, OAM)
	"eapol", // 01:80:C2:00:00:03, 802.1X port authentication
	"lldp",  // 01:80:C2:00:00:0E, link layer discovery
}

// DefaultMaxMACs bounds the MACs an open port may have learned when its
// profile sets no maxMACs: enough for a VM that bridges containers, far
// from a table's worth.
const DefaultMaxMACs = 64

// MaxMaxMACs is the largest maxMACs a profile may set.
const MaxMaxMACs = 4096

// DefaultStormControl applies when a profile sets no stormControl: far
// above what ARP, ND, DHCP and mDNS need, low enough that a VM bridging
// two of its NICs cannot loop frames at line rate.
var DefaultStormControl = StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000}

// MaxStormRate is the highest storm-control rate, in packets per second.
const MaxStormRate = 10_000_000

// ParseAddress parses a port's address: a unicast IPv4 or IPv6 address.
func ParseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone; want a plain address", s)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%s is not a unicast address", a)
	}
	return a, nil
}

// ParsePairPrefix parses an allowed address pair's IP: an address (a
// host prefix) or a prefix in CIDR notation, IPv4 or IPv6, with no host
// bits set beyond the prefix.
func ParsePairPrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has a zone; want a plain address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a prefix", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; the prefix is %s", s, p.Masked())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s is an IPv4-mapped prefix; write it as IPv4", s)
	}
	return p, nil
}

// portSecurity checks a profile's port-security fields.
func (v *validator) portSecurity(p string, pr *Profile) {
	if pr.MaxMACs < 0 || pr.MaxMACs > MaxMaxMACs {
		v.addf(p+".maxMACs", "%d is outside 0..%d", pr.MaxMACs, MaxMaxMACs)
	}
	if sc := pr.StormControl; sc != nil {
		for _, r := range []struct {
			field string
			rate  int
		}{{"broadcast", sc.Broadcast}, {"multicast", sc.Multicast}, {"unknownUnicast", sc.UnknownUnicast}} {
			if r.rate < 0 || r.rate > MaxStormRate {
				v.addf(p+".stormControl."+r.field, "%d is outside 0..%d packets per second (0: no limit)", r.rate, MaxStormRate)
			}
		}
	}
	seen := map[string]string{}
	for i, k := range pr.AllowLinkLocal {
		field := fmt.Sprintf("%s.allowLinkLocal[%d]", p, i)
		if !slices.Contains(LinkLocalKinds, k) {
			v.addf(field, "%q is not one of %v", k, LinkLocalKinds)
			continue
		}
		v.unique(seen, k, field)
	}
	for i, pair := range pr.AllowedAddressPairs {
		field := fmt.Sprintf("%s.allowedAddressPairs[%d]", p, i)
		if pair.IP == "" {
			v.addf(field+".ip", "required")
		} else if _, err := ParsePairPrefix(pair.IP); err != nil {
			v.addf(field+".ip", "%v", err)
		}
		if pair.MAC != "" {
			if _, err := ParseMAC(pair.MAC); err != nil {
				v.addf(field+".mac", "%v", err)
			}
		}
	}
	if len(pr.AllowedAddressPairs) > 0 && !pr.PortSecurity {
		v.addf(p+".allowedAddressPairs", "only a profile with portSecurity takes allowed address pairs")
	}
}

// portAddresses checks a port's ips.
func (v *validator) portAddresses(p string, pt *Port) {
	seen := map[string]string{}
	for i, s := range pt.IPs {
		field := fmt.Sprintf("%s.ips[%d]", p, i)
		a, err := ParseAddress(s)
		if err != nil {
			v.addf(field, "%v", err)
			continue
		}
		v.unique(seen, a.String(), field)
	}
}
