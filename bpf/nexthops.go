package bpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
)

// NextHop is how the underlay reaches a remote VTEP: the interface, its
// counter slot and the Ethernet addresses of the outer header. The agent
// keeps these from the kernel's routes and neighbours so encapsulation
// needs no FIB lookup; a VTEP without an entry takes bpf_fib_lookup.
type NextHop struct {
	Ifindex int
	Slot    uint16
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
	// Spread sends tunnels over every distributing uplink member (the
	// interface is a member of a multi-member port-channel).
	Spread bool
}

const nextHopFlagSpread = 1 << 0

// SetNextHop writes a remote VTEP's next hop.
func (d *Datapath) SetNextHop(vtep netip.Addr, nh NextHop) error {
	if !vtep.Is4() {
		return fmt.Errorf("next hop of %s: only IPv4 VTEPs", vtep)
	}
	v := vemVemNexthop{Ifindex: uint32(nh.Ifindex), Slot: nh.Slot}
	if nh.Spread {
		v.Flags = nextHopFlagSpread
	}
	copy(v.Smac[:], nh.SrcMAC)
	copy(v.Dmac[:], nh.DstMAC)
	if err := d.objs.VemNexthops.Put(addrValue(vtep), &v); err != nil {
		return fmt.Errorf("write next hop of %s: %w", vtep, err)
	}
	return nil
}

// DeleteNextHop forgets a VTEP's next hop; a missing one is not an error.
func (d *Datapath) DeleteNextHop(vtep netip.Addr) error {
	err := d.objs.VemNexthops.Delete(addrValue(vtep))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete next hop of %s: %w", vtep, err)
	}
	return nil
}

// NextHops reads the next-hop cache.
func (d *Datapath) NextHops() (map[netip.Addr]NextHop, error) {
	var (
		k   uint32
		v   vemVemNexthop
		out = map[netip.Addr]NextHop{}
	)
	it := d.objs.VemNexthops.Iterate()
	for it.Next(&k, &v) {
		out[addrFrom(k)] = NextHop{
			Ifindex: int(v.Ifindex), Slot: v.Slot,
			SrcMAC: append(net.HardwareAddr(nil), v.Smac[:]...),
			DstMAC: append(net.HardwareAddr(nil), v.Dmac[:]...),
			Spread: v.Flags&nextHopFlagSpread != 0,
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read next hops: %w", err)
	}
	return out, nil
}
