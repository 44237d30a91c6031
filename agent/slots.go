package agent

import (
	"fmt"

	"github.com/vem-switch/vem/bpf"
)

// slots hands out the datapath's counter slots, by ifindex. vEths count up from 1 (so
// Vethernet<slot> numbering starts at 1), uplink members down from the top,
// and a restarted agent reuses the slots it finds in the pinned port table.
type slots struct {
	byIndex map[int]uint16
	used    map[uint16]bool
	// low and high bound the free slots: none below low, none above
	// high. A search starts there, so allocating n ports costs O(n), not
	// O(n²) (a 4,095-port plan spent 96% of its time rescanning).
	low, high int
}

func newSlots() *slots {
	return &slots{byIndex: map[int]uint16{}, used: map[uint16]bool{}, low: 1, high: bpf.MaxPorts - 1}
}

// adopt records a slot already in use by ifindex.
func (s *slots) adopt(ifindex int, slot uint16) {
	if slot == 0 || slot >= bpf.MaxPorts || s.used[slot] {
		return
	}
	s.byIndex[ifindex] = slot
	s.used[slot] = true
}

// get returns ifindex's slot, allocating one when it has none. fresh
// reports a new allocation, whose counters must be zeroed.
func (s *slots) get(ifindex int, kind bpf.PortKind) (slot uint16, fresh bool, err error) {
	if slot, ok := s.byIndex[ifindex]; ok {
		return slot, false, nil
	}
	// vEths take the lowest free slot, uplink members the highest.
	if kind == bpf.PortUplink {
		for ; s.high >= 1; s.high-- {
			if i := uint16(s.high); !s.used[i] {
				return s.take(ifindex, i), true, nil
			}
		}
	} else {
		for ; s.low <= bpf.MaxPorts-1; s.low++ {
			if i := uint16(s.low); !s.used[i] {
				return s.take(ifindex, i), true, nil
			}
		}
	}
	return 0, false, fmt.Errorf("no free port slot for ifindex %d: all %d in use", ifindex, bpf.MaxPorts-1)
}

func (s *slots) take(ifindex int, slot uint16) uint16 {
	s.byIndex[ifindex] = slot
	s.used[slot] = true
	return slot
}

// release frees ifindex's slot.
func (s *slots) release(ifindex int) {
	if slot, ok := s.byIndex[ifindex]; ok {
		delete(s.used, slot)
		delete(s.byIndex, ifindex)
		s.low, s.high = min(s.low, int(slot)), max(s.high, int(slot))
	}
}

// retain frees every slot whose ifindex keep does not hold.
func (s *slots) retain(keep func(ifindex int) bool) {
	for ifindex := range s.byIndex {
		if !keep(ifindex) {
			s.release(ifindex)
		}
	}
}

// clone returns an independent copy: a plan built on it allocates
// nothing in s, so a refused desired state leaves no slot taken.
func (s *slots) clone() *slots {
	c := newSlots()
	c.low, c.high = s.low, s.high
	for i, slot := range s.byIndex {
		c.byIndex[i] = slot
		c.used[slot] = true
	}
	return c
}
