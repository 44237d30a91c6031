// Package bpf holds vem's eBPF datapath: the C programs (src/), their
// bpf2go bindings, and the loader that loads, pins and attaches them and
// gives typed access to their maps.
//
// Everything is pinned under /sys/fs/bpf/vem/<instance>/: maps by name and
// tcx links under links/. Programs stay attached when the agent exits; the
// next agent adopts the pinned maps and swaps its programs into the pinned
// links atomically, so a restart or an upgrade loses no packets.
package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// PinRoot is the bpffs directory every instance pins under.
const PinRoot = "/sys/fs/bpf/vem"

// Datapath is the loaded eBPF datapath of one agent instance.
type Datapath struct {
	dir  string
	objs vemObjects
	// migrated and migrateTook: what Open migrated, and how long it took.
	migrated    []string
	migrateTook time.Duration
}

// PinDir returns the directory an instance pins its maps and links in.
func PinDir(instance string) string { return filepath.Join(PinRoot, instance) }

// Open loads the datapath of an instance, adopting maps already pinned by
// an earlier agent (their contents are kept) and pinning new ones. It
// mounts bpffs on /sys/fs/bpf when nothing is mounted there.
func Open(instance string) (*Datapath, error) {
	if err := checkInstance(instance); err != nil {
		return nil, err
	}
	if err := ensureBPFFS(filepath.Dir(PinRoot)); err != nil {
		return nil, err
	}
	dir := PinDir(instance)
	if err := os.MkdirAll(filepath.Join(dir, linkDir), 0o700); err != nil {
		return nil, fmt.Errorf("create pin directory: %w", err)
	}
	d := &Datapath{dir: dir}
	spec, err := loadVem()
	if err != nil {
		return nil, err
	}
	// Maps pinned with another layout (an upgrade or a downgrade) are
	// migrated into the new one, or refused with nothing touched.
	if err := d.openMigrating(spec); err != nil {
		if isIncompatible(err) {
			return nil, fmt.Errorf("load datapath: maps pinned in %s come from an incompatible version and cannot be migrated "+
				"(the running datapath is untouched; remove them with vem-agent --uninstall to start empty): %w", dir, err)
		}
		return nil, fmt.Errorf("load datapath: %w", err)
	}
	return d, nil
}

// Close releases the agent's handles. Pinned maps and links, and so the
// forwarding, stay.
func (d *Datapath) Close() error { return d.objs.Close() }

// PinDir returns where this datapath is pinned.
func (d *Datapath) PinDir() string { return d.dir }

// Remove detaches every program of an instance and deletes its pins.
// Forwarding through that instance stops.
func Remove(instance string) error {
	if err := checkInstance(instance); err != nil {
		return err
	}
	if err := os.RemoveAll(PinDir(instance)); err != nil {
		return fmt.Errorf("remove pins of %s: %w", instance, err)
	}
	return nil
}
