package hostcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// fakeHost meets every requirement: kernel 6.12, every path present, tcx,
// a bpffs that outlives the agent, eth1 and eth2 at MTU 9000. Dial is
// real (tests listen on loopback).
func fakeHost() Host {
	return Host{
		KernelRelease: func() (string, error) { return "6.12.48+deb13-amd64", nil },
		Exists:        func(string) error { return nil },
		TCX:           func() error { return nil },
		BPFFS:         func(string) error { return nil },
		Link: func(name string) (int, error) {
			if name == "eth1" || name == "eth2" {
				return 9000, nil
			}
			return 0, fmt.Errorf("%s: %w", name, ErrNoLink)
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "unix" {
				a, b := net.Pipe() // libvirtd answers
				b.Close()
				return a, nil
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		ReadFile: os.ReadFile,
		Now:      time.Now,
		Timeout:  2 * time.Second,
		BTFPath:  DefaultBTFPath, PinDir: DefaultPinDir, LibvirtSocket: DefaultLibvirtSocket,
	}
}

// standalone is a file with a VXLAN segment of MTU 1500 over an LACP
// bundle of eth1 and eth2.
const standalone = `host: hv1
uplink: po1
vtep: {address: 198.51.100.1}
portChannels:
  - {name: po1, mode: lacp-active, members: [{interface: eth1}, {interface: eth2}]}
segments:
  - {name: db, type: vxlan, vni: 5001, mtu: 1500, vteps: [198.51.100.2]}
`

func parse(t *testing.T, y string) Config {
	t.Helper()
	sw, err := spec.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return Config{Path: "/etc/vem/vem.yaml", Switch: sw}
}

// statuses maps items to their status.
func statuses(rs []Result) map[string]Status {
	out := map[string]Status{}
	for _, r := range rs {
		out[r.Item] = r.Status
	}
	return out
}

func find(t *testing.T, rs []Result, item string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Item == item {
			return r
		}
	}
	t.Fatalf("no item %s in %+v", item, rs)
	return Result{}
}

func TestAllMet(t *testing.T) {
	rs := fakeHost().Run(context.Background(), parse(t, standalone))
	want := map[string]Status{"kernel": OK, "btf": OK, "tcx": OK, "bpffs": OK, "config": OK, "uplink": OK,
		"uplink-mtu": OK, "libvirtd": OK, "vsm": Skip}
	got := statuses(rs)
	for item, st := range want {
		if got[item] != st {
			t.Errorf("%s: %v, want %v (%+v)", item, got[item], st, find(t, rs, item))
		}
	}
	if Failed(rs) {
		t.Error("Failed() with every requirement met")
	}
	var b bytes.Buffer
	Print(&b, rs)
	if !strings.Contains(b.String(), "OK    uplink-mtu  MTU carries VXLAN: 1550 needed") {
		t.Errorf("report:\n%s", b.String())
	}
}

// TestEachMissing takes each requirement away in turn: that item, and
// only that one, is reported with a fix; required ones fail the check.
func TestEachMissing(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		break_ func(*Host)
		item   string
		status Status
		detail string // a substring of the item's detail
	}{
		{"old kernel", standalone, func(h *Host) {
			h.KernelRelease = func() (string, error) { return "6.1.0-40-amd64", nil }
		}, "kernel", Fail, "6.1.0-40-amd64 is older than 6.6"},
		{"kernel 5.15", standalone, func(h *Host) {
			h.KernelRelease = func() (string, error) { return "5.15.0", nil }
		}, "kernel", Fail, "older than 6.6"},
		{"unreadable release", standalone, func(h *Host) {
			h.KernelRelease = func() (string, error) { return "weird", nil }
		}, "kernel", Fail, "not MAJOR.MINOR"},
		{"no BTF", standalone, func(h *Host) {
			h.Exists = func(p string) error {
				if p == DefaultBTFPath {
					return os.ErrNotExist
				}
				return nil
			}
		}, "btf", Fail, "/sys/kernel/btf/vmlinux missing"},
		{"no tcx", standalone, func(h *Host) {
			h.TCX = func() error { return errors.New("attach a tcx link: not supported") }
		}, "tcx", Fail, "no tcx"},
		{"not root", standalone, func(h *Host) {
			h.TCX = func() error { return fmt.Errorf("load a test classifier: %w", os.ErrPermission) }
		}, "tcx", Fail, "not permitted"},
		{"bpffs private (ip netns exec)", standalone, func(h *Host) {
			h.BPFFS = func(string) error { return fmt.Errorf("x: %w", bpf.ErrPrivateBPFFS) }
		}, "bpffs", Fail, "would die with the agent"},
		{"bpffs not mounted yet", standalone, func(h *Host) {
			h.BPFFS = func(string) error { return fmt.Errorf("x: %w", bpf.ErrNoBPFFS) }
		}, "bpffs", Warn, "the agent mounts one at start"},
		{"member missing", strings.Replace(standalone, "eth2", "eth9", 1), nil, "uplink", Fail, "no interface eth9"},
		{"plain uplink missing", "host: hv1\nuplink: eth7\nsegments: [{name: web, type: vlan, vlan: 100}]\n", nil,
			"uplink", Fail, "uplink eth7: no interface eth7"},
		{"MTU too small", standalone, func(h *Host) {
			h.Link = func(string) (int, error) { return 1500, nil }
		}, "uplink-mtu", Fail, "VXLAN needs MTU 1550 (the largest VXLAN segment's MTU plus 50): eth1 has 1500, eth2 has 1500"},
		{"jumbo segment", strings.Replace(standalone, "mtu: 1500", "mtu: 8950", 1), func(h *Host) {
			h.Link = func(string) (int, error) { return 8999, nil }
		}, "uplink-mtu", Fail, "needs MTU 9000"},
		{"no libvirtd", standalone, func(h *Host) {
			h.Exists = func(p string) error {
				if p == DefaultLibvirtSocket {
					return os.ErrNotExist
				}
				return nil
			}
		}, "libvirtd", Warn, "no socket /run/libvirt/libvirt-sock"},
		{"libvirtd not answering", standalone, func(h *Host) {
			h.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("connection refused") }
		}, "libvirtd", Warn, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost()
			if tt.break_ != nil {
				tt.break_(&h)
			}
			rs := h.Run(context.Background(), parse(t, tt.cfg))
			r := find(t, rs, tt.item)
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) || r.Fix == "" {
				t.Errorf("%s = %+v, want %v with %q and a fix", tt.item, r, tt.status, tt.detail)
			}
			for _, o := range rs {
				if o.Item != tt.item && (o.Status == Fail || o.Status == Warn) && !(tt.item == "uplink" && o.Item == "uplink-mtu") {
					t.Errorf("%s also reported: %+v", o.Item, o)
				}
			}
			if Failed(rs) != (tt.status == Fail) {
				t.Errorf("Failed() = %v with %s %v", Failed(rs), tt.item, tt.status)
			}
		})
	}
}

func TestNoConfig(t *testing.T) {
	rs := fakeHost().Run(context.Background(), Config{})
	got := statuses(rs)
	if got["config"] != Skip || Failed(rs) {
		t.Errorf("without a file: %+v", rs)
	}
	if _, ok := got["uplink"]; ok {
		t.Errorf("uplink checked without a file: %+v", rs)
	}
	rs = fakeHost().Run(context.Background(), Config{Path: "/x.yaml", Err: errors.New("line 3: segments[0].vlan: 5000 is outside 1..4094")})
	if r := find(t, rs, "config"); r.Status != Fail || !strings.Contains(r.Detail, "5000 is outside") {
		t.Errorf("bad file: %+v", r)
	}
}

func TestParseRelease(t *testing.T) {
	for rel, want := range map[string][2]int{"6.6.0": {6, 6}, "6.12.48+deb13-amd64": {6, 12}, "7.0-rc1": {7, 0}, "6.18.44-fc-v1147": {6, 18}} {
		a, b, err := parseRelease(rel)
		if err != nil || a != want[0] || b != want[1] {
			t.Errorf("parseRelease(%q) = %d, %d, %v", rel, a, b, err)
		}
	}
}
