// Package hostcheck verifies that a host can run vem-agent (`vem-agent
// check`): the kernel (version, BTF, tcx), bpffs where pins outlive the
// agent, and, from the agent's file when there is one, the uplink and its
// MTU for VXLAN, libvirtd, ovsdb-server when the Open vSwitch port source
// is on, and the VSMs with the host's certificate. Each
// item is reported OK, or with what is missing and how to fix it.
//
// Every check is a small function over the edges in Host (the kernel's
// release, paths, a dialer, a clock, …), so that tests can take each
// requirement away in turn; System returns the real ones.
package hostcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/vem-switch/vem/spec"
)

// Status is how one item fared.
type Status int

// Statuses, from best to worst.
const (
	// Skip: the item does not apply (no configuration names an uplink).
	Skip Status = iota
	// OK: the requirement is met.
	OK
	// Warn: the agent runs, but something an operator likely wants is
	// missing (libvirtd, a certificate close to expiry).
	Warn
	// Fail: the agent cannot run as configured; the check exits non-zero.
	Fail
)

func (s Status) String() string {
	switch s {
	case Skip:
		return "SKIP"
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	}
	return "FAIL"
}

// Result is one item of the check.
type Result struct {
	// Item names what was checked: kernel, btf, tcx, bpffs, config, uplink,
	// uplink-mtu, libvirtd, ovsdb, vsm-cert, vsm ADDRESS.
	Item   string
	Status Status
	// Detail says what was found.
	Detail string
	// Fix says how to meet the requirement; empty when met.
	Fix string
}

// Host holds the edges the checks read the system through.
type Host struct {
	// KernelRelease is uname -r.
	KernelRelease func() (string, error)
	// Exists reports whether a path exists (nil) or why not.
	Exists func(path string) error
	// TCX probes the kernel for tcx links: nil when it has them.
	TCX func() error
	// BPFFS tells whether pins under a directory outlive the agent
	// (bpf.CheckBPFFS).
	BPFFS func(dir string) error
	// Link returns an interface's MTU; an error wrapping ErrNoLink when
	// it does not exist.
	Link func(name string) (mtu int, err error)
	// Dial connects to a network address (tcp for VSMs, unix for libvirtd).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ReadFile reads a file (certificates).
	ReadFile func(path string) ([]byte, error)
	// Now is the clock certificates are judged by.
	Now func() time.Time
	// Timeout bounds each network check.
	Timeout time.Duration

	// BTFPath, PinDir and LibvirtSocket are where the checks look.
	BTFPath, PinDir, LibvirtSocket string
}

// Default paths.
const (
	DefaultBTFPath       = "/sys/kernel/btf/vmlinux"
	DefaultPinDir        = "/sys/fs/bpf"
	DefaultLibvirtSocket = "/run/libvirt/libvirt-sock"
)

// Config is the agent's file as the check sees it.
type Config struct {
	// Path is the file's path, for messages; "" when there is none.
	Path string
	// Switch is the parsed file; nil when there is none or it failed.
	Switch *spec.Switch
	// Err is why the file could not be read or parsed.
	Err error
}

// Run checks the host, and the items of cfg's file, in order.
func (h Host) Run(ctx context.Context, cfg Config) []Result {
	out := []Result{h.kernel(), h.btf(), h.tcx(), h.bpffs()}
	out = append(out, h.config(cfg))
	sw := cfg.Switch
	out = append(out, h.uplink(sw, cfg.Path)...)
	out = append(out, h.libvirtd(ctx))
	out = append(out, h.ovsdb(ctx, sw, cfg.Path)...)
	out = append(out, h.vsm(ctx, sw, cfg.Path)...)
	return out
}

// Failed reports whether any item failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Print writes one line per item, and the fix below each one that is not
// met.
func Print(w io.Writer, rs []Result) {
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Item))
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", r.Status, width, r.Item, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(w, "      %-*s  fix: %s\n", width, "", r.Fix)
		}
	}
}

func ok(item, format string, args ...any) Result {
	return Result{Item: item, Status: OK, Detail: fmt.Sprintf(format, args...)}
}

func skip(item, format string, args ...any) Result {
	return Result{Item: item, Status: Skip, Detail: fmt.Sprintf(format, args...)}
}

func bad(item string, st Status, fix, format string, args ...any) Result {
	return Result{Item: item, Status: st, Detail: fmt.Sprintf(format, args...), Fix: fix}
}
