package agent

import (
	"hash/fnv"
	"sort"

	"github.com/vem-switch/vem/spec"
)

// Segment IDs key the datapath's segment and MAC tables. They are derived
// from the configuration alone, so a restarted agent computes the same IDs
// and adopts the pinned tables without renumbering anything:
//
//	vlan  -> the VLAN ID (1..4094)
//	flat  -> 4095
//	vxlan -> 1<<24 | VNI
//	local -> 2<<24 | FNV-1a(name), probing on collision in name order
const (
	flatSegmentID   = 4095
	vxlanSegmentTag = 1 << 24
	localSegmentTag = 2 << 24
	localSegmentMax = 1 << 24
)

// segmentIDs assigns every segment of c its datapath ID. A local segment
// keeps the ID prev gave it, so adding a segment whose hash collides with
// a running one never renumbers the running one.
func segmentIDs(c *spec.Switch, prev map[string]uint32) map[string]uint32 {
	ids := make(map[string]uint32, len(c.Segments))
	used := map[uint32]bool{}
	var locals []string
	for _, s := range c.Segments {
		var id uint32
		switch s.Type {
		case spec.SegmentVLAN:
			id = uint32(s.VLAN)
		case spec.SegmentFlat:
			id = flatSegmentID
		case spec.SegmentVXLAN:
			id = vxlanSegmentTag | uint32(s.VNI)
		default:
			locals = append(locals, s.Name)
			continue
		}
		ids[s.Name] = id
		used[id] = true
	}
	sort.Strings(locals)
	var fresh []string
	for _, name := range locals {
		if id, ok := prev[name]; ok && id&^(localSegmentMax-1) == localSegmentTag && !used[id] {
			ids[name] = id
			used[id] = true
			continue
		}
		fresh = append(fresh, name)
	}
	for _, name := range fresh {
		h := fnv.New32a()
		h.Write([]byte(name))
		n := h.Sum32() % localSegmentMax
		for used[localSegmentTag|n] {
			n = (n + 1) % localSegmentMax
		}
		ids[name] = localSegmentTag | n
		used[localSegmentTag|n] = true
	}
	return ids
}
