package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
)

// MaxPorts is the number of counter slots; slot 0 is reserved for drops
// on interfaces that are not in the port table.
const MaxPorts = 4096

// PortKind says which program serves a port.
type PortKind uint8

// Port kinds.
const (
	PortVEth   PortKind = 1
	PortUplink PortKind = 2
)

func (k PortKind) String() string {
	switch k {
	case PortVEth:
		return "veth"
	case PortUplink:
		return "uplink"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	portFlagDown       = 1 << 0
	portFlagSecure     = 1 << 1
	portFlagPeer       = 1 << 2
	portFlagCollecting = 1 << 3
	portFlagNoFloodRx  = 1 << 4
	portFlagTrusted    = 1 << 5
	portFlagBind       = 1 << 6
)

// Port is one entry of the port table.
type Port struct {
	Ifindex int
	Kind    PortKind
	Segment uint32 // vEth only
	Slot    uint16 // counter slot, 1..MaxPorts-1
	MAC     net.HardwareAddr
	// Down drops every frame to and from the port (admin down).
	Down bool
	// Secure enables port security: frames must carry MAC as source.
	Secure bool
	// Peer makes local delivery use bpf_redirect_peer: set it for a veth
	// whose peer is in another network namespace.
	Peer bool
	// Collecting lets an uplink member accept frames.
	Collecting bool
	// NoFloodRx makes an uplink member drop the broadcast, multicast and
	// unknown unicast it receives: with mac-pinning the upstream floods to
	// every member and only one (the designated member) may deliver.
	NoFloodRx bool
	// Pin is the uplink member a vEth's frames leave on (mac-pinning);
	// the zero Member lets its flows hash over the distributing set.
	Pin Member

	// The policy of a vEth (see portsec.go). The zero value of each field
	// adds nothing, but for AllowLinkLocal: a vEth drops every frame to a
	// link-local destination unless its kind is allowed here.

	// AllowLinkLocal is the link-local destinations (01:80:C2:00:00:0X,
	// MAC control) a vEth may send to; none by default.
	AllowLinkLocal LinkLocal
	// Trusted lets a Secure vEth send DHCP server messages and IPv6
	// router advertisements and redirects (a VM that is a DHCP server or
	// router). Without port security there is no such guard to lift.
	Trusted bool
	// BindAddresses makes a Secure vEth's IPv4, IPv6, ARP and neighbour
	// discovery sources be its bound addresses: Addresses, and the
	// bindings of SetPortAddresses (write those before the port).
	BindAddresses bool
	// Addresses are a bound vEth's own IPv4 and IPv6 addresses (its fixed
	// IPs), which it sends from with its MAC: at most PortAddresses of
	// each family. They live in the port entry, where checking them costs
	// no lookup; further addresses, prefixes and allowed address pairs
	// are bindings (SetPortAddresses).
	Addresses []netip.Addr
	// MaxMACs is how many source MACs an open (not Secure) vEth learns at
	// most; frames from further new sources are dropped. 0 is no limit.
	MaxMACs int
	// Storm limits the broadcast, multicast and unknown unicast a vEth
	// floods, in packets per second; 0 is no limit.
	Storm StormControl
}

func (p Port) value() (vemVemPort, error) {
	v := vemVemPort{
		Segment: p.Segment, Slot: p.Slot, Kind: uint8(p.Kind),
		PinIfindex: uint32(p.Pin.Ifindex), PinSlot: p.Pin.Slot,
		LinkLocal: uint16(p.AllowLinkLocal), MaxMacs: uint32(p.MaxMACs),
		StormPps: [3]uint32{p.Storm.Broadcast, p.Storm.Multicast, p.Storm.UnknownUnicast},
	}
	copy(v.Mac[:], p.MAC)
	for _, f := range []struct {
		on  bool
		bit uint8
	}{{p.Down, portFlagDown}, {p.Secure, portFlagSecure}, {p.Peer, portFlagPeer}, {p.Collecting, portFlagCollecting}, {p.NoFloodRx, portFlagNoFloodRx},
		{p.Trusted, portFlagTrusted}, {p.BindAddresses, portFlagBind}} {
		if f.on {
			v.Flags |= f.bit
		}
	}
	var n4, n6 int
	for _, a := range p.Addresses {
		switch {
		case !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.Is4In6():
			return v, fmt.Errorf("address %v: want a plain IPv4 or IPv6 address", a)
		case a.Is4() && n4 < PortAddresses:
			b := a.As4()
			v.Addr4[n4] = binary.NativeEndian.Uint32(b[:])
			n4++
		case a.Is6() && n6 < PortAddresses:
			b := a.As16()
			for w := range v.Addr6[n6] {
				v.Addr6[n6][w] = binary.NativeEndian.Uint32(b[4*w:])
			}
			n6++
		default:
			return v, fmt.Errorf("more than %d %v addresses: bind the others with SetPortAddresses", PortAddresses, a)
		}
	}
	return v, nil
}

// PortAddresses is how many addresses of each family Port.Addresses
// holds.
const PortAddresses = len(vemVemPort{}.Addr4)

// portAddresses reads the addresses of a port entry back.
func portAddresses(v vemVemPort) []netip.Addr {
	var out []netip.Addr
	for _, w := range v.Addr4 {
		if w != 0 {
			var b [4]byte
			binary.NativeEndian.PutUint32(b[:], w)
			out = append(out, netip.AddrFrom4(b))
		}
	}
	for _, a := range v.Addr6 {
		if a != [4]uint32{} {
			var b [16]byte
			for w := range a {
				binary.NativeEndian.PutUint32(b[4*w:], a[w])
			}
			out = append(out, netip.AddrFrom16(b))
		}
	}
	return out
}

func portFrom(ifindex uint32, v vemVemPort) Port {
	return Port{
		Ifindex:    int(ifindex),
		Kind:       PortKind(v.Kind),
		Segment:    v.Segment,
		Slot:       v.Slot,
		MAC:        append(net.HardwareAddr(nil), v.Mac[:]...),
		Down:       v.Flags&portFlagDown != 0,
		Secure:     v.Flags&portFlagSecure != 0,
		Peer:       v.Flags&portFlagPeer != 0,
		Collecting: v.Flags&portFlagCollecting != 0,
		NoFloodRx:  v.Flags&portFlagNoFloodRx != 0,
		Pin:        Member{Ifindex: int(v.PinIfindex), Slot: v.PinSlot},

		AllowLinkLocal: LinkLocal(v.LinkLocal),
		Trusted:        v.Flags&portFlagTrusted != 0,
		BindAddresses:  v.Flags&portFlagBind != 0,
		Addresses:      portAddresses(v),
		MaxMACs:        int(v.MaxMacs),
		Storm:          StormControl{Broadcast: v.StormPps[0], Multicast: v.StormPps[1], UnknownUnicast: v.StormPps[2]},
	}
}

// SetPort writes a port table entry.
func (d *Datapath) SetPort(p Port) error {
	if p.Slot == 0 || p.Slot >= MaxPorts {
		return fmt.Errorf("port ifindex %d: slot %d outside 1..%d", p.Ifindex, p.Slot, MaxPorts-1)
	}
	if p.MaxMACs < 0 || p.MaxMACs > math.MaxUint32 {
		return fmt.Errorf("port ifindex %d: MAC limit %d out of range", p.Ifindex, p.MaxMACs)
	}
	v, err := p.value()
	if err != nil {
		return fmt.Errorf("port ifindex %d: %w", p.Ifindex, err)
	}
	if err := d.objs.VemPorts.Put(uint32(p.Ifindex), &v); err != nil {
		return fmt.Errorf("write port ifindex %d: %w", p.Ifindex, err)
	}
	return nil
}

// DeletePort removes a port table entry; a missing entry is not an error.
func (d *Datapath) DeletePort(ifindex int) error {
	err := d.objs.VemPorts.Delete(uint32(ifindex))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete port ifindex %d: %w", ifindex, err)
	}
	return nil
}

// Ports reads the whole port table.
func (d *Datapath) Ports() ([]Port, error) {
	var (
		k   uint32
		v   vemVemPort
		out []Port
	)
	it := d.objs.VemPorts.Iterate()
	for it.Next(&k, &v) {
		out = append(out, portFrom(k, v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read port table: %w", err)
	}
	return out, nil
}
