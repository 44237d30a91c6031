package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/topo"
)

// capBits are the capability numbers of <linux/capability.h> the unit names.
var capBits = map[string]uint{
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_PERFMON": 38, "CAP_BPF": 39,
}

// capHost is a hypervisor namespace with two VMs on one VLAN segment and
// an LACP port-channel uplink to a switch namespace, and a mount namespace
// that stands for the host's as systemd leaves it: / shared, so that
// /sys/fs/bpf propagates. The agent runs in a slave copy of it, as in a
// unit with ProtectSystem= (systemd gives such a service a mount
// namespace of its own, a slave of the host's).
type capHost struct {
	t        *testing.T
	bins     string
	host     *topo.NS
	sw       *topo.NS
	vm1      *topo.NS
	instance string
	dir      string
	cfg      string
	socket   string
	holder   *topo.Proc // keeps the "host" mount namespace alive
}

func newCapHost(t *testing.T) *capHost {
	t.Helper()
	topo.RequireRoot(t)
	for _, tool := range []string{"setpriv", "unshare", "nsenter", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the agent with the unit's capabilities: %v", tool, err)
		}
	}
	h := &capHost{t: t, bins: binaries(t), dir: t.TempDir()}
	tp := topo.ForTest(t)
	h.instance = strings.ReplaceAll(tp.Prefix(), "-", "_") + "_caps"
	h.socket = filepath.Join(h.dir, "vem.sock")
	h.cfg = filepath.Join(h.dir, "vem.yaml")
	var err error
	if h.host, err = tp.NS("host"); err != nil {
		t.Fatal(err)
	}
	tp.Cleanup(func() {
		if out, err := exec.Command(filepath.Join(h.bins, "vem-agent"), "--uninstall", "--instance", h.instance,
			"--state-dir", h.dir).CombinedOutput(); err != nil {
			t.Errorf("uninstall %s: %v: %s", h.instance, err, out)
		}
	})
	if h.sw, err = tp.NS("sw"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(h.host, "uplink0", h.sw, "sw0"); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"vm1", "vm2"} {
		ns, err := tp.NS(name)
		if err != nil {
			t.Fatal(err)
		}
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:00:00:%02x", i+1))
		if err := tp.Veth(h.host, fmt.Sprintf("tap%d", i+1), ns, "eth0", topo.MACs(nil, mac)); err != nil {
			t.Fatal(err)
		}
		if err := ns.AddAddr("eth0", fmt.Sprintf("192.0.2.%d/24", i+1)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h.vm1 = ns
		}
	}
	h.writeConfig("")
	h.holder, err = h.host.StartNetOnly("unshare", "-m", "--propagation", "unchanged", "sh", "-c",
		"mount --make-shared /sys/fs/bpf && echo shared && exec sleep 3600")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the host mount namespace", func() bool { return strings.Contains(h.holder.Output(), "shared") })
	return h
}

func (h *capHost) writeConfig(extra string) {
	h.t.Helper()
	cfg := fmt.Sprintf(`host: hv1
instance: %s
socket: %s
uplink: po1
portChannels:
  - {name: po1, mode: lacp-active, rate: fast, members: [{interface: uplink0}]}
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap1, mac: "52:54:00:00:00:01", segment: web, profile: default}
  - {interface: tap2, mac: "52:54:00:00:00:02", segment: web, profile: default}
%s`, h.instance, h.socket, extra)
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the agent as root with only caps (CAP_ names) in its bounding,
// permitted and effective sets and no_new_privs, as the unit runs it, in a
// slave mount namespace of the host's.
func (h *capHost) start(caps []string) *topo.Proc {
	h.t.Helper()
	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	p, err := h.host.StartNetOnly("nsenter", "-t", strconv.Itoa(h.holder.Pid()), "-m", "--",
		"unshare", "-m", "--propagation", "slave",
		"sh", h.protectSystem(), // ProtectSystem=strict
		"setpriv", "--bounding-set="+set, "--inh-caps=-all", "--no-new-privs", "--",
		filepath.Join(h.bins, "vem-agent"), "--config", h.cfg, "--state-dir", h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// protectSystem writes a script that does in the agent's mount namespace
// what the unit's ProtectSystem=strict does: every mount read-only but
// /proc, /sys (so /sys/fs/bpf) and /dev, and the unit's writable
// directories (StateDirectory, here the test's directory, and
// RuntimeDirectory /run/vem) bound writable; then it execs its arguments.
// It fails unless /, /etc and /usr came out read-only.
func (h *capHost) protectSystem() string {
	h.t.Helper()
	path := filepath.Join(h.dir, "protect-system.sh")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll("/run/vem", 0o755); err != nil {
		h.t.Fatal(err)
	}
	script := `set -e
rw="` + h.dir + ` /run/vem"
for d in $rw; do mount --bind "$d" "$d"; done
for mp in $(awk '{print $5}' /proc/self/mountinfo); do
	case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
	skip=
	for d in $rw; do case "$mp" in "$d"|"$d"/*) skip=1 ;; esac; done
	[ -n "$skip" ] || mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
for d in / /etc /usr /var; do
	if touch "$d/.vem-protect-system" 2>/dev/null; then rm -f "$d/.vem-protect-system"; echo "protect-system: $d is writable" >&2; exit 1; fi
done
exec "$@"
`
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// serving waits until the agent answers on its socket, or it exits.
func (h *capHost) serving(p *topo.Proc) error {
	c := api.NewClient(h.socket)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("vem-agent exited: %v\n%s", p.Wait(), p.Output())
		default:
		}
	}
	return fmt.Errorf("vem-agent not serving after 15s:\n%s", p.Output())
}

func (h *capHost) vemctl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(h.bins, "vemctl"), args...)
	cmd.Env = append(os.Environ(), "VEM_SOCKET="+h.socket)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *capHost) ping(want bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, _ := h.vm1.Ping(ctx, "192.0.2.2", 3, 200*time.Millisecond)
	if got := res.Received > 0; got != want {
		h.t.Fatalf("ping vm1 -> vm2: %d of %d answered, want answers: %v", res.Received, res.Sent, want)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// procCaps reads a process's effective capabilities and no_new_privs.
func procCaps(t *testing.T, pid int) (eff uint64, nnp bool) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapEff":
			if eff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatal(err)
			}
		case "NoNewPrivs":
			nnp = strings.TrimSpace(v) == "1"
		}
	}
	return eff, nnp
}

