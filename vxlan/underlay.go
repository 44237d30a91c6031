package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vem-switch/vem/spec"
)

// Uplink is the interface that holds the local VTEP address.
type Uplink struct {
	Name  string
	Index int
	MTU   int
	Addrs []netip.Addr
}

// Underlay is the local VTEP and the interface it sends on.
type Underlay struct {
	VTEP netip.Addr
	Port uint16
	// DF sets Don't Fragment on outer headers.
	DF bool
	// AcceptUnlisted accepts VXLAN from VTEPs outside a bridge domain's
	// list (strict, dropping them, by default).
	AcceptUnlisted bool
	// Uplink is where route lookups for the underlay are made.
	Uplink Uplink
}

// NewUnderlay checks that the local VTEP v can carry the bridge domains
// over up: the address must be on it, and its MTU must leave room for
// each domain's MTU plus Overhead. Every problem is reported, with the
// numbers that conflict.
func NewUnderlay(v *spec.VTEP, up Uplink, bds []BridgeDomain) (*Underlay, error) {
	addr, err := netip.ParseAddr(v.Address)
	if err != nil {
		return nil, fmt.Errorf("vtep address: %w", err)
	}
	var errs []error
	if !slices.Contains(up.Addrs, addr) {
		errs = append(errs, fmt.Errorf("vtep address %s is not assigned to uplink %s (it has %v)", addr, up.Name, up.Addrs))
	}
	for _, bd := range bds {
		if up.MTU < bd.MTU+Overhead {
			errs = append(errs, fmt.Errorf("segment %s: mtu %d plus %d bytes of VXLAN overhead needs an uplink MTU of at least %d, and %s has %d",
				bd.Segment, bd.MTU, Overhead, bd.MTU+Overhead, up.Name, up.MTU))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Underlay{VTEP: addr, Port: v.Port, DF: v.DF, AcceptUnlisted: v.AcceptUnlistedVTEPs, Uplink: up}, nil
}
