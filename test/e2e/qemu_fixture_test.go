package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/test/guest"
	"github.com/vem-switch/vem/test/libvirtd"
	"github.com/vem-switch/vem/test/topo"
)

// Real QEMU guests under a real libvirtd (package test/libvirtd), one per
// hypervisor namespace, booted from the image package test/guest builds,
// plugged into vem by the real vem-hook (libvirt's qemu hook) and
// vem-libvirt (libvirt's events). Under TCG (no usable KVM) a guest takes
// 10 to 20 s to boot on a loaded 2-core machine, so the waits are
// generous; the guests' console logs are printed when a test fails.

// guestBoot bounds a guest's boot to its NICs up.
const guestBoot = 90 * time.Second

// qemuHost is one hypervisor: vem-agent, a private libvirtd whose qemu
// hook is vem-hook, optionally vem-libvirt, and a veth "VM" probe on
// segment web to ping the guests from.
type qemuHost struct {
	*vemHost
	tp      *topo.Topology
	lv      *libvirtd.Daemon
	img     *guest.Image
	probe   *vm
	watcher *topo.Proc
	status  string // vem-libvirt's status file
	guests  []*qemuGuest
}

// qemuImage builds (or finds cached) the guest image.
func qemuImage(t *testing.T) *guest.Image {
	t.Helper()
	topo.RequireRoot(t)
	for _, bin := range []string{"/usr/bin/qemu-system-x86_64", libvirtd.Binary, "/usr/bin/virsh"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%v: the QEMU tests need qemu-system-x86 and libvirt-daemon-driver-qemu (scripts/deps.sh test)", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := guest.Build(ctx, guest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest: %s, busybox %s, %s: %s", img.KernelPackage, img.BusyboxVersion, img.Accel, img.AccelWhy)
	return img
}