// unitCaps is the agent unit's CapabilityBoundingSet.
func unitCaps(t *testing.T) []string {
	t.Helper()
	caps := unitValues(t, "systemd/vem-agent.service", "Service", "CapabilityBoundingSet")
	if len(caps) == 0 {
		t.Fatal("vem-agent.service sets no CapabilityBoundingSet")
	}
	return caps
}

// permissionErrors are what the agent logs when it lacks a capability.
var permissionErrors = []string{"operation not permitted", "permission denied", "prohibited for !root"}

// TestAgentRunsWithUnitCapabilities runs the real agent with exactly the
// unit's capability set and no_new_privs, everything but its directories,
// /proc, /sys and /dev read-only: it loads and pins its programs,
// switches, runs LACP, reloads on SIGHUP, passes the unit's start gate and
// the DaemonSet's readiness probe, and a restart adopts the pins with no
// loss of forwarding. Removing a capability the set holds breaks it.
func TestAgentRunsWithUnitCapabilities(t *testing.T) {
	h := newCapHost(t)
	caps := unitCaps(t)
	p := h.start(caps)
	if err := h.serving(p); err != nil {
		t.Fatal(err)
	}

	var want uint64
	for _, c := range caps {
		bit, ok := capBits[c]
		if !ok {
			t.Fatalf("unknown capability %s in the unit", c)
		}
		want |= 1 << bit
	}
	if eff, nnp := procCaps(t, p.Pid()); eff != want || !nnp {
		t.Fatalf("agent runs with CapEff %#x no_new_privs %v, want %#x and true (is %d the agent?)", eff, nnp, want, p.Pid())
	}

	// The unit's start gate and the DaemonSet's readiness probe pass.
	gate := startGate(t, h.bins, 300)
	if out, err := runShell(gate, h.socket, h.bins); err != nil {
		t.Fatalf("ExecStartPost gate failed on a serving agent: %v\n%s", err, out)
	}
	if out, err := runShell(readinessProbe(t), h.socket, h.bins); err != nil {
		t.Fatalf("readiness probe failed on a current datapath: %v\n%s\n%s", err, out, p.Output())
	}
	h.ping(true)

	// LACP sends from its AF_PACKET socket.
	waitFor(t, 5*time.Second, "LACPDUs sent on uplink0", func() bool {
		out, err := h.vemctl("-o", "json", "show", "lacp", "counters")
		if err != nil {
			return false
		}
		var cs []api.LACPCounters
		return json.Unmarshal([]byte(out), &cs) == nil && len(cs) == 1 && cs[0].PDUsTx > 0
	})

	// ExecReload: SIGHUP reloads.
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool { return strings.Contains(p.Output(), "SIGHUP: reloading") })
	time.Sleep(500 * time.Millisecond) // the link watcher's first subscriptions
	for _, e := range permissionErrors {
		if strings.Contains(p.Output(), e) {
			t.Fatalf("agent with the unit's capabilities logged %q:\n%s", e, p.Output())
		}
	}

	// Stopped, the datapath forwards; a restart adopts it.
	if err := p.Stop(); err != nil {
		t.Fatalf("agent stop: %v\n%s", err, p.Output())
	}
	h.ping(true)
	p = h.start(caps)
	if err := h.serving(p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Output(), "adopting pinned datapath") {
		t.Fatalf("restarted agent did not adopt the pins:\n%s", p.Output())
	}
	h.ping(true)
	if err := p.Stop(); err != nil {
		t.Fatalf("agent stop: %v\n%s", err, p.Output())
	}

	// Each capability is there for a reason.
	without := func(drop ...string) []string {
		var out []string
		for _, c := range caps {
			keep := true
			for _, d := range drop {
				keep = keep && c != d
			}
			if keep {
				out = append(out, c)
			}
		}
		return out
	}
	for _, tc := range []struct {
		drop []string
		want string
	}{
		{[]string{"CAP_NET_RAW"}, "cannot open LACP socket"},
		{[]string{"CAP_SYS_ADMIN"}, "operation not permitted"},                           // setns: the link watcher
		{[]string{"CAP_SYS_ADMIN", "CAP_PERFMON"}, "prohibited for !root"},               // the verifier
		{[]string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, "operation not permitted"},          // netlink, tcx
		{[]string{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON"}, "operation not permitted"}, // bpf()
	} {
		p := h.start(without(tc.drop...))
		waitFor(t, 10*time.Second, fmt.Sprintf("%q from an agent without %v", tc.want, tc.drop), func() bool {
			return strings.Contains(p.Output(), tc.want)
		})
		p.Stop()
	}
}

// TestReadinessProbeFailsUnlessCurrent: the probe fails while the engine
// cannot apply the file (it keeps the previous state and retries), passes
// again once the file applies, and fails with no agent.
func TestReadinessProbeFailsUnlessCurrent(t *testing.T) {
	h := newCapHost(t)
	p := h.start(unitCaps(t))
	if err := h.serving(p); err != nil {
		t.Fatal(err)
	}
	probe := readinessProbe(t)
	if out, err := runShell(probe, h.socket, h.bins); err != nil {
		t.Fatalf("readiness probe failed on a current datapath: %v\n%s", err, out)
	}
	// A VXLAN segment whose VTEP address is not on the uplink: valid, but
	// the engine cannot apply it and retries.
	h.writeConfig("vtep: {address: 198.51.100.1}\n")
	cfg, _ := os.ReadFile(h.cfg)
	cfg = []byte(strings.Replace(string(cfg), "segments:\n", "segments:\n  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}\n", 1))
	if err := os.WriteFile(h.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refusal in show module", func() bool {
		out, err := h.vemctl("-o", "json", "show", "module")
		return err == nil && strings.Contains(out, `"configError"`)
	})
	if out, err := runShell(probe, h.socket, h.bins); err == nil {
		mod, _ := h.vemctl("show", "module")
		t.Fatalf("readiness probe passed while the datapath is not the file's:\n%s\n%s", out, mod)
	}
	h.ping(true) // the previous state keeps forwarding meanwhile
	// Readiness is the engine's; the API still answers (liveness).
	if _, err := h.vemctl("show", "module"); err != nil {
		t.Fatal(err)
	}
	h.writeConfig("")
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the readiness probe to pass again", func() bool {
		_, err := runShell(probe, h.socket, h.bins)
		return err == nil
	})
	// No agent: not ready, and the start gate gives up.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := runShell(probe, h.socket, h.bins); err == nil {
		t.Fatal("readiness probe passed with no agent")
	}
	if out, err := runShell(startGate(t, h.bins, 3), h.socket, h.bins); err == nil || !strings.Contains(out, "not answering") {
		t.Fatalf("start gate passed with no agent (%v):\n%s", err, out)
	}
}

// runShell runs a probe or unit command line (argv) with VEM_SOCKET set and
// the built binaries first on PATH, as the image and the unit have them.
func runShell(argv []string, socket, bins string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "VEM_SOCKET="+socket, "PATH="+bins+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startGate is the unit's ExecStartPost as systemd runs it ($$ is $), with
// the installed vemctl's path pointing at the built one and its loop cut
// to tries rounds.
func startGate(t *testing.T, bins string, tries int) []string {
	t.Helper()
	line := unitValue(t, "systemd/vem-agent.service", "Service", "ExecStartPost")
	const prefix = "/bin/sh -c '"
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "'") {
		t.Fatalf("ExecStartPost is not a /bin/sh -c '…' line: %s", line)
	}
	script := strings.TrimSuffix(strings.TrimPrefix(line, prefix), "'")
	script = strings.ReplaceAll(script, "$$", "$")
	script = strings.ReplaceAll(script, "/usr/local/bin/", bins+"/")
	if tries != 300 {
		script = strings.Replace(script, "-lt 300", "-lt "+strconv.Itoa(tries), 1)
	}
	return []string{"/bin/sh", "-c", script}
}
