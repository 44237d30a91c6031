package vxlan

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vem-switch/vem/spec"
)

// Overhead is what VXLAN adds to an inner L3 packet: the outer IPv4 (20),
// UDP (8) and VXLAN (8) headers and the inner Ethernet header (14).
const Overhead = 50

// BridgeDomain is the flood domain of a VXLAN segment, named by its VNI.
// It is unicast-only: floods are replicated to every remote VTEP.
type BridgeDomain struct {
	Segment string
	VNI     uint32
	// MTU is the largest inner L3 packet the segment carries.
	MTU int
	// VTEPs is the head-end replication list.
	VTEPs []netip.Addr
}

// BridgeDomains returns the bridge domains of cfg's vxlan segments, in
// file order.
func BridgeDomains(cfg *spec.Switch) ([]BridgeDomain, error) {
	var out []BridgeDomain
	for _, s := range cfg.Segments {
		if s.Type != spec.SegmentVXLAN {
			continue
		}
		bd := BridgeDomain{Segment: s.Name, VNI: uint32(s.VNI), MTU: s.MTU}
		for _, v := range s.VTEPs {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("segment %s: vtep %q: %w", s.Name, v, err)
			}
			bd.VTEPs = append(bd.VTEPs, a)
		}
		out = append(out, bd)
	}
	return out, nil
}

// RemoteVTEPs lists every remote VTEP of the bridge domains once, sorted.
func RemoteVTEPs(bds []BridgeDomain) []netip.Addr {
	var out []netip.Addr
	for _, bd := range bds {
		for _, v := range bd.VTEPs {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
