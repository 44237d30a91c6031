package agent

import (
	"strings"
	"testing"

	"github.com/vem-switch/vem/bpf"
)

func TestSlots(t *testing.T) {
	const top = bpf.MaxPorts - 1
	veth, uplink := bpf.PortVEth, bpf.PortUplink
	// A step gets a slot for kind (want, wantFresh), or adopts slot, or
	// releases ifindex's slot.
	type step struct {
		op        string
		ifindex   int
		kind      bpf.PortKind
		slot      uint16
		want      uint16
		wantFresh bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"vEths count up from 1", []step{
			{op: "get", ifindex: 10, kind: veth, want: 1, wantFresh: true},
			{op: "get", ifindex: 11, kind: veth, want: 2, wantFresh: true},
			{op: "get", ifindex: 10, kind: veth, want: 1},
		}},
		{"uplinks count down from the top", []step{
			{op: "get", ifindex: 2, kind: uplink, want: top, wantFresh: true},
			{op: "get", ifindex: 3, kind: uplink, want: top - 1, wantFresh: true},
			{op: "get", ifindex: 10, kind: veth, want: 1, wantFresh: true},
			{op: "get", ifindex: 2, kind: uplink, want: top},
		}},
		{"adopted slots are reused and skipped", []step{
			{op: "adopt", ifindex: 10, slot: 1},
			{op: "adopt", ifindex: 2, slot: top},
			{op: "get", ifindex: 10, kind: veth, want: 1},
			{op: "get", ifindex: 2, kind: uplink, want: top},
			{op: "get", ifindex: 11, kind: veth, want: 2, wantFresh: true},
			{op: "get", ifindex: 3, kind: uplink, want: top - 1, wantFresh: true},
		}},
		{"adopting a taken or invalid slot is ignored", []step{
			{op: "adopt", ifindex: 10, slot: 1},
			{op: "adopt", ifindex: 11, slot: 1},            // taken by 10
			{op: "adopt", ifindex: 12, slot: 0},            // reserved for unattributed drops
			{op: "adopt", ifindex: 13, slot: bpf.MaxPorts}, // out of range
			{op: "get", ifindex: 11, kind: veth, want: 2, wantFresh: true},
			{op: "get", ifindex: 12, kind: veth, want: 3, wantFresh: true},
			{op: "get", ifindex: 13, kind: veth, want: 4, wantFresh: true},
		}},
		{"a released slot is reused", []step{
			{op: "get", ifindex: 10, kind: veth, want: 1, wantFresh: true},
			{op: "get", ifindex: 11, kind: veth, want: 2, wantFresh: true},
			{op: "release", ifindex: 10},
			{op: "get", ifindex: 12, kind: veth, want: 1, wantFresh: true},
			{op: "get", ifindex: 10, kind: veth, want: 3, wantFresh: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlots()
			for i, st := range tt.steps {
				switch st.op {
				case "adopt":
					s.adopt(st.ifindex, st.slot)
				case "release":
					s.release(st.ifindex)
				case "get":
					got, fresh, err := s.get(st.ifindex, st.kind)
					if err != nil || got != st.want || fresh != st.wantFresh {
						t.Fatalf("step %d: get(%d, %s) = %d, %v, %v; want %d, %v, nil",
							i, st.ifindex, st.kind, got, fresh, err, st.want, st.wantFresh)
					}
				}
			}
		})
	}
}

func TestSlotsRetain(t *testing.T) {
	s := newSlots()
	for ifindex := 10; ifindex < 15; ifindex++ {
		if _, _, err := s.get(ifindex, bpf.PortVEth); err != nil {
			t.Fatal(err)
		}
	}
	// Keep 10 and 13: slots 2, 3 and 5 come free, lowest first.
	s.retain(func(ifindex int) bool { return ifindex == 10 || ifindex == 13 })
	for _, want := range []struct {
		ifindex int
		slot    uint16
	}{{10, 1}, {13, 4}, {20, 2}, {21, 3}, {22, 5}, {23, 6}} {
		if got, _, err := s.get(want.ifindex, bpf.PortVEth); err != nil || got != want.slot {
			t.Errorf("get(%d) = %d, %v; want %d", want.ifindex, got, err, want.slot)
		}
	}
}

func TestSlotsExhaustion(t *testing.T) {
	s := newSlots()
	for i := 1; i < bpf.MaxPorts; i++ {
		if _, _, err := s.get(1000+i, bpf.PortVEth); err != nil {
			t.Fatalf("get #%d: %v", i, err)
		}
	}
	for _, kind := range []bpf.PortKind{bpf.PortVEth, bpf.PortUplink} {
		slot, _, err := s.get(99, kind)
		if err == nil {
			t.Fatalf("get(%s) on a full table = slot %d, want an error", kind, slot)
		}
		if !strings.Contains(err.Error(), "99") {
			t.Errorf("error %q does not name ifindex 99", err)
		}
	}
	// Ports already holding a slot keep working, and a freed slot is
	// handed out again.
	if got, _, err := s.get(1000+7, bpf.PortVEth); err != nil || got != 7 {
		t.Errorf("existing port: get = %d, %v; want 7", got, err)
	}
	s.release(1000 + 7)
	if got, fresh, err := s.get(99, bpf.PortUplink); err != nil || got != 7 || !fresh {
		t.Errorf("after release: get = %d, %v, %v; want 7, true, nil", got, fresh, err)
	}
}

// TestSlotsLowestFreeAfterRelease: the search bounds never skip a slot
// freed below them: vEths still get the lowest free slot and uplink
// members the highest, after releases and in a clone.
func TestSlotsLowestFreeAfterRelease(t *testing.T) {
	s := newSlots()
	for i := 1; i <= 10; i++ {
		if slot, _, err := s.get(100+i, bpf.PortVEth); err != nil || int(slot) != i {
			t.Fatalf("vEth %d: slot %d, %v", i, slot, err)
		}
	}
	up1, _, _ := s.get(1, bpf.PortUplink)
	up2, _, _ := s.get(2, bpf.PortUplink)
	s.release(104)
	s.release(102)
	s.release(1)
	c := s.clone()
	for _, sl := range []*slots{s, c} {
		if slot, _, _ := sl.get(200, bpf.PortVEth); slot != 2 {
			t.Fatalf("after releasing 2 and 4: slot %d, want 2", slot)
		}
		if slot, _, _ := sl.get(201, bpf.PortVEth); slot != 4 {
			t.Fatalf("then slot %d, want 4", slot)
		}
		if slot, _, _ := sl.get(202, bpf.PortVEth); slot != 11 {
			t.Fatalf("then slot %d, want 11", slot)
		}
		if slot, _, _ := sl.get(3, bpf.PortUplink); slot != up1 || up2 != up1-1 {
			t.Fatalf("uplink after releasing %d: slot %d", up1, slot)
		}
	}
}
