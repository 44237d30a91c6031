package bpf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// pinState is what a dry run must leave as it was: every pin's map ID
// and every entry of vem_stats.
type pinState struct {
	ids   map[string]ebpf.MapID
	stats map[uint32][]byte
}

func readPinState(t *testing.T, dir string) pinState {
	t.Helper()
	s := pinState{ids: map[string]ebpf.MapID{}, stats: map[uint32][]byte{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			s.ids[e.Name()] = pinnedID(t, filepath.Join(dir, e.Name()))
		}
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var k uint32
	var vals [][]byte
	it := m.Iterate()
	for it.Next(&k, &vals) {
		s.stats[k] = []byte(strings.Join(func() []string {
			var out []string
			for _, v := range vals {
				out = append(out, string(v))
			}
			return out
		}(), ""))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s pinState) same(t *testing.T, what string, other pinState) {
	t.Helper()
	if len(s.ids) != len(other.ids) {
		t.Fatalf("%s: %d pins, were %d", what, len(other.ids), len(s.ids))
	}
	for name, id := range s.ids {
		if other.ids[name] != id {
			t.Fatalf("%s: pin %s now map %d, was %d", what, name, other.ids[name], id)
		}
	}
	for k, v := range s.stats {
		if string(other.stats[k]) != string(v) {
			t.Fatalf("%s: vem_stats[%d] changed", what, k)
		}
	}
}

// pinCurrent pins every map of the committed current objects in dir and
// fills vem_stats (every slot, every CPU) with tail bytes of fill.
func pinCurrent(t *testing.T, dir string, size int, fill func(v []byte)) *ebpf.CollectionSpec {
	t.Helper()
	cur, err := ebpf.LoadCollectionSpec("vem_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range cur.Maps {
		if spec.Pinning == ebpf.PinByName {
			s := spec.Copy()
			if s.Name == "vem_stats" && size > 0 {
				s.ValueSize = uint32(size)
			}
			pinMap(t, dir, s)
		}
	}
	stats, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range []uint32{0, 1, 7, 4095} {
		vals := make([][]byte, ncpu)
		for c := range vals {
			vals[c] = make([]byte, stats.ValueSize())
			vals[c][0] = byte(slot%200 + 1)
			fill(vals[c])
		}
		must(t, stats.Put(slot, vals))
	}
	return cur
}

// TestPlanUpgradeWritesNothing plans the upgrade of maps pinned from the
// current objects to the fixture's (vem_stats one counter longer) and
// back: the plan names vem_stats and its entries, the verifier accepts
// the programs, and the pins, their maps and their entries are as they
// were.
func TestPlanUpgradeWritesNothing(t *testing.T) {
	_, dir := migrateInstance(t)
	cur := pinCurrent(t, dir, 0, func([]byte) {})
	fix, err := ebpf.LoadCollectionSpec("vem_fixture_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	before := readPinState(t, dir)

	for _, tc := range []struct {
		name      string
		to        *ebpf.CollectionSpec
		conv      string
		migrating int
	}{
		{"upgrade to the fixture", fix, "copy, appended fields zero", 1},
		{"same build", cur, "", 0},
	} {
		p, err := planUpgrade(dir, tc.to)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !p.Pinned || len(p.Migrate) != tc.migrating || len(p.Programs) == 0 {
			t.Fatalf("%s: plan %+v", tc.name, p)
		}
		if tc.migrating > 0 {
			m := p.Migrate[0]
			// Slots 0, 1, 7, 4095 hold counts; per-CPU arrays hold every
			// index, the zero ones need no write.
			if m.Name != "vem_stats" || m.Conversion != tc.conv || m.Entries != 4 || m.To.ValueSize != m.From.ValueSize+8 {
				t.Fatalf("%s: plan of vem_stats %v", tc.name, m)
			}
			t.Logf("%s: %v, %d programs verified, walk took %v", tc.name, m, len(p.Programs), p.Took)
		}
		if slices.Contains(p.Adopted, "vem_stats") == (tc.migrating > 0) || len(p.Created) != 0 {
			t.Fatalf("%s: adopted %v, created %v", tc.name, p.Adopted, p.Created)
		}
		before.same(t, tc.name, readPinState(t, dir))
	}
}

// TestPlanUpgradeRefuses: a downgrade whose dropped counters are in use
// is refused without a converter, naming the map and the reason, and the
// refused plan touches nothing; a program the verifier refuses is named.
func TestPlanUpgradeRefuses(t *testing.T) {
	_, dir := migrateInstance(t)
	fix, err := ebpf.LoadCollectionSpec("vem_fixture_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := ebpf.LoadCollectionSpec("vem_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	longer := int(fix.Maps["vem_stats"].ValueSize)
	pinCurrent(t, dir, longer, func(v []byte) { v[len(v)-1] = 9 }) // the fixture's counter in use
	before := readPinState(t, dir)

	saved := converters["vem_stats"]
	delete(converters, "vem_stats")
	_, err = planUpgrade(dir, cur)
	converters["vem_stats"] = saved
	if !errors.Is(err, ebpf.ErrMapIncompatible) || !strings.Contains(err.Error(), "vem_stats") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("downgrade without a converter: err = %v, want vem_stats refused, its dropped bytes in use", err)
	}
	t.Logf("refused: %v", err)
	before.same(t, "refused downgrade", readPinState(t, dir))

	// With the converter the same downgrade plans.
	p, err := planUpgrade(dir, cur)
	if err != nil || len(p.Migrate) != 1 || !strings.Contains(p.Migrate[0].Conversion, "drop counters") {
		t.Fatalf("downgrade with the converter: %+v, %v", p, err)
	}

	// A program the verifier refuses: its first instruction reads a
	// register nothing set.
	bad := cur.Copy()
	var name string
	for n, ps := range bad.Programs {
		name = n
		ps.Instructions = asm.Instructions{asm.Mov.Reg(asm.R0, asm.R5), asm.Return()}
		break
	}
	_, err = planUpgrade(dir, bad)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "load the programs") {
		t.Fatalf("refused program: err = %v, want it named (%s)", err, name)
	}
	t.Logf("refused: %v", err)
	before.same(t, "refused program", readPinState(t, dir))
}

// TestPlanUpgradeNoPins: an instance never started is planned as created
// from scratch, and its pin directory is not made.
func TestPlanUpgradeNoPins(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load eBPF programs: run the tests as root (CI does)")
	}
	dir := filepath.Join(t.TempDir(), "never-started")
	cur, err := ebpf.LoadCollectionSpec("vem_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	p, err := planUpgrade(dir, cur)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pinned || len(p.Migrate) != 0 || len(p.Adopted) != 0 || !slices.Contains(p.Created, "vem_stats") {
		t.Fatalf("plan %+v", p)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dry run made the pin directory: %v", err)
	}
}
