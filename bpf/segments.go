package bpf

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// SegmentType is how a segment reaches beyond the host.
type SegmentType uint8

// Segment types; the values are the datapath's.
const (
	SegmentVLAN  SegmentType = 1 // tagged on the uplink
	SegmentFlat  SegmentType = 2 // untagged on the uplink
	SegmentLocal SegmentType = 3 // this host only
	SegmentVXLAN SegmentType = 4 // encapsulated to VTEPs
)

// MaxFlood is how many local ports one segment can hold.
const MaxFlood = 64

// MaxVTEPs is how many remote VTEPs one bridge domain replicates to.
const MaxVTEPs = 32

// FloodPort is one local port a segment floods to.
type FloodPort struct {
	Ifindex int
	Slot    uint16
}

// Segment is one entry of the segment table.
type Segment struct {
	ID   uint32
	Type SegmentType
	VLAN uint16 // tag on the uplink, 0 for untagged
	VNI  uint32
	// MTU bounds a VXLAN segment's inner L3 packets; 0 leaves them
	// unchecked.
	MTU   uint16
	Ports []FloodPort // local ports, admin-down ones excluded
	// VTEPs are a VXLAN segment's remote tunnel endpoints: its floods are
	// replicated to each (head-end replication).
	VTEPs []netip.Addr
}

// SetSegment writes a segment and its flood list. The kernel swaps the
// value atomically: programs see the old list or the new one.
func (d *Datapath) SetSegment(s Segment) error {
	if len(s.Ports) > MaxFlood {
		return fmt.Errorf("segment %d: %d ports, at most %d", s.ID, len(s.Ports), MaxFlood)
	}
	if len(s.VTEPs) > MaxVTEPs {
		return fmt.Errorf("segment %d: %d VTEPs, at most %d", s.ID, len(s.VTEPs), MaxVTEPs)
	}
	v := vemVemSegment{
		Vlan: s.VLAN, Type: uint8(s.Type), Vni: s.VNI, Mtu: s.MTU,
		Nports: uint32(len(s.Ports)), Nvteps: uint16(len(s.VTEPs)),
	}
	for i, p := range s.Ports {
		v.Ports[i] = vemVemFloodPort{Ifindex: uint32(p.Ifindex), Slot: p.Slot}
	}
	for i, a := range s.VTEPs {
		if !a.Is4() {
			return fmt.Errorf("segment %d: VTEP %s is not IPv4", s.ID, a)
		}
		v.Vteps[i] = addrValue(a)
	}
	if err := d.objs.VemSegments.Put(s.ID, &v); err != nil {
		return fmt.Errorf("write segment %d: %w", s.ID, err)
	}
	return nil
}

// DeleteSegment removes a segment; a missing one is not an error.
func (d *Datapath) DeleteSegment(id uint32) error {
	err := d.objs.VemSegments.Delete(id)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete segment %d: %w", id, err)
	}
	return nil
}

// Segments reads the segment table.
func (d *Datapath) Segments() ([]Segment, error) {
	var (
		k   uint32
		v   vemVemSegment
		out []Segment
	)
	it := d.objs.VemSegments.Iterate()
	for it.Next(&k, &v) {
		s := Segment{ID: k, Type: SegmentType(v.Type), VLAN: v.Vlan, VNI: v.Vni, MTU: v.Mtu}
		for i := uint32(0); i < v.Nports && i < MaxFlood; i++ {
			s.Ports = append(s.Ports, FloodPort{Ifindex: int(v.Ports[i].Ifindex), Slot: v.Ports[i].Slot})
		}
		for i := uint16(0); i < v.Nvteps && i < MaxVTEPs; i++ {
			s.VTEPs = append(s.VTEPs, addrFrom(v.Vteps[i]))
		}
		out = append(out, s)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read segment table: %w", err)
	}
	return out, nil
}

// SetVLAN maps an uplink VLAN ID (0 = untagged) to a segment; segment 0
// unmaps it so its frames are dropped.
func (d *Datapath) SetVLAN(vid uint16, segment uint32) error {
	if vid > 4094 {
		return fmt.Errorf("VLAN %d outside 0..4094", vid)
	}
	if err := d.objs.VemVlans.Put(uint32(vid), segment); err != nil {
		return fmt.Errorf("write VLAN %d: %w", vid, err)
	}
	return nil
}

// VLANs returns the mapped VLAN IDs and their segments.
func (d *Datapath) VLANs() (map[uint16]uint32, error) {
	out := map[uint16]uint32{}
	for vid := uint32(0); vid < 4096; vid++ {
		var seg uint32
		if err := d.objs.VemVlans.Lookup(vid, &seg); err != nil {
			return nil, fmt.Errorf("read VLAN %d: %w", vid, err)
		}
		if seg != 0 {
			out[uint16(vid)] = seg
		}
	}
	return out, nil
}

// SetVNI maps a VXLAN network identifier to a segment.
func (d *Datapath) SetVNI(vni, segment uint32) error {
	if err := d.objs.VemVnis.Put(vni, segment); err != nil {
		return fmt.Errorf("write VNI %d: %w", vni, err)
	}
	return nil
}

// DeleteVNI unmaps a VNI; its frames are then dropped as unknown-vni.
func (d *Datapath) DeleteVNI(vni uint32) error {
	err := d.objs.VemVnis.Delete(vni)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete VNI %d: %w", vni, err)
	}
	return nil
}

// VNIs returns the mapped VNIs and their segments.
func (d *Datapath) VNIs() (map[uint32]uint32, error) {
	var k, v uint32
	out := map[uint32]uint32{}
	it := d.objs.VemVnis.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read VNI table: %w", err)
	}
	return out, nil
}
