package topo

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns two namespaces joined by veth eth0 -- eth0 with fixed MACs.
func pair(t *testing.T, tp *Topology, opts ...VethOption) (a, b *NS) {
	t.Helper()
	a, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err = tp.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(a, "eth0", b, "eth0", opts...); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func TestNSIsNamedAndListed(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	ns, err := tp.NS("x")
	if err != nil {
		t.Fatal(err)
	}
	if want := tp.Prefix() + "-x"; ns.Name() != want {
		t.Errorf("Name() = %q, want %q", ns.Name(), want)
	}
	if want := "/run/netns/" + ns.Name(); ns.Path() != want {
		t.Errorf("Path() = %q, want %q", ns.Path(), want)
	}
	if !netnsListed(t, ns.Name()) {
		t.Errorf("%s not in ip netns list", ns.Name())
	}
	out, err := ns.Run(context.Background(), "ip", "-o", "link", "show", "lo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "UP") {
		t.Errorf("lo is not up: %s", out)
	}
	if _, err := tp.NS("x"); err == nil {
		t.Error("NS with a duplicate name succeeded")
	}
	if _, err := tp.NS("bad/name"); err == nil {
		t.Error("NS with a slash in its name succeeded")
	}
}

func TestVethOptions(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	macA, macB := mustMAC(t, "02:00:00:00:00:0a"), mustMAC(t, "02:00:00:00:00:0b")
	a, b := pair(t, tp, MACs(macA, macB), MTU(1400))
	for _, tt := range []struct {
		ns   *NS
		want net.HardwareAddr
	}{{a, macA}, {b, macB}} {
		got, err := tt.ns.LinkMAC("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != tt.want.String() {
			t.Errorf("%s eth0 MAC = %s, want %s", tt.ns, got, tt.want)
		}
		out, err := tt.ns.Run(context.Background(), "ip", "-o", "link", "show", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "mtu 1400 ") || !strings.Contains(out, "state UP") {
			t.Errorf("%s eth0 is not up with MTU 1400: %s", tt.ns, out)
		}
		if idx, err := tt.ns.LinkIndex("eth0"); err != nil || idx <= 1 {
			t.Errorf("%s LinkIndex(eth0) = %d, %v", tt.ns, idx, err)
		}
	}
	if err := tp.Veth(a, "this-name-is-too-long", b, "x"); err == nil {
		t.Error("Veth accepted a 21-byte interface name")
	}
}

func TestPing(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	a, b := pair(t, tp)
	for _, addr := range []struct {
		ns   *NS
		cidr string
	}{
		{a, "192.0.2.1/24"}, {b, "192.0.2.2/24"},
		{a, "2001:db8::1/64"}, {b, "2001:db8::2/64"},
	} {
		if err := addr.ns.AddAddr("eth0", addr.cidr); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	tests := []struct {
		name string
		dst  string
		down bool // set b's eth0 down first
		want PingResult
	}{
		{name: "ipv4", dst: "192.0.2.2", want: PingResult{Sent: 3, Received: 3}},
		{name: "ipv6 without DAD delay", dst: "2001:db8::2", want: PingResult{Sent: 3, Received: 3}},
		{name: "no such host", dst: "192.0.2.99", want: PingResult{Sent: 3, Received: 0}},
		{name: "peer down", dst: "192.0.2.2", down: true, want: PingResult{Sent: 3, Received: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.down {
				if err := b.SetDown("eth0"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := a.Ping(ctx, tt.dst, 3, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Ping(%s) = %+v, want %+v", tt.dst, got, tt.want)
			}
		})
	}
}

func TestRouteAndSysctl(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	// h1 -- r -- h2, with r routing between 192.0.2.0/24 and 198.51.100.0/24.
	h1, err := tp.NS("h1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tp.NS("r")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := tp.NS("h2")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(h1, "eth0", r, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(h2, "eth0", r, "r2"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		ns           *NS
		ifname, cidr string
	}{
		{h1, "eth0", "192.0.2.1/24"}, {r, "r1", "192.0.2.2/24"},
		{h2, "eth0", "198.51.100.2/24"}, {r, "r2", "198.51.100.1/24"},
	} {
		if err := s.ns.AddAddr(s.ifname, s.cidr); err != nil {
			t.Fatal(err)
		}
	}
	if err := h1.AddRoute("198.51.100.0/24", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if err := h2.AddRoute("default", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	// Forwarding is off in a new namespace: the routes alone are not enough.
	if got, err := h1.Ping(ctx, "198.51.100.2", 2, 20*time.Millisecond); err != nil || got.Received != 0 {
		t.Fatalf("ping before forwarding = %+v, %v; want 0 received", got, err)
	}
	if err := r.SetSysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns   *NS
		want string
	}{{r, "1"}, {h1, "0"}} {
		out, err := c.ns.Run(ctx, "cat", "/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("%s ip_forward = %s, want %s", c.ns, got, c.want)
		}
	}
	got, err := h1.Ping(ctx, "198.51.100.2", 3, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Received != 3 {
		t.Errorf("ping through router = %+v, want 3 received", got)
	}
}

func TestDo(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	ns, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	want := nsInode(t, ns.Path())
	before := nsInode(t, "/proc/thread-self/ns/net")

	var inside uint64
	if err := ns.Do(func() error {
		inside = nsInode(t, "/proc/thread-self/ns/net")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside != want {
		t.Errorf("Do ran in netns inode %d, want %d", inside, want)
	}
	if after := nsInode(t, "/proc/thread-self/ns/net"); after != before {
		t.Errorf("caller's netns changed from %d to %d", before, after)
	}

	errFn := errors.New("from fn")
	if err := ns.Do(func() error { return errFn }); !errors.Is(err, errFn) {
		t.Errorf("Do() = %v, want %v", err, errFn)
	}

	// A socket made inside stays in the namespace after Do returns: the
	// namespace's own ss lists it.
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := ns.Run(context.Background(), "ss", "-Hltn")
	if err != nil {
		t.Fatal(err)
	}
	if port := ln.Addr().(*net.TCPAddr).Port; !strings.Contains(out, ":"+strconv.Itoa(port)) {
		t.Errorf("listener on port %d not seen inside the netns: %q", port, out)
	}
}

func TestStartNamespaces(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	ns, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	wantNet := nsInode(t, ns.Path())
	hostMnt := nsInode(t, "/proc/self/ns/mnt")

	tests := []struct {
		name         string
		start        func(...string) (*Proc, error)
		wantHostMnts bool
	}{
		{"Start", ns.Start, false},
		{"StartNetOnly", ns.StartNetOnly, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.start("sleep", "60")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			waitExec(t, p.Pid(), "sleep")
			if got := nsInode(t, procNS(p.Pid(), "net")); got != wantNet {
				t.Errorf("process netns inode = %d, want %d", got, wantNet)
			}
			if got := nsInode(t, procNS(p.Pid(), "mnt")) == hostMnt; got != tt.wantHostMnts {
				t.Errorf("process shares the host mount namespace = %v, want %v", got, tt.wantHostMnts)
			}
		})
	}
}

func TestNetOnlySeesHostBPFFS(t *testing.T) {
	RequireRoot(t)
	ensureBPFFS(t)
	tp := ForTest(t)
	ns, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stat := []string{"stat", "-f", "-c", "%T", "/sys/fs/bpf"}
	tests := []struct {
		name string
		run  func(context.Context, ...string) (string, error)
		want string
	}{
		{"RunNetOnly", ns.RunNetOnly, "bpf_fs"},
		// ip netns exec remounts /sys for the namespace; bpffs is not
		// mounted on the fresh sysfs.
		{"Run", ns.Run, "sysfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.run(ctx, stat...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out); got != tt.want {
				t.Errorf("/sys/fs/bpf is %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunError(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	ns, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	out, err := ns.Run(context.Background(), "sh", "-c", "echo marker-output; exit 3")
	if err == nil {
		t.Fatal("Run of a failing command returned no error")
	}
	if !strings.Contains(err.Error(), "marker-output") || !strings.Contains(out, "marker-output") {
		t.Errorf("output missing from error %q or result %q", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ns.RunNetOnly(ctx, "sleep", "30"); err == nil {
		t.Error("RunNetOnly outlived its context without error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RunNetOnly took %v after its context expired", d)
	}
}

func TestProcOutputAndStop(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t)
	ns, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ns.Start("sh", "-c", "echo hello; echo oops >&2; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	waitExec(t, p.Pid(), "sleep")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); killedBy(err) != syscall.SIGTERM {
		t.Errorf("Wait() = %v, want killed by SIGTERM", err)
	}
	if got := p.Output(); !strings.Contains(got, "hello\n") || !strings.Contains(got, "oops\n") {
		t.Errorf("Output() = %q, want stdout and stderr", got)
	}

	// A process that ignores SIGTERM is killed after the grace period.
	stubborn, err := ns.Start("sh", "-c", `trap "" TERM; exec sleep 60`)
	if err != nil {
		t.Fatal(err)
	}
	waitExec(t, stubborn.Pid(), "sleep")
	start := time.Now()
	if err := stubborn.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < StopGrace {
		t.Errorf("Stop returned after %v, before the %v grace period", d, StopGrace)
	}
	if err := stubborn.Wait(); killedBy(err) != syscall.SIGKILL {
		t.Errorf("Wait() = %v, want killed by SIGKILL", err)
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	RequireRoot(t)
	tp := ForTest(t) // its Cleanup then checks that a second Close is a no-op
	a, b := pair(t, tp)

	plain, err := a.Start("sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	netOnly, err := b.StartNetOnly("sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	// The shell is tracked; the sleep it forks is not and outlives it.
	parent, err := a.Start("sh", "-c", "sleep 300 & echo $!; wait")
	if err != nil {
		t.Fatal(err)
	}
	orphan := waitPIDLine(t, parent)

	var order []string
	for _, name := range []string{"first", "second"} {
		tp.Cleanup(func() {
			order = append(order, name)
			if _, err := os.Stat(a.Path()); err != nil {
				t.Errorf("hook %s: namespace already gone: %v", name, err)
			}
			select {
			case <-plain.Done():
			default:
				t.Errorf("hook %s: tracked process still running", name)
			}
		})
	}

	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}

	if got := strings.Join(order, ","); got != "second,first" {
		t.Errorf("hooks ran in order %q, want second,first", got)
	}
	for _, ns := range []*NS{a, b} {
		if _, err := os.Stat(ns.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", ns.Path(), err)
		}
		if netnsListed(t, ns.Name()) {
			t.Errorf("%s still in ip netns list", ns.Name())
		}
	}
	for _, p := range []*Proc{plain, netOnly, parent} {
		select {
		case <-p.Done():
		default:
			t.Errorf("%s not reaped", p)
		}
	}
	for _, pid := range []int{plain.Pid(), netOnly.Pid(), parent.Pid(), orphan} {
		if !processGone(pid) {
			t.Errorf("process %d still running", pid)
		}
	}

	if err := tp.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if _, err := tp.NS("late"); err == nil {
		t.Error("NS after Close succeeded")
	}
	if _, err := a.Start("true"); err == nil {
		t.Error("Start after Close succeeded")
	}
	ran := false
	tp.Cleanup(func() { ran = true })
	if !ran {
		t.Error("Cleanup after Close did not run its hook at once")
	}
}

// killedBy returns the signal that ended a process, from its Wait error, or
// 0 if it exited normally.
func killedBy(err error) syscall.Signal {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0
	}
	return ws.Signal()
}

// netnsListed reports whether ip netns list shows name.
func netnsListed(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

func procNS(pid int, kind string) string {
	return "/proc/" + strconv.Itoa(pid) + "/ns/" + kind
}

// waitExec waits until pid runs comm, i.e. ip or nsenter has switched
// namespaces and exec'd the command.
func waitExec(t *testing.T, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d did not exec %s", pid, comm)
}

// waitPIDLine waits for p to print a PID on a line of its own.
func waitPIDLine(t *testing.T, p *Proc) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(p.Output(), "\n"); ok {
			pid, err := strconv.Atoi(line)
			if err != nil {
				t.Fatalf("%s printed %q, want a PID", p, line)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s printed no PID", p)
	return 0
}

// processGone reports whether pid has exited: no such process, or a zombie
// left for a parent that is not this test to reap.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// ensureBPFFS mounts bpffs on /sys/fs/bpf in the host mount namespace if it is
// not there yet. It is left mounted: it is the standard location the
// datapath's own tests and the agent use.
func ensureBPFFS(t *testing.T) {
	t.Helper()
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &fs); err != nil {
		t.Fatalf("statfs /sys/fs/bpf: %v", err)
	}
	if fs.Type == unix.BPF_FS_MAGIC {
		return
	}
	if err := unix.Mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on /sys/fs/bpf: %v", err)
	}
	t.Log("mounted bpffs on /sys/fs/bpf")
}
