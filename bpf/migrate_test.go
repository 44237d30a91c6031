package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// migrateInstance returns a fresh instance name for t whose pin directory
// exists and is removed when the test ends, whatever happens.
func migrateInstance(t *testing.T) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create eBPF maps: run the tests as root (CI does)")
	}
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	instance := fmt.Sprintf("m%d-%08x", os.Getpid(), h.Sum32())
	t.Cleanup(func() {
		if err := Remove(instance); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	if err := ensureBPFFS(filepath.Dir(PinRoot)); err != nil {
		t.Fatal(err)
	}
	dir := PinDir(instance)
	if err := os.MkdirAll(filepath.Join(dir, linkDir), 0o700); err != nil {
		t.Fatal(err)
	}
	return instance, dir
}

// pinMap creates a map of spec pinned by name in dir.
func pinMap(t *testing.T, dir string, spec *ebpf.MapSpec) *ebpf.Map {
	t.Helper()
	s := spec.Copy()
	s.Pinning = ebpf.PinByName
	m, err := ebpf.NewMapWithOptions(s, ebpf.MapOptions{PinPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func pinnedID(t *testing.T, path string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func u64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.NativeEndian.AppendUint64(b, v)
	}
	return b
}

// migrateAll runs a whole migration of dir to specs as Open does, with
// between() run after the copy, as the old programs writing meanwhile.
func migrateAll(t *testing.T, dir string, specs map[string]*ebpf.MapSpec, between func(mig *migration)) {
	t.Helper()
	mig, err := planMigration(dir, specs)
	if err != nil {
		t.Fatal(err)
	}
	defer mig.close()
	if between != nil {
		between(mig)
	}
	if err := mig.catchUp(); err != nil {
		t.Fatal(err)
	}
	if err := mig.commit(); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateHashValueGrows(t *testing.T) {
	_, dir := migrateInstance(t)
	oldSpec := &ebpf.MapSpec{Name: "mig_hash", Type: ebpf.LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 64}
	old := pinMap(t, dir, oldSpec)
	for k := uint32(1); k <= 10; k++ {
		if err := old.Put(u32(k), u64s(uint64(k)*100)); err != nil {
			t.Fatal(err)
		}
	}
	newSpec := &ebpf.MapSpec{Name: "mig_hash", Type: ebpf.LRUHash, KeySize: 4, ValueSize: 16, MaxEntries: 128, Pinning: ebpf.PinByName}
	oldID := pinnedID(t, filepath.Join(dir, "mig_hash"))

	migrateAll(t, dir, map[string]*ebpf.MapSpec{"mig_hash": newSpec}, func(mig *migration) {
		nm := mig.maps[0].new
		// The old programs write after the copy: a new entry (11), an
		// entry they change (2), one they change that the new programs
		// wrote too (3: the new one's is fresher), and the new programs
		// learn one of their own (12).
		must(t, old.Put(u32(11), u64s(1100)))
		must(t, old.Put(u32(2), u64s(222)))
		must(t, old.Put(u32(3), u64s(333)))
		must(t, nm.Put(u32(3), u64s(3000, 7)))
		must(t, nm.Put(u32(12), u64s(1200, 7)))
	})

	if id := pinnedID(t, filepath.Join(dir, "mig_hash")); id == oldID {
		t.Fatal("the pin still holds the old map")
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "mig_hash"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := newSpec.Compatible(m); err != nil {
		t.Fatalf("pinned map not in the new layout: %v", err)
	}
	want := map[uint32][]byte{2: u64s(222, 0), 3: u64s(3000, 7), 11: u64s(1100, 0), 12: u64s(1200, 7)}
	for k := uint32(1); k <= 10; k++ {
		if want[k] == nil {
			want[k] = u64s(uint64(k)*100, 0)
		}
	}
	got := map[uint32][]byte{}
	var k uint32
	var v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		got[k] = append([]byte(nil), v...)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("migrated map has %d entries, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if string(got[k]) != string(w) {
			t.Errorf("key %d = %x, want %x", k, got[k], w)
		}
	}
	if _, err := os.Stat(tmpPin(filepath.Join(dir, "mig_hash"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary pin left behind: %v", err)
	}
}

func TestMigratePerCPUCountersAddUp(t *testing.T) {
	_, dir := migrateInstance(t)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	oldSpec := &ebpf.MapSpec{Name: "vem_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 8}
	old := pinMap(t, dir, oldSpec)
	perCPU := func(f func(cpu int) []byte) [][]byte {
		vs := make([][]byte, ncpu)
		for c := range vs {
			vs[c] = f(c)
		}
		return vs
	}
	must(t, old.Put(uint32(3), perCPU(func(c int) []byte { return u64s(uint64(10+c), uint64(1000+c)) })))
	must(t, old.Put(uint32(5), perCPU(func(c int) []byte { return u64s(1, 1) })))
	newSpec := &ebpf.MapSpec{Name: "vem_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 24, MaxEntries: 8, Pinning: ebpf.PinByName}

	migrateAll(t, dir, map[string]*ebpf.MapSpec{"vem_stats": newSpec}, func(mig *migration) {
		if mig.maps[0].counter != 8 {
			t.Fatalf("vem_stats is not migrated as a counter map")
		}
		nm := mig.maps[0].new
		// Old programs count 5 more packets on slot 3 after the copy; the
		// new ones, already swapped in, count 2 of their own there.
		must(t, old.Put(uint32(3), perCPU(func(c int) []byte { return u64s(uint64(15+c), uint64(1005+c)) })))
		cur := make([][]byte, ncpu)
		must(t, nm.Lookup(uint32(3), cur))
		for c := range cur {
			binary.NativeEndian.PutUint64(cur[c], binary.NativeEndian.Uint64(cur[c])+2)
			binary.NativeEndian.PutUint64(cur[c][16:], 9) // the new counter
		}
		must(t, nm.Put(uint32(3), cur))
	})

	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make([][]byte, ncpu)
	must(t, m.Lookup(uint32(3), got))
	for c := range got {
		if want := u64s(uint64(17+c), uint64(1005+c), 9); string(got[c]) != string(want) {
			t.Errorf("slot 3 cpu %d = %x, want %x (old counts, their delta and the new ones)", c, got[c], want)
		}
	}
	must(t, m.Lookup(uint32(5), got))
	for c := range got {
		if want := u64s(1, 1, 0); string(got[c]) != string(want) {
			t.Errorf("slot 5 cpu %d = %x, want %x", c, got[c], want)
		}
	}
}

func TestMigrateRefusesShrinkTouchingNothing(t *testing.T) {
	_, dir := migrateInstance(t)
	oldSpec := &ebpf.MapSpec{Name: "mig_port", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}
	old := pinMap(t, dir, oldSpec)
	must(t, old.Put(u32(1), u64s(1, 0)))
	must(t, old.Put(u32(2), u64s(2, 5))) // the tail a shrink would drop is in use
	pin := filepath.Join(dir, "mig_port")
	id := pinnedID(t, pin)

	for _, tc := range []struct {
		name string
		spec *ebpf.MapSpec
		want string
	}{
		{"value shrinks over a used tail", &ebpf.MapSpec{Name: "mig_port", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Pinning: ebpf.PinByName}, "in use"},
		{"key changes", &ebpf.MapSpec{Name: "mig_port", Type: ebpf.Hash, KeySize: 8, ValueSize: 16, MaxEntries: 16, Pinning: ebpf.PinByName}, "key changed"},
		{"entries do not fit", &ebpf.MapSpec{Name: "mig_port", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 1, Pinning: ebpf.PinByName}, "entries the new map holds"},
		{"per-CPU", &ebpf.MapSpec{Name: "mig_port", Type: ebpf.PerCPUHash, KeySize: 4, ValueSize: 16, MaxEntries: 16, Pinning: ebpf.PinByName}, "per-CPU"},
	} {
		_, err := planMigration(dir, map[string]*ebpf.MapSpec{"mig_port": tc.spec})
		if !errors.Is(err, ebpf.ErrMapIncompatible) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want an ErrMapIncompatible saying %q", tc.name, err, tc.want)
		}
		if got := pinnedID(t, pin); got != id {
			t.Fatalf("%s: the refused migration replaced the pin", tc.name)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), "__migrating") {
				t.Fatalf("%s: refused migration left %s", tc.name, e.Name())
			}
		}
	}
	var v []byte
	must(t, old.Lookup(u32(2), &v))
	if string(v) != string(u64s(2, 5)) {
		t.Fatalf("refused migration changed the old map: %x", v)
	}

	// A tail that is zero everywhere is dropped: a field never set.
	must(t, old.Put(u32(2), u64s(2, 0)))
	migrateAll(t, dir, map[string]*ebpf.MapSpec{"mig_port": {Name: "mig_port", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Pinning: ebpf.PinByName}}, nil)
	m, err := ebpf.LoadPinnedMap(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	must(t, m.Lookup(u32(2), &v))
	if m.ValueSize() != 8 || string(v) != string(u64s(2)) {
		t.Fatalf("shrunk map: value size %d, key 2 = %x", m.ValueSize(), v)
	}
}

func TestMigrateConverterShrinksCounters(t *testing.T) {
	_, dir := migrateInstance(t)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	old := pinMap(t, dir, &ebpf.MapSpec{Name: "vem_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 24, MaxEntries: 4})
	vals := make([][]byte, ncpu)
	for c := range vals {
		vals[c] = u64s(7, 8, 9) // the later version's counter is in use
	}
	must(t, old.Put(uint32(1), vals))
	newSpec := &ebpf.MapSpec{Name: "vem_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 4, Pinning: ebpf.PinByName}
	migrateAll(t, dir, map[string]*ebpf.MapSpec{"vem_stats": newSpec}, nil)
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make([][]byte, ncpu)
	must(t, m.Lookup(uint32(1), got))
	for c := range got {
		if string(got[c]) != string(u64s(7, 8)) {
			t.Errorf("cpu %d = %x, want the counters this version knows", c, got[c])
		}
	}
}

// TestMigrateRenameOverPinIsAtomic proves that bpffs renames a pin over
// another atomically: a reader opening the pin while it is replaced gets
// the old map or the new one, never an error.
func TestMigrateRenameOverPinIsAtomic(t *testing.T) {
	_, dir := migrateInstance(t)
	spec := &ebpf.MapSpec{Name: "mig_pin", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	pin := filepath.Join(dir, "mig_pin")
	pinMap(t, dir, spec)

	var stop atomic.Bool
	var misses, opens atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				m, err := ebpf.LoadPinnedMap(pin, nil)
				if err != nil {
					misses.Add(1)
					continue
				}
				opens.Add(1)
				m.Close()
			}
		}()
	}
	for i := range 300 {
		next := spec.Copy()
		next.ValueSize = uint32(4 + 4*(i%2+1))
		next.Pinning = ebpf.PinByName
		mig, err := planMigration(dir, map[string]*ebpf.MapSpec{"mig_pin": next})
		if err != nil {
			t.Fatal(err)
		}
		if err := mig.commit(); err != nil {
			t.Fatal(err)
		}
		mig.close()
	}
	stop.Store(true)
	wg.Wait()
	if misses.Load() != 0 {
		t.Fatalf("the pin was missing %d times of %d opens while renamed over", misses.Load(), misses.Load()+opens.Load())
	}
	if opens.Load() == 0 {
		t.Fatal("no reader opened the pin")
	}
	t.Logf("%d opens during 300 replacements, none missed", opens.Load())
}

// TestOpenMigratesOlderStats: a datapath whose vem_stats was pinned by a
// version with one drop counter fewer opens, keeps every counter, and
// pins vem_stats in the current layout; the other maps are adopted.
func TestOpenMigratesOlderStats(t *testing.T) {
	instance, dir := migrateInstance(t)
	spec, err := loadVem()
	if err != nil {
		t.Fatal(err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	cur := spec.Maps["vem_stats"]
	olderSpec := cur.Copy()
	olderSpec.ValueSize -= 8
	older := pinMap(t, dir, olderSpec)
	vals := make([][]byte, ncpu)
	for c := range vals {
		vals[c] = make([]byte, olderSpec.ValueSize)
		binary.NativeEndian.PutUint64(vals[c][0:], 100)  // rx packets
		binary.NativeEndian.PutUint64(vals[c][8:], 6400) // rx bytes
		binary.NativeEndian.PutUint64(vals[c][32+8:], 3) // drops[port-down]
	}
	must(t, older.Put(uint32(9), vals))
	ports := pinMap(t, dir, spec.Maps["vem_ports"])
	portsID := pinnedID(t, filepath.Join(dir, "vem_ports"))
	_ = ports

	d, err := Open(instance)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Migrated()) != 1 || !strings.HasPrefix(d.Migrated()[0], "vem_stats ") {
		t.Fatalf("migrated %v, want vem_stats only", d.Migrated())
	}
	t.Logf("migrated %v in %v", d.Migrated(), d.MigrateTook())
	c, err := d.Counters(9)
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(ncpu)
	if c.RxPackets != 100*n || c.RxBytes != 6400*n || c.Drops[DropPortDown] != 3*n {
		t.Fatalf("counters after the migration = %+v, want those of the older layout", c)
	}
	if got := pinnedID(t, filepath.Join(dir, "vem_ports")); got != portsID {
		t.Fatal("a map whose layout did not change was replaced")
	}
	// And a restart of the same version adopts everything.
	d2, err := Open(instance)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if len(d2.Migrated()) != 0 {
		t.Fatalf("a second open migrated %v again", d2.Migrated())
	}
}

// TestOpenRefusesUnconvertibleMap: a vem_ports pinned with a longer value
// whose tail is in use is refused, the pins untouched.
func TestOpenRefusesUnconvertibleMap(t *testing.T) {
	instance, dir := migrateInstance(t)
	spec, err := loadVem()
	if err != nil {
		t.Fatal(err)
	}
	longer := spec.Maps["vem_ports"].Copy()
	longer.ValueSize += 8
	m := pinMap(t, dir, longer)
	v := make([]byte, longer.ValueSize)
	v[len(v)-1] = 1
	must(t, m.Put(uint32(5), v))
	id := pinnedID(t, filepath.Join(dir, "vem_ports"))
	before, _ := os.ReadDir(dir)

	d, err := Open(instance)
	if err == nil {
		d.Close()
		t.Fatal("opened over a vem_ports whose dropped tail is in use")
	}
	if !strings.Contains(err.Error(), "incompatible version") || !strings.Contains(err.Error(), "vem_ports") {
		t.Fatalf("error does not say which map and why: %v", err)
	}
	t.Logf("refused: %v", err)
	if pinnedID(t, filepath.Join(dir, "vem_ports")) != id {
		t.Fatal("the refused open replaced the pin")
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Fatalf("the refused open changed the pin directory: %d entries, were %d", len(after), len(before))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateCurrentToFixtureAndBack migrates maps pinned from the
// committed objects: the current build's to the fixture build's (the
// upgrade tests' "next version", vem_stats one counter longer) with every
// counter slot in use, as with 4,096 ports, and back through vem_stats's
// converter; without it the way back is refused.
func TestMigrateCurrentToFixtureAndBack(t *testing.T) {
	_, dir := migrateInstance(t)
	cur, err := ebpf.LoadCollectionSpec("vem_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	fix, err := ebpf.LoadCollectionSpec("vem_fixture_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range cur.Maps {
		if spec.Pinning == ebpf.PinByName {
			pinMap(t, dir, spec)
		}
	}
	stats, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	size := int(stats.ValueSize())
	slotValue := func(slot uint32, cpu int, size int) []byte {
		v := make([]byte, size)
		for i := 0; i+8 <= min(size, 288); i += 8 {
			binary.NativeEndian.PutUint64(v[i:], uint64(slot)<<20|uint64(cpu)<<16|uint64(i))
		}
		return v
	}
	for slot := uint32(0); slot < stats.MaxEntries(); slot++ {
		vals := make([][]byte, ncpu)
		for c := range vals {
			vals[c] = slotValue(slot, c, size)
		}
		must(t, stats.Put(slot, vals))
	}
	ids := map[string]ebpf.MapID{}
	for name, spec := range cur.Maps {
		if spec.Pinning == ebpf.PinByName {
			ids[name] = pinnedID(t, filepath.Join(dir, name))
		}
	}

	check := func(dirn string, wantSize int) {
		t.Helper()
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if int(m.ValueSize()) != wantSize {
			t.Fatalf("%s: vem_stats value size %d, want %d", dirn, m.ValueSize(), wantSize)
		}
		got := make([][]byte, ncpu)
		for _, slot := range []uint32{0, 1, 2047, 4095} {
			must(t, m.Lookup(slot, got))
			for c := range got {
				if want := slotValue(slot, c, wantSize); string(got[c]) != string(want) {
					t.Fatalf("%s: slot %d cpu %d = %x, want %x", dirn, slot, c, got[c], want)
				}
			}
		}
	}
	run := func(dirn string, to *ebpf.CollectionSpec) {
		t.Helper()
		start := time.Now()
		mig, err := planMigration(dir, to.Maps)
		if err != nil {
			t.Fatalf("%s: %v", dirn, err)
		}
		defer mig.close()
		if len(mig.maps) != 1 || mig.maps[0].name != "vem_stats" {
			t.Fatalf("%s: migrating %v, want vem_stats alone", dirn, mig.names())
		}
		must(t, mig.catchUp())
		must(t, mig.commit())
		t.Logf("%s: %v in %v", dirn, mig.names(), time.Since(start))
	}

	run("upgrade", fix)
	check("upgrade", size+8)
	for name, id := range ids {
		if name != "vem_stats" && pinnedID(t, filepath.Join(dir, name)) != id {
			t.Errorf("upgrade replaced %s, whose layout did not change", name)
		}
	}
	// The fixture's programs count their new counter.
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, ncpu)
	must(t, m.Lookup(uint32(1), vals))
	for c := range vals {
		binary.NativeEndian.PutUint64(vals[c][size:], 42)
	}
	must(t, m.Put(uint32(1), vals))
	m.Close()
	id := pinnedID(t, filepath.Join(dir, "vem_stats"))

	// A version without the converter refuses the way back.
	saved := converters["vem_stats"]
	delete(converters, "vem_stats")
	_, err = planMigration(dir, cur.Maps)
	converters["vem_stats"] = saved
	if !errors.Is(err, ebpf.ErrMapIncompatible) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("downgrade without a converter: err = %v, want refused", err)
	}
	if pinnedID(t, filepath.Join(dir, "vem_stats")) != id {
		t.Fatal("the refused downgrade replaced vem_stats")
	}

	run("downgrade", cur)
	check("downgrade", size)
}
