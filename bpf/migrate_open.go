package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Migrated lists the maps the last Open migrated into a new layout (empty
// when every pinned map was adopted as it was), for the agent's log.
func (d *Datapath) Migrated() []string { return d.migrated }

// swappedLink is a pinned link whose program a migration replaced, with
// the program it had, to put back if the migration fails.
type swappedLink struct {
	l   link.Link
	old *ebpf.Program
}

// swapLinks puts the new programs into every pinned link whose interface
// is in the port table (step 4 of the migration). On failure the links
// already swapped get their old programs back.
func (d *Datapath) swapLinks() (_ []swappedLink, err error) {
	var done []swappedLink
	defer func() {
		if err != nil {
			restoreLinks(done)
		}
	}()
	entries, err := os.ReadDir(filepath.Join(d.dir, linkDir))
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, e := range entries {
		ifindex, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		l, err := link.LoadPinnedLink(filepath.Join(d.dir, linkDir, e.Name()), nil)
		if err != nil {
			return done, fmt.Errorf("load pinned link %s: %w", e.Name(), err)
		}
		var p vemVemPort
		if linkIfindex(l) != ifindex || d.objs.VemPorts.Lookup(uint32(ifindex), &p) != nil {
			l.Close() // gone or not a port: the agent's reconcile decides
			continue
		}
		prog, err := d.program(PortKind(p.Kind))
		if err != nil {
			l.Close()
			continue
		}
		info, err := l.Info()
		if err != nil {
			l.Close()
			return done, fmt.Errorf("link on ifindex %d: %w", ifindex, err)
		}
		old, err := ebpf.NewProgramFromID(info.Program)
		if err != nil {
			l.Close()
			return done, fmt.Errorf("program of the link on ifindex %d: %w", ifindex, err)
		}
		if err := l.Update(prog); err != nil {
			old.Close()
			l.Close()
			return done, fmt.Errorf("replace program on ifindex %d: %w", ifindex, err)
		}
		done = append(done, swappedLink{l, old})
	}
	return done, nil
}

// restoreLinks puts the old programs back, the newest swap first.
func restoreLinks(links []swappedLink) {
	for i := len(links) - 1; i >= 0; i-- {
		links[i].l.Update(links[i].old)
	}
	closeLinks(links)
}

func closeLinks(links []swappedLink) {
	for _, s := range links {
		s.l.Close()
		s.old.Close()
	}
}

// openMigrating loads spec into d, migrating the pinned maps whose layout
// changed (see migrate.go for the order and why it loses nothing). A map
// that cannot be migrated fails with an error wrapping
// ebpf.ErrMapIncompatible, nothing touched.
func (d *Datapath) openMigrating(spec *ebpf.CollectionSpec) error {
	mig, err := planMigration(d.dir, spec.Maps)
	if err != nil {
		return err
	}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: d.dir}, MapReplacements: mig.replacements()}
	if err := spec.LoadAndAssign(&d.objs, opts); err != nil {
		mig.abort()
		return err
	}
	if mig.empty() {
		return nil
	}
	fail := func(err error) error {
		mig.abort()
		d.objs.Close()
		return err
	}
	swapStart := time.Now()
	swapped, err := d.swapLinks()
	if err != nil {
		return fail(fmt.Errorf("migrate maps: %w", err))
	}
	mig.Took += time.Since(swapStart)
	if err := mig.catchUp(); err != nil {
		restoreLinks(swapped)
		return fail(fmt.Errorf("migrate maps: %w", err))
	}
	if err := mig.commit(); err != nil {
		restoreLinks(swapped)
		return fail(fmt.Errorf("migrate maps: %w", err))
	}
	closeLinks(swapped)
	d.migrated = mig.names()
	d.migrateTook = mig.Took
	mig.close()
	return nil
}

// isIncompatible reports whether err refuses a pinned map's layout.
func isIncompatible(err error) bool { return errors.Is(err, ebpf.ErrMapIncompatible) }

// MigrateTook is how long the last Open's migration took (copies, the
// swap of the new programs into every pinned link, catch-up and pin
// replacement; not the programs' load, which every start does; zero when
// nothing migrated).
func (d *Datapath) MigrateTook() time.Duration { return d.migrateTook }
