package bpf

import (
	"errors"
	"fmt"
	"math"
	"net"

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
	// discovery sources be its bound addresses (SetPortAddresses). Write
	// the addresses before the port that binds them.
	BindAddresses bool
	// MaxMACs is how many source MACs an open (not Secure) vEth learns at
	// most; frames from further new sources are dropped. 0 is no limit.
	MaxMACs int
	// Storm limits the broadcast, multicast and unknown unicast a vEth
	// floods, in packets per second; 0 is no limit.
	Storm StormControl
}

func (p Port) value() vemVemPort {
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
	return v
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
	v := p.value()
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
