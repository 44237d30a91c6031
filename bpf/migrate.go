package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
)

// Map layout migration: what an upgrade (or a downgrade) does with a map
// pinned by the running version when the new objects declare it with
// another layout (key or value size, max entries, flags, type).
//
// The pinned map is never dropped. Its entries are copied, one by one and
// converted, into a new map of the new layout; the new programs are loaded
// against that new map; the new map replaces the old one's pin atomically
// (pinned under a temporary name in the same bpffs directory, then
// rename(2)d over the old pin). A map that cannot be converted (key or
// value shrinks, key changes, an entry does not fit) is refused before
// anything is touched: the running programs, maps and pins stay as they
// are and the agent exits with the reason.
//
// # Ordering: why nothing the datapath writes is lost
//
// The old programs keep running, and writing their maps (learned MACs,
// counters, storm buckets, learned-MAC counts), until the new programs are
// in the pinned tcx links. So the migration runs in this order, all inside
// Open:
//
//  1. Plan: every pinned map is compared with the new spec; an unconvertible
//     one refuses the whole upgrade. Nothing has been written yet.
//  2. Copy: each map to migrate is copied into its new, unpinned map. The
//     converted value of every entry copied is remembered (the snapshot).
//  3. Load the new programs against the new maps (MapReplacements) and the
//     adopted pins of the maps that did not change.
//  4. Swap: every pinned link gets its new program (link update is atomic:
//     each packet runs either the old or the new program, none is dropped).
//     A failed swap puts the old programs back.
//  5. Wait until no old program is still running (an RCU grace period; a
//     map-in-map update waits for one), so the old maps are final.
//  6. Catch up: each entry of an old map whose converted value differs from
//     its snapshot was written by an old program between 2 and 4. Counter
//     maps (values are arrays of counters that only add) get the difference
//     added to the new map's value, so the counts of both programs add up.
//     Other maps take the old value where the new map still holds the
//     snapshot (the new programs have not written it since) and keep the
//     new value otherwise (it is fresher); keys new in the old map are
//     inserted unless the new programs inserted them first.
//  7. Commit: the new maps are pinned under temporary names, then renamed
//     over the old pins. Only then are the old maps released.
//
// What can still be lost: the catch-up of a per-CPU counter is a read,
// add, write of that CPU's value, so an increment the new program makes on
// that CPU between the read and the write is lost (a few microseconds of
// one port's counts, once). A crash between 4 and 7 leaves the new programs
// running on unpinned maps while the pins still hold the old maps: the
// next start migrates again from those and loses what the new programs
// wrote meanwhile (learned MACs are learned again, counters lose that
// interval).
//
// # Conversions
//
// Without a registered Converter a map migrates when:
//   - its key is the same size and its type the same kind (per-CPU or not:
//     hash, LRU hash, array and LPM trie are alike);
//   - its value grows: the old bytes are copied and the new tail is zero
//     (fields appended), per CPU for per-CPU maps;
//   - its value shrinks and every byte dropped is zero in every entry (a
//     field the old version appended but never set); one non-zero byte
//     refuses the migration;
//   - its max entries shrink and every entry still fits (hash: as many as
//     there are entries; array: nothing beyond the new size but zeros).
//
// Anything else (a key that changes, a downgrade dropping a field in use)
// needs a Converter registered for that map (RegisterConverter).

// Layout is what the kernel knows of a map's shape.
type Layout struct {
	Type       ebpf.MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
}

func (l Layout) String() string {
	return fmt.Sprintf("%s key %d value %d max %d flags %#x", l.Type, l.KeySize, l.ValueSize, l.MaxEntries, l.Flags)
}

// A Converter turns the entries of one map from an old layout into a new
// one.
type Converter struct {
	// Name says what it does, for errors and logs.
	Name string
	// Applies reports whether it converts from old to new.
	Applies func(old, new Layout) bool
	// Key writes the new key (dst, zeroed) from the old one; nil copies
	// the key as it is (sizes must then be equal).
	Key func(dst, src []byte) error
	// Value writes the new value (dst, zeroed) from the old one; per CPU
	// for per-CPU maps. nil: the default (copy what fits, zero the rest,
	// refuse a non-zero dropped tail).
	Value func(dst, src []byte) error
}

var converters = map[string][]Converter{}

// RegisterConverter adds a converter for the map named name. The first
// one that applies to a migration is used.
func RegisterConverter(name string, c Converter) {
	converters[name] = append(converters[name], c)
}