// newQemuHost starts vem-agent with config cfg in ns, then a private
// libvirtd whose hook attaches to that agent. probe, if set, is the
// veth VM the config already names.
func newQemuHost(t *testing.T, tp *topo.Topology, ns *topo.NS, img *guest.Image, hookBin string, cfg func(*vemHost) string) *qemuHost {
	t.Helper()
	h := &qemuHost{vemHost: newVemHost(t, tp, ns), tp: tp, img: img}
	h.writeConfig(cfg(h.vemHost))
	h.startAgent()
	dir := t.TempDir()
	lv, err := libvirtd.New(libvirtd.Config{NS: ns, Dir: dir, Hook: hookBin, AgentSocket: h.socket})
	if err != nil {
		t.Fatal(err)
	}
	h.lv = lv
	t.Cleanup(func() {
		if t.Failed() {
			h.dumpLogs()
		}
		if err := lv.Close(); err != nil {
			t.Errorf("libvirtd in %s: %v", ns.Name(), err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := lv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// dumpLogs prints what explains a failure: consoles, hook calls, the
// daemons' logs.
func (h *qemuHost) dumpLogs() {
	for _, g := range h.guests {
		log, _ := os.ReadFile(g.d.ConsoleLog())
		h.t.Logf("%s console:\n%s", g.d.Name, log)
	}
	hooks, _ := os.ReadFile(h.lv.HookLog())
	h.t.Logf("%s hook calls (start-ns end-ns rc domain op subop):\n%s", h.ns.Name(), hooks)
	log := h.lv.Log()
	if len(log) > 8000 {
		log = log[len(log)-8000:]
	}
	h.t.Logf("%s libvirtd log (tail):\n%s", h.ns.Name(), log)
	if h.watcher != nil {
		h.t.Logf("%s vem-libvirt:\n%s", h.ns.Name(), h.watcher.Output())
	}
	if h.agent != nil {
		out := h.agent.Output()
		if len(out) > 8000 {
			out = out[len(out)-8000:]
		}
		h.t.Logf("%s vem-agent (tail):\n%s", h.ns.Name(), out)
	}
}

// startWatcher runs vem-libvirt against this host's libvirtd and agent.
func (h *qemuHost) startWatcher(bin string, args ...string) {
	h.t.Helper()
	h.status = filepath.Join(h.t.TempDir(), "libvirt-status.json")
	p, err := h.ns.StartNetOnly(append([]string{bin, "-uri", h.lv.URI(), "-socket", h.socket, "-status", h.status}, args...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.watcher = p
	waitFor(h.t, 30*time.Second, "vem-libvirt connected", func() bool {
		st, err := libvirtwatch.ReadStatus(h.status)
		return err == nil && st.Connected
	})
}

// buildWatcher builds vem-libvirt (cgo, libvirt's library).
func buildWatcher(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vem-libvirt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/vem-libvirt").CombinedOutput(); err != nil {
		t.Fatalf("build vem-libvirt: %v\n%s", err, out)
	}
	return bin
}

// watcherState returns the watcher's state of a domain's port by MAC,
// "" when it has none.
func (h *qemuHost) watcherState(domain, mac string) libvirtwatch.PortState {
	st, err := libvirtwatch.ReadStatus(h.status)
	if err != nil {
		return ""
	}
	for _, p := range st.Ports {
		if p.Domain == domain && p.MAC == mac {
			return p.State
		}
	}
	return ""
}

// port returns the agent's port on a tap, ok false when it has none.
func (h *qemuHost) port(tap string) (api.Port, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := api.NewClient(h.socket).Ports(ctx)
	if err != nil {
		return api.Port{}, false
	}
	for _, p := range ps {
		if p.Interface == tap {
			return p, true
		}
	}
	return api.Port{}, false
}

// waitPort waits until the agent has the tap attached and up (want) or
// has no port on it.
func (h *qemuHost) waitPort(tap string, want bool, d time.Duration) {
	h.t.Helper()
	what := fmt.Sprintf("%s: port %s attached and up", h.ns.Name(), tap)
	if !want {
		what = fmt.Sprintf("%s: no port %s", h.ns.Name(), tap)
	}
	waitFor(h.t, d, what, func() bool {
		p, ok := h.port(tap)
		if want {
			return ok && p.Source == "attached" && p.State == api.PortUp
		}
		return !ok
	})
}

// qemuGuest is one guest of a host.
type qemuGuest struct {
	h   *qemuHost
	d   *guest.Domain
	con *guest.Console
}

// defineGuest defines a persistent domain for the guest.
func (h *qemuHost) defineGuest(name string, nics []guest.NIC, later ...guest.NIC) *qemuGuest {
	h.t.Helper()
	g := &qemuGuest{h: h, d: &guest.Domain{Name: name, Image: h.img, NICs: nics, Later: later, Dir: h.t.TempDir()}}
	file := filepath.Join(g.d.Dir, name+".xml")
	if err := os.WriteFile(file, []byte(g.d.XML()), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.virsh("define", file)
	h.guests = append(h.guests, g)
	h.t.Cleanup(func() {
		if g.con != nil {
			g.con.Close()
		}
	})
	return g
}

// virsh runs virsh against the host's libvirtd.
func (h *qemuHost) virsh(args ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.lv.Virsh(ctx, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// start starts the guest (libvirt runs the hook); waitUp waits for its
// boot.
func (g *qemuGuest) start() {
	g.h.t.Helper()
	if g.con != nil {
		g.con.Close()
		g.con = nil
	}
	_ = os.Remove(g.d.ConsoleLog())
	g.h.virsh("start", g.d.Name)
}

// waitUp waits until the guest's init has brought up eth0..eth<n-1>.
func (g *qemuGuest) waitUp(n int) {
	g.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestBoot)
	defer cancel()
	for i := 0; i < n; i++ {
		if _, err := guest.WaitLog(ctx, g.d.ConsoleLog(), fmt.Sprintf("vem-guest: up eth%d ", i)); err != nil {
			g.h.t.Fatalf("%s: %v", g.d.Name, err)
		}
	}
}

// run runs a command in the guest through its command channel.
func (g *qemuGuest) run(cmdline string) (string, int) {
	g.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestBoot)
	defer cancel()
	if g.con == nil {
		c, err := guest.DialConsole(ctx, g.d.ChannelSocket())
		if err != nil {
			g.h.t.Fatal(err)
		}
		if err := c.Ready(ctx); err != nil {
			c.Close()
			g.h.t.Fatalf("%s: %v", g.d.Name, err)
		}
		g.con = c
	}
	out, rc, err := g.con.Run(ctx, cmdline)
	if err != nil {
		g.h.t.Fatalf("%s: %v", g.d.Name, err)
	}
	return out, rc
}

// ping pings dst from inside the guest: count replies of count, or none.
func (g *qemuGuest) ping(dst string, count int, want bool) {
	g.h.t.Helper()
	out, _ := g.run(fmt.Sprintf("ping -c %d -i 0.2 -W 2 %s", count, dst))
	got := fmt.Sprintf("%d packets received", count)
	switch {
	case want && !strings.Contains(out, got):
		g.h.t.Fatalf("%s: ping %s: want %d replies:\n%s", g.d.Name, dst, count, out)
	case !want && !strings.Contains(out, " 0 packets received"):
		g.h.t.Fatalf("%s: ping %s: want no reply (isolated):\n%s", g.d.Name, dst, out)
	}
}

// probePing pings from the host's veth VM, retrying within d until
// count of count answer (the first packets after a port change can go
// to ARP).
func (h *qemuHost) probePing(dst string, count int, d time.Duration) {
	h.t.Helper()
	var last topo.PingResult
	waitFor(h.t, d, fmt.Sprintf("%s answering %s's probe", dst, h.ns.Name()), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		last, _ = h.probe.ns.Ping(ctx, dst, count, 100*time.Millisecond)
		return last.Received == count
	})
}

// probeNoReply expects no answer to the probe's pings.
func (h *qemuHost) probeNoReply(dst string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, _ := h.probe.ns.Ping(ctx, dst, 3, 100*time.Millisecond)
	if res.Received != 0 {
		h.t.Fatalf("%s answered %d of 3 pings: want none (isolated)", dst, res.Received)
	}
}

// hookCalls returns the hook calls of a domain, as "op subop rc".
func (h *qemuHost) hookCalls(domain string) []string {
	h.t.Helper()
	calls, err := h.lv.HookCalls()
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, c := range calls {
		if c.Domain == domain {
			out = append(out, fmt.Sprintf("%s %s %d", c.Op, c.SubOp, c.Code))
		}
	}
	return out
}

// vlanHostConfig: segment web on VLAN 100 over uplink0, the probe VM's
// port in the file.
func vlanHostConfig(h *vemHost) string {
	return fmt.Sprintf(`host: hv1
instance: %s
socket: %s
uplink: uplink0
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: probe0, mac: "52:54:00:00:0f:01", segment: web, profile: default}
`, h.instance, h.socket)
}

// newVLANQemuHost is one hypervisor with a VLAN uplink to a switch
// namespace, the probe VM (192.0.2.1) and a private libvirtd.
func newVLANQemuHost(t *testing.T) *qemuHost {
	t.Helper()
	img := qemuImage(t)
	hook := buildHook(t)
	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	sw, err := tp.NS("sw")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(host, "uplink0", sw, "sw0"); err != nil {
		t.Fatal(err)
	}
	probe := newVM(t, tp, host, "probe", "probe0", "52:54:00:00:0f:01", "192.0.2.1")
	h := newQemuHost(t, tp, host, img, hook, vlanHostConfig)
	h.probe = probe
	return h
}

// webNIC is a NIC on segment web, profile default: tap gt<n>, MAC
// 52:54:00:00:0a:<n>, address 192.0.2.<10+n>.
func webNIC(n int) guest.NIC {
	return guest.NIC{Tap: fmt.Sprintf("gt%d", n), MAC: fmt.Sprintf("52:54:00:00:0a:%02x", n),
		Addr: fmt.Sprintf("192.0.2.%d/24", 10+n), Segment: "web", Profile: "default"}
}

func ipOf(n guest.NIC) string { return strings.SplitN(n.Addr, "/", 2)[0] }

// qemuPingStream pings dst from ns every 200 ms until the returned stop is
// called, which returns the replies and the requests sent.
func qemuPingStream(t *testing.T, ns *topo.NS, dst string) (stop func() (received, sent int)) {
	t.Helper()
	cmd := exec.Command("nsenter", "--net="+ns.Path(), "--", "ping", "-n", "-q", "-i", "0.2", "-W", "1", "-w", "300", dst)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return func() (int, int) {
		t.Helper()
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt) // ping prints its summary
		_ = cmd.Wait()
		m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("ping stream to %s: no summary:\n%s", dst, out.String())
		}
		s, _ := strconv.Atoi(m[1])
		r, _ := strconv.Atoi(m[2])
		return r, s
	}
}
