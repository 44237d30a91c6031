package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

const linkDir = "links"

func (d *Datapath) linkPin(ifindex int) string {
	return filepath.Join(d.dir, linkDir, strconv.Itoa(ifindex))
}

func (d *Datapath) program(kind PortKind) (*ebpf.Program, error) {
	switch kind {
	case PortVEth:
		return d.objs.VemVethIngress, nil
	case PortUplink:
		return d.objs.VemUplinkIngress, nil
	}
	return nil, fmt.Errorf("unknown port kind %d", kind)
}

// Attach puts the program for kind on ifindex's tcx ingress. A link pinned
// for that interface by an earlier agent is adopted and its program
// replaced atomically; otherwise a new link is created and pinned.
func (d *Datapath) Attach(ifindex int, kind PortKind) error {
	prog, err := d.program(kind)
	if err != nil {
		return err
	}
	pin := d.linkPin(ifindex)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if linkIfindex(l) == ifindex {
			if err := l.Update(prog); err != nil {
				return fmt.Errorf("replace program on ifindex %d: %w", ifindex, err)
			}
			return nil
		}
		// The interface this link was on is gone: drop the stale pin.
		if err := l.Unpin(); err != nil {
			return fmt.Errorf("unpin stale link %s: %w", pin, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("load pinned link %s: %w", pin, err)
	}

	l, err := link.AttachTCX(link.TCXOptions{
		Interface: ifindex,
		Program:   prog,
		Attach:    ebpf.AttachTCXIngress,
	})
	if err != nil {
		return fmt.Errorf("attach tcx ingress on ifindex %d: %w", ifindex, err)
	}
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin link on ifindex %d: %w", ifindex, err)
	}
	return nil
}

// Detach removes vem's program from ifindex. Detaching an interface that
// has no link is not an error.
func (d *Datapath) Detach(ifindex int) error {
	pin := d.linkPin(ifindex)
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load pinned link %s: %w", pin, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin link on ifindex %d: %w", ifindex, err)
	}
	// Closing the last reference detaches the program.
	return nil
}

// Attached lists the ifindexes that have a pinned vem link.
func (d *Datapath) Attached() ([]int, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, linkDir))
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []int
	for _, e := range entries {
		if i, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, i)
		}
	}
	return out, nil
}

// linkIfindex returns the interface a tcx link is attached to, 0 when the
// interface is gone.
func linkIfindex(l link.Link) int {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	tcx := info.TCX()
	if tcx == nil {
		return 0
	}
	return int(tcx.Ifindex)
}
