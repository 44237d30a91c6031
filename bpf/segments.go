package bpf

import (
	"errors"
	"fmt"

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

// FloodPort is one local port a segment floods to.
type FloodPort struct {
	Ifindex int
	Slot    uint16
}

// Segment is one entry of the segment table.
type Segment struct {
	ID    uint32
	Type  SegmentType
	VLAN  uint16 // tag on the uplink, 0 for untagged
	VNI   uint32
	Ports []FloodPort // local ports, admin-down ones excluded
}

// SetSegment writes a segment and its flood list. The kernel swaps the
// value atomically: programs see the old list or the new one.
func (d *Datapath) SetSegment(s Segment) error {
	if len(s.Ports) > MaxFlood {
		return fmt.Errorf("segment %d: %d ports, at most %d", s.ID, len(s.Ports), MaxFlood)
	}
	v := vemVemSegment{Vlan: s.VLAN, Type: uint8(s.Type), Vni: s.VNI, Nports: uint32(len(s.Ports))}
	for i, p := range s.Ports {
		v.Ports[i] = vemVemFloodPort{Ifindex: uint32(p.Ifindex), Slot: p.Slot}
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
		s := Segment{ID: k, Type: SegmentType(v.Type), VLAN: v.Vlan, VNI: v.Vni}
		for i := uint32(0); i < v.Nports && i < MaxFlood; i++ {
			s.Ports = append(s.Ports, FloodPort{Ifindex: int(v.Ports[i].Ifindex), Slot: v.Ports[i].Slot})
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
