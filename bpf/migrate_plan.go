package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cilium/ebpf"
)

// Planning a migration (step 1 of the ordering in migrate.go), shared by
// the real migration (planMigration, inside Open) and by the dry run of an
// upgrade (PlanUpgrade: `vem-agent upgrade-check`), which writes nothing.

// planMaps compares every map pinned in dir with specs and chooses the
// conversion of each one whose layout changed. The returned migrations
// hold the old maps open (close them); the adopted names are the pinned
// maps specs take as they are. Nothing is written; a map that cannot be
// converted is refused with an error wrapping ebpf.ErrMapIncompatible.
func planMaps(dir string, specs map[string]*ebpf.MapSpec) (_ []*mapMigration, adopted []string, err error) {
	var maps []*mapMigration
	defer func() {
		if err != nil {
			for _, mm := range maps {
				mm.old.Close()
			}
		}
	}()
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names) // the same order, and so the same first refusal, every time
	for _, name := range names {
		spec := specs[name]
		if spec.Pinning != ebpf.PinByName {
			continue
		}
		pin := filepath.Join(dir, spec.Name)
		old, err := ebpf.LoadPinnedMap(pin, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("load pinned map %s: %w", pin, err)
		}
		if spec.Compatible(old) == nil {
			old.Close()
			adopted = append(adopted, name)
			continue
		}
		mm := &mapMigration{name: name, pin: pin, spec: spec, old: old, from: layoutOf(old), counter: counterMaps[name]}
		maps = append(maps, mm)
		mm.to = Layout{Type: spec.Type, KeySize: spec.KeySize, ValueSize: spec.ValueSize, MaxEntries: spec.MaxEntries, Flags: spec.Flags}
		if err := mm.choose(); err != nil {
			return nil, nil, fmt.Errorf("map %s (%s, now %s): %w: %w", name, mm.from, mm.to, err, ebpf.ErrMapIncompatible)
		}
	}
	return maps, adopted, nil
}

// refuse wraps an error of mm's copy or check with the map and its
// layouts, and an unconvertible entry with ebpf.ErrMapIncompatible.
func (mm *mapMigration) refuse(err error) error {
	if errors.Is(err, errNotConvertible) {
		err = fmt.Errorf("%w: %w", err, ebpf.ErrMapIncompatible)
	}
	return fmt.Errorf("map %s (%s, now %s): %w", mm.name, mm.from, mm.to, err)
}

// fits decides whether one converted entry, the next after mm.copied
// written ones, goes into the new layout: write reports whether it must be
// written (an array's zero entries need not be); an error refuses the
// migration.
func (mm *mapMigration) fits(key, val []byte) (write bool, err error) {
	if allZero(val) && isArray(mm.to.Type) {
		return false, nil // arrays start zeroed; zeros beyond a shrunk one lose nothing
	}
	if isArray(mm.to.Type) && binary.NativeEndian.Uint32(key) >= mm.to.MaxEntries {
		return false, fmt.Errorf("%w: index %d is in use and the array now ends at %d", errNotConvertible, binary.NativeEndian.Uint32(key), mm.to.MaxEntries)
	}
	if !isArray(mm.to.Type) && uint32(mm.copied) >= mm.to.MaxEntries {
		return false, fmt.Errorf("%w: more than the %d entries the new map holds", errNotConvertible, mm.to.MaxEntries)
	}
	return true, nil
}

// check walks the old map as copy would, converting every entry and
// deciding whether it fits, and writes nothing: mm.copied is the number of
// entries the copy would write.
func (mm *mapMigration) check() error {
	mm.copied = 0
	err := mm.each(func(key, val []byte) error {
		write, err := mm.fits(key, val)
		if err == nil && write {
			mm.copied++
		}
		return err
	})
	if err != nil {
		return mm.refuse(err)
	}
	return nil
}

// MapPlan is what an upgrade would do with one pinned map whose layout
// the new build changes.
type MapPlan struct {
	// Name is the map's name (its pin's).
	Name string
	// From is the pinned layout, To this build's.
	From, To Layout
	// Conversion says how the entries convert ("copy, appended fields
	// zero", or a registered converter's name).
	Conversion string
	// Entries is how many entries the copy would write.
	Entries int
}