// counterMaps are the maps whose values are arrays of counters of the
// given width that only add: their catch-up adds what the old programs
// counted after the copy.
var counterMaps = map[string]int{
	"vem_stats":   8, // struct vem_counters: __u64 only
	"vem_learned": 4, // __s32 per slot, incremented and decremented
}

// errNotConvertible refuses a migration.
var errNotConvertible = errors.New("not convertible")

// mapMigration is one pinned map being migrated.
type mapMigration struct {
	name     string
	pin      string
	spec     *ebpf.MapSpec // the new layout's spec
	old, new *ebpf.Map
	from, to Layout
	conv     Converter
	perCPU   bool
	ncpu     int
	counter  int               // counter width of a counter map, 0 if none
	snap     map[string][]byte // key (new layout) -> converted value at the copy
	copied   int
}

// migration is every pinned map of an instance that the new objects
// cannot adopt as it is.
type migration struct {
	dir  string
	maps []*mapMigration
	// Took is how long the copies, catch-up and commit took.
	Took time.Duration
}

// planMigration plans the migration of the maps pinned in dir into specs
// (planMaps, step 1) and copies every one whose layout changed into a new
// map of the new layout (step 2). It returns an error wrapping
// ebpf.ErrMapIncompatible, having touched nothing, when a map cannot be
// converted.
func planMigration(dir string, specs map[string]*ebpf.MapSpec) (_ *migration, err error) {
	start := time.Now()
	mig := &migration{dir: dir}
	defer func() {
		if err != nil {
			mig.abort()
		}
	}()
	if mig.maps, _, err = planMaps(dir, specs); err != nil {
		return nil, err
	}
	for _, mm := range mig.maps {
		ns := mm.spec.Copy()
		ns.Pinning = ebpf.PinNone
		if mm.new, err = ebpf.NewMap(ns); err != nil {
			return nil, fmt.Errorf("create map %s in its new layout: %w", mm.name, err)
		}
		if err := mm.copy(); err != nil {
			return nil, mm.refuse(err)
		}
	}
	mig.Took = time.Since(start)
	return mig, nil
}

func layoutOf(m *ebpf.Map) Layout {
	return Layout{Type: m.Type(), KeySize: m.KeySize(), ValueSize: m.ValueSize(), MaxEntries: m.MaxEntries(), Flags: m.Flags()}
}

// copyable reports whether entries of t can be copied with lookups and
// updates, and whether its values are per CPU.
func copyable(t ebpf.MapType) (ok, perCPU bool) {
	switch t {
	case ebpf.Hash, ebpf.LRUHash, ebpf.Array, ebpf.LPMTrie:
		return true, false
	case ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.PerCPUArray:
		return true, true
	}
	return false, false
}

func isArray(t ebpf.MapType) bool { return t == ebpf.Array || t == ebpf.PerCPUArray }

// choose picks the conversion of mm, or refuses it.
func (mm *mapMigration) choose() error {
	okFrom, pcFrom := copyable(mm.from.Type)
	okTo, pcTo := copyable(mm.to.Type)
	if !okFrom || !okTo {
		return fmt.Errorf("%w: entries of a %s cannot be copied into a %s", errNotConvertible, mm.from.Type, mm.to.Type)
	}
	mm.perCPU = pcTo
	if mm.perCPU {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return err
		}
		mm.ncpu = n
	}
	for _, c := range converters[mm.name] {
		if c.Applies != nil && c.Applies(mm.from, mm.to) {
			mm.conv = c
			break
		}
	}
	if pcFrom != pcTo {
		return fmt.Errorf("%w: per-CPU values and shared values do not convert", errNotConvertible)
	}
	if mm.conv.Key == nil && mm.from.KeySize != mm.to.KeySize {
		return fmt.Errorf("%w: the key changed size and no converter is registered", errNotConvertible)
	}
	if mm.conv.Name == "" {
		mm.conv.Name = "copy"
		switch {
		case mm.to.ValueSize > mm.from.ValueSize:
			mm.conv.Name = "copy, appended fields zero"
		case mm.to.ValueSize < mm.from.ValueSize:
			mm.conv.Name = "copy, dropped tail must be zero"
		}
	}
	return nil
}

