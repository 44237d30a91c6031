package agent

import (
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"testing"
)

// segmentsYAML is a configuration holding segs (YAML flow mappings) and
// an uplink and VTEP, so every segment type validates.
func segmentsYAML(segs ...string) string {
	var b strings.Builder
	b.WriteString("host: hv1\nuplink: eth1\nvtep: {address: 198.51.100.1}\nsegments:\n")
	for _, s := range segs {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	return b.String()
}

// fnvLocal is the documented local segment hash. The IDs key pinned maps,
// so a change of formula would renumber segments under a running
// datapath on upgrade: pin it here.
func fnvLocal(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32() % localSegmentMax
}

func TestSegmentIDsByType(t *testing.T) {
	tests := []struct {
		seg  string
		name string
		want uint32
	}{
		{"{name: web, type: vlan, vlan: 100}", "web", 100},
		{"{name: top, type: vlan, vlan: 4094}", "top", 4094},
		{"{name: mgmt, type: flat}", "mgmt", 4095},
		{"{name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}", "db", 1<<24 | 5001},
		{"{name: big, type: vxlan, vni: 16777215, vteps: [198.51.100.2]}", "big", 1<<24 | 16777215},
		{"{name: lab, type: local}", "lab", 2<<24 | fnvLocal("lab")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := segmentIDs(mustParse(t, segmentsYAML(tt.seg)), nil)
			if got := ids[tt.name]; got != tt.want {
				t.Errorf("segmentIDs[%s] = %#x, want %#x", tt.name, got, tt.want)
			}
		})
	}
}

func TestSegmentIDsStableAndDistinct(t *testing.T) {
	segs := []string{
		"{name: web, type: vlan, vlan: 100}",
		"{name: app, type: vlan, vlan: 200}",
		"{name: mgmt, type: flat}",
		"{name: db, type: vxlan, vni: 100, vteps: [198.51.100.2]}",   // same number as VLAN 100
		"{name: db2, type: vxlan, vni: 4095, vteps: [198.51.100.2]}", // same number as flat
		"{name: lab, type: local}",
		"{name: lab2, type: local}",
		"{name: scratch, type: local}",
	}
	reversed := make([]string, len(segs))
	for i, s := range segs {
		reversed[len(segs)-1-i] = s
	}
	rotated := append(append([]string(nil), segs[3:]...), segs[:3]...)

	want := segmentIDs(mustParse(t, segmentsYAML(segs...)), nil)
	if len(want) != len(segs) {
		t.Fatalf("got %d IDs for %d segments: %v", len(want), len(segs), want)
	}
	seen := map[uint32]string{}
	for name, id := range want {
		if other, dup := seen[id]; dup {
			t.Errorf("segments %s and %s share ID %#x", name, other, id)
		}
		seen[id] = name
	}

	// A restarted agent, or one whose operator reordered the file, must
	// compute the same IDs to keep the pinned tables valid.
	for name, order := range map[string][]string{"same": segs, "reversed": reversed, "rotated": rotated} {
		t.Run(name, func(t *testing.T) {
			got := segmentIDs(mustParse(t, segmentsYAML(order...)), nil)
			if !maps.Equal(got, want) {
				t.Errorf("segmentIDs = %v, want %v", got, want)
			}
		})
	}
}

// collidingNames finds two names whose local hashes collide; with 2^24
// buckets a few thousand candidates suffice (birthday bound).
func collidingNames(t *testing.T) (string, string) {
	t.Helper()
	seen := map[uint32]string{}
	for i := 0; i < 1_000_000; i++ {
		name := fmt.Sprintf("seg%d", i)
		h := fnvLocal(name)
		if other, ok := seen[h]; ok {
			return other, name
		}
		seen[h] = name
	}
	t.Fatal("no colliding local segment names found")
	return "", ""
}

func TestSegmentIDsLocalCollisionProbes(t *testing.T) {
	a, b := collidingNames(t)
	if a > b {
		a, b = b, a
	}
	h := fnvLocal(a)
	if fnvLocal(b) != h {
		t.Fatalf("%s and %s do not collide", a, b)
	}
	segA := fmt.Sprintf("{name: %s, type: local}", a)
	segB := fmt.Sprintf("{name: %s, type: local}", b)
	// Probing goes in name order, not file order, so both orders agree:
	// the first name by sort order keeps its hash, the other moves on.
	for _, order := range [][]string{{segA, segB}, {segB, segA}} {
		ids := segmentIDs(mustParse(t, segmentsYAML(order...)), nil)
		if ids[a] != localSegmentTag|h {
			t.Errorf("order %v: %s = %#x, want %#x", order, a, ids[a], localSegmentTag|h)
		}
		if ids[b] != localSegmentTag|(h+1)%localSegmentMax {
			t.Errorf("order %v: %s = %#x, want %#x (next free)", order, b, ids[b], localSegmentTag|(h+1)%localSegmentMax)
		}
	}
}