func (p MapPlan) String() string {
	return fmt.Sprintf("%s (%s -> %s: %s, %d entries)", p.Name, p.From, p.To, p.Conversion, p.Entries)
}

// UpgradePlan is what starting this build on an instance would do with
// its pinned datapath, found without writing anything (PlanUpgrade).
type UpgradePlan struct {
	// PinDir is the instance's pin directory.
	PinDir string
	// Pinned reports whether the instance has pins at all (false: this
	// build would start it empty).
	Pinned bool
	// Adopted are the pinned maps this build takes as they are.
	Adopted []string
	// Migrate are the pinned maps this build would migrate.
	Migrate []MapPlan
	// Created are the maps this build declares that are not pinned yet
	// (created empty at start).
	Created []string
	// Programs are the programs the kernel's verifier accepted.
	Programs []string
	// Took is how long the walk of the migrating maps took.
	Took time.Duration
}

// PlanUpgrade is the dry run of starting this build's datapath on an
// instance whose maps an older (or newer) build pinned: it plans the
// migration of every pinned map (each entry converted and checked against
// the new layout) and loads this build's programs into the kernel, against
// unpinned maps of the new layouts, so that the verifier accepts or refuses
// them on this kernel. It pins, attaches, creates and writes nothing in the
// instance (the programs and maps it loads are freed when it returns) and
// mounts nothing: without a pin directory the instance is simply not
// pinned. A map that cannot be migrated fails with an error wrapping
// ebpf.ErrMapIncompatible that names it, as Open would refuse it.
func PlanUpgrade(instance string) (*UpgradePlan, error) {
	if err := checkInstance(instance); err != nil {
		return nil, err
	}
	spec, err := loadVem()
	if err != nil {
		return nil, err
	}
	return planUpgrade(PinDir(instance), spec)
}

// planUpgrade is PlanUpgrade for the pins in dir and the objects of spec.
func planUpgrade(dir string, spec *ebpf.CollectionSpec) (*UpgradePlan, error) {
	p := &UpgradePlan{PinDir: dir}
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("pin directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("pin directory %s is not a directory", dir)
	default:
		p.Pinned = true
	}
	if p.Pinned {
		start := time.Now()
		maps, adopted, err := planMaps(dir, spec.Maps)
		if err != nil {
			return nil, fmt.Errorf("plan the migration of %s: %w", dir, err)
		}
		defer func() {
			for _, mm := range maps {
				mm.old.Close()
			}
		}()
		p.Adopted = adopted
		for _, mm := range maps {
			if err := mm.check(); err != nil {
				return nil, fmt.Errorf("plan the migration of %s: %w", dir, err)
			}
			p.Migrate = append(p.Migrate, MapPlan{Name: mm.name, From: mm.from, To: mm.to, Conversion: mm.conv.Name, Entries: mm.copied})
		}
		p.Took = time.Since(start)
	}
	known := map[string]bool{}
	for _, n := range p.Adopted {
		known[n] = true
	}
	for _, m := range p.Migrate {
		known[m.Name] = true
	}
	for name, ms := range spec.Maps {
		if ms.Pinning == ebpf.PinByName && !known[name] {
			p.Created = append(p.Created, name)
		}
	}
	sort.Strings(p.Created)
	progs, err := verifyPrograms(spec)
	if err != nil {
		return nil, err
	}
	p.Programs = progs
	return p, nil
}

// verifyPrograms loads every program of spec into the kernel, against
// fresh unpinned maps of spec's layouts, and frees them again: the
// verifier's verdict on this kernel, with nothing pinned or attached.
func verifyPrograms(spec *ebpf.CollectionSpec) ([]string, error) {
	s := spec.Copy()
	for _, m := range s.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollection(s)
	if err != nil {
		return nil, fmt.Errorf("load the programs (nothing attached): %w", err)
	}
	defer coll.Close()
	names := make([]string, 0, len(coll.Programs))
	for name := range coll.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}