// convert returns the key and value (per CPU, concatenated) of one entry
// in the new layout.
func (mm *mapMigration) convert(key []byte, vals [][]byte) ([]byte, []byte, error) {
	nk := key
	if mm.conv.Key != nil {
		nk = make([]byte, mm.to.KeySize)
		if err := mm.conv.Key(nk, key); err != nil {
			return nil, nil, fmt.Errorf("key %x: %w", key, err)
		}
	}
	nv := make([]byte, int(mm.to.ValueSize)*len(vals))
	for i, v := range vals {
		dst := nv[i*int(mm.to.ValueSize) : (i+1)*int(mm.to.ValueSize)]
		if mm.conv.Value != nil {
			if err := mm.conv.Value(dst, v); err != nil {
				return nil, nil, fmt.Errorf("key %x: %w", key, err)
			}
			continue
		}
		copy(dst, v)
		if len(v) > len(dst) && !allZero(v[len(dst):]) {
			return nil, nil, fmt.Errorf("%w: key %x: the %d bytes the new layout drops are in use (%x) and no converter is registered",
				errNotConvertible, key, len(v)-len(dst), v[len(dst):])
		}
	}
	return nk, nv, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lookup reads one entry of m: one value, or one per CPU.
func lookup(m *ebpf.Map, perCPU bool, ncpu int, key []byte) ([][]byte, error) {
	if perCPU {
		vals := make([][]byte, ncpu)
		if err := m.Lookup(key, vals); err != nil {
			return nil, err
		}
		return vals, nil
	}
	v := make([]byte, m.ValueSize())
	if err := m.Lookup(key, v); err != nil {
		return nil, err
	}
	return [][]byte{v}, nil
}

// update writes one entry of the new map from its concatenated value.
func (mm *mapMigration) update(key, val []byte, flags ebpf.MapUpdateFlags) error {
	if mm.perCPU {
		vals := make([][]byte, mm.ncpu)
		for i := range vals {
			vals[i] = val[i*int(mm.to.ValueSize) : (i+1)*int(mm.to.ValueSize)]
		}
		return mm.new.Update(key, vals, flags)
	}
	return mm.new.Update(key, val, flags)
}

// each calls fn for every entry of the old map, converted. Entries deleted
// while it walks are skipped; a walk the kernel restarts (its cursor
// deleted) does not visit an entry twice.
func (mm *mapMigration) each(fn func(key, val []byte) error) error {
	seen := map[string]bool{}
	var cur []byte
	for steps := 0; steps < 4*int(mm.from.MaxEntries)+16; steps++ {
		next := make([]byte, mm.from.KeySize)
		var err error
		if cur == nil {
			err = mm.old.NextKey(nil, &next)
		} else {
			err = mm.old.NextKey(cur, &next)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		cur = next
		if seen[string(next)] {
			continue
		}
		seen[string(next)] = true
		if isArray(mm.from.Type) && binary.NativeEndian.Uint32(next) >= mm.from.MaxEntries {
			return nil
		}
		vals, err := lookup(mm.old, mm.perCPU, mm.ncpu, next)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lookup %x: %w", next, err)
		}
		nk, nv, err := mm.convert(next, vals)
		if err != nil {
			return err
		}
		if err := fn(nk, nv); err != nil {
			return err
		}
	}
	return fmt.Errorf("walk of %d entries at most did not end", mm.from.MaxEntries)
}

// copy fills the new map from the old one and remembers what it copied.
func (mm *mapMigration) copy() error {
	mm.snap = map[string][]byte{}
	mm.copied = 0
	return mm.each(func(key, val []byte) error {
		mm.snap[string(key)] = val
		write, err := mm.fits(key, val)
		if err != nil || !write {
			return err
		}
		if err := mm.update(key, val, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("copy entry %x: %w", key, err)
		}
		mm.copied++
		return nil
	})
}

// catchUp copies into the new map what the old programs wrote after the
// copy (step 6 of the ordering above). The old programs must be out of
// every link and finished.
func (mm *mapMigration) catchUp() (int, error) {
	n := 0
	err := mm.each(func(key, val []byte) error {
		snap, had := mm.snap[string(key)]
		if had && bytes.Equal(snap, val) {
			return nil
		}
		if isArray(mm.to.Type) && binary.NativeEndian.Uint32(key) >= mm.to.MaxEntries {
			return nil
		}
		cur, err := lookup(mm.new, mm.perCPU, mm.ncpu, key)
		present := err == nil
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("lookup %x: %w", key, err)
		}
		curFlat := bytes.Join(cur, nil)
		switch {
		case mm.counter > 0 && present:
			if !had {
				snap = make([]byte, len(val))
			}
			addDelta(curFlat, val, snap, mm.counter)
			err = mm.update(key, curFlat, ebpf.UpdateExist)
		case !present:
			err = mm.update(key, val, ebpf.UpdateNoExist)
			if errors.Is(err, ebpf.ErrKeyExist) {
				err = nil // the new programs inserted it first: theirs is fresher
			}
		case had && bytes.Equal(curFlat, snap):
			err = mm.update(key, val, ebpf.UpdateExist)
		default:
			return nil // written by the new programs since: fresher
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("catch up %x: %w", key, err)
		}
		n++
		return nil
	})
	return n, err
}

// addDelta adds now-then to cur, counter by counter of width bytes.
func addDelta(cur, now, then []byte, width int) {
	for i := 0; i+width <= len(cur) && i+width <= len(now); i += width {
		switch width {
		case 8:
			d := binary.NativeEndian.Uint64(now[i:]) - binary.NativeEndian.Uint64(then[i:])
			binary.NativeEndian.PutUint64(cur[i:], binary.NativeEndian.Uint64(cur[i:])+d)
		case 4:
			d := binary.NativeEndian.Uint32(now[i:]) - binary.NativeEndian.Uint32(then[i:])
			binary.NativeEndian.PutUint32(cur[i:], binary.NativeEndian.Uint32(cur[i:])+d)
		}
	}
}

// empty reports whether nothing needs migrating.
func (mig *migration) empty() bool { return mig == nil || len(mig.maps) == 0 }

// replacements are the new maps the new programs are loaded against.
func (mig *migration) replacements() map[string]*ebpf.Map {
	if mig.empty() {
		return nil
	}
	r := map[string]*ebpf.Map{}
	for _, mm := range mig.maps {
		r[mm.name] = mm.new
	}
	return r
}

// Names lists the migrated maps with their conversion.
func (mig *migration) names() []string {
	var out []string
	for _, mm := range mig.maps {
		out = append(out, fmt.Sprintf("%s (%s -> %s: %s, %d entries)", mm.name, mm.from, mm.to, mm.conv.Name, mm.copied))
	}
	return out
}

// catchUp runs every map's catch-up once the old programs are gone.
func (mig *migration) catchUp() error {
	start := time.Now()
	waitForPrograms()
	for _, mm := range mig.maps {
		if _, err := mm.catchUp(); err != nil {
			return fmt.Errorf("map %s: %w", mm.name, err)
		}
	}
	mig.Took += time.Since(start)
	return nil
}

// tmpPin is where a new map is pinned before it replaces pin: beside it
// (rename stays in the directory), a name no map has (bpffs refuses dots).
func tmpPin(pin string) string { return pin + "__migrating" }

// commit replaces each old pin with its new map: pinned under a temporary
// name first (all of them: a failure there removes them and leaves the old
// pins), then renamed over the old pin, which is atomic (bpffs supports
// rename): a reader of the pin sees the old map or the new one, never none.
func (mig *migration) commit() error {
	start := time.Now()
	for _, mm := range mig.maps {
		tmp := tmpPin(mm.pin)
		os.Remove(tmp) // left by an upgrade that died here
		if err := mm.new.Pin(tmp); err != nil {
			mig.removeTemps()
			return fmt.Errorf("pin new %s: %w", mm.name, err)
		}
	}
	for _, mm := range mig.maps {
		if err := os.Rename(tmpPin(mm.pin), mm.pin); err != nil {
			return fmt.Errorf("replace pin %s: %w", mm.pin, err)
		}
	}
	mig.Took += time.Since(start)
	return nil
}

func (mig *migration) removeTemps() {
	for _, mm := range mig.maps {
		os.Remove(tmpPin(mm.pin))
	}
}

// abort drops the new maps; the old pins were not touched.
func (mig *migration) abort() {
	if mig == nil {
		return
	}
	mig.removeTemps()
	mig.close()
}

// close releases the migration's handles (pins and the programs using the
// maps keep them alive).
func (mig *migration) close() {
	if mig == nil {
		return
	}
	for _, mm := range mig.maps {
		mm.old.Close()
		if mm.new != nil {
			mm.new.Close()
		}
	}
}

// waitForPrograms returns once every eBPF program running when it was
// called has finished: updating a map-in-map makes the kernel wait for an
// RCU grace period (maybe_wait_bpf_programs), and tc programs run inside
// RCU read sections.
func waitForPrograms() {
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	im, err := ebpf.NewMap(inner)
	if err == nil {
		defer im.Close()
		var outer *ebpf.Map
		outer, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner})
		if err == nil {
			defer outer.Close()
			err = outer.Update(uint32(0), im, ebpf.UpdateAny)
		}
	}
	if err != nil {
		time.Sleep(50 * time.Millisecond) // a grace period is milliseconds
	}
}
