package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/issu/bundle"
	"github.com/vem-switch/vem/test/topo"
)

// The in-service upgrade tests' builds, each in a bundle: the current
// code as version 1.0.0, the fixture build (-tags vemfixture: vem_stats
// one counter longer, other programs) as 1.1.0, and the fixture build that
// crashes a second after it took over (-tags vemfixture,vemissufault) as
// 1.1.1.
var (
	issuOnce  sync.Once
	issuDir   string
	issuErr   error
	issuBuild = []struct{ version, tags string }{
		{"1.0.0", ""}, {"1.1.0", "vemfixture"}, {"1.1.1", "vemfixture,vemissufault"},
	}
)

// issuBundles builds the bundles once for the package and returns their
// directories by version.
func issuBundles(t *testing.T) map[string]string {
	t.Helper()
	issuOnce.Do(func() {
		// Beside the package's binaries, which TestMain removes.
		issuDir = filepath.Join(filepath.Dir(agentBin), "issu")
		if issuErr = os.MkdirAll(issuDir, 0o755); issuErr != nil {
			return
		}
		for _, b := range issuBuild {
			bin := filepath.Join(issuDir, "vem-agent-"+b.version)
			args := []string{"build", "-ldflags", "-X main.version=" + b.version, "-o", bin}
			if b.tags != "" {
				args = append(args, "-tags", b.tags)
			}
			if out, err := exec.Command("go", append(args, "../../cmd/vem-agent")...).CombinedOutput(); err != nil {
				issuErr = fmt.Errorf("build vem-agent %s: %v\n%s", b.version, err, out)
				return
			}
			if _, err := bundle.Make(context.Background(), filepath.Join(issuDir, "bundle-"+b.version), bin, bundle.MakeOptions{}); err != nil {
				issuErr = err
				return
			}
		}
	})
	if issuErr != nil {
		t.Fatal(issuErr)
	}
	out := map[string]string{}
	for _, b := range issuBuild {
		out[b.version] = filepath.Join(issuDir, "bundle-"+b.version)
	}
	return out
}

// issuHost is a vemHost whose agent is upgraded in service: the agent's
// output goes to a file, which its successors inherit (the test's pipe
// would close when the first agent exits).
type issuHost struct {
	*vemHost
	log  string // the agents' output
	root string // the install root
}

// startISSU starts the bundle's agent on h as the running version. Every
// agent that serves h's socket by the end of the test is stopped then.
func startISSU(t *testing.T, h *vemHost, bundleDir string) *issuHost {
	t.Helper()
	ih := &issuHost{vemHost: h, log: filepath.Join(t.TempDir(), "agent.log"), root: t.TempDir()}
	bin := filepath.Join(bundleDir, bundle.AgentFile)
	p, err := h.ns.StartNetOnly("/bin/sh", "-c", `exec "$@" >>"$0" 2>&1`, ih.log, bin,
		"--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ih.stopServing(t) })
	ih.agent = p
	waitFor(t, 20*time.Second, "the agent serving", func() bool {
		_, err := ih.pid()
		return err == nil
	})
	return ih
}

// pid is the PID of the agent serving the socket.
func (ih *issuHost) pid() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := api.NewClient(ih.socket).Handover(ctx)
	return st.PID, err
}

// stopServing stops whichever agent serves the socket, by its PID, and
// waits until it is gone.
func (ih *issuHost) stopServing(t *testing.T) {
	pid, err := ih.pid()
	if err != nil {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Logf("stop agent PID %d: %v", pid, err)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// output is everything the host's agents logged.
func (ih *issuHost) output() string {
	data, _ := os.ReadFile(ih.log)
	return string(data)
}

// upgrade runs `vem-agent upgrade` with the bundle in the host's network
// namespace and returns its output and exit status.
func (ih *issuHost) upgrade(t *testing.T, bundleDir string, extra ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{agentBin, "upgrade", "--bundle", bundleDir, "--config", ih.cfgPath, "--state-dir", ih.stateDir,
		"--root", ih.root, "--phase-timeout", "20s", "--stable", "2s"}, extra...)
	out, err := ih.ns.RunNetOnly(ctx, args...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	return out, code
}

// pidWatch samples the PID serving the socket until stop is closed and
// returns the sequence of distinct PIDs seen.
func (ih *issuHost) pidWatch(stop <-chan struct{}) <-chan []int {
	out := make(chan []int, 1)
	go func() {
		var seq []int
		for {
			if pid, err := ih.pid(); err == nil && (len(seq) == 0 || seq[len(seq)-1] != pid) {
				seq = append(seq, pid)
			}
			select {
			case <-stop:
				out <- seq
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return out
}

// issuRun is one upgrade or downgrade under ping.
type issuRun struct {
	ih      *issuHost
	streams []pingStream
	segment string // whose MAC table must be kept
	port    string // whose counters must go on
	ports   []string
	minMACs int
	watch   func(stop <-chan struct{}) <-chan []string
}

// run upgrades to the bundle under ping at 1,000 per second on every
// stream and checks what must hold: no ping lost, the bundle (if watched)
// never disturbed, MACs kept, counters going on, vem_stats of wantStats
// bytes. With wantCode 0 the serving PID changes exactly once; otherwise
// the upgrade must exit with wantCode and the old agent serve again.
func (r issuRun) run(t *testing.T, name, bundleDir string, wantCode int, wantStats uint32) {
	t.Helper()
	ih := r.ih
	if r.watch == nil {
		r.watch = func(stop <-chan struct{}) <-chan []string {
			out := make(chan []string, 1)
			go func() { <-stop; out <- nil }()
			return out
		}
	}
	oldPID, err := ih.pid()
	if err != nil {
		t.Fatal(err)
	}
	macs := macSet(t, ih.vemHost, r.segment)
	before := ih.counters(r.port)
	stop := make(chan struct{})
	bundleBad, pids := r.watch(stop), ih.pidWatch(stop)
	var out string
	var code int
	var took time.Duration
	res := pingsThrough(t, r.streams, func() {
		start := time.Now()
		out, code = ih.upgrade(t, bundleDir)
		took = time.Since(start)
	})
	close(stop)
	bad, seq := <-bundleBad, <-pids
	t.Logf("%s: vem-agent upgrade took %v, exit %d:\n%s", name, took.Round(time.Millisecond), code, out)
	t.Logf("%s: PIDs serving the socket in turn: %v; %d bundle disturbances %v", name, seq, len(bad), bad[:min(len(bad), 5)])
	if code != wantCode {
		t.Fatalf("%s: exit status %d, want %d\n%s", name, code, wantCode, lastLines(ih.output(), 150))
	}
	r.checkPings(t, name, res)
	if len(bad) > 0 {
		t.Fatalf("%s: %d bundle disturbances seen: %v", name, len(bad), bad[:min(len(bad), 5)])
	}
	newPID, err := ih.pid()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case wantCode == 0 && (len(seq) != 2 || seq[0] != oldPID || seq[1] != newPID || newPID == oldPID):
		t.Fatalf("%s: PIDs serving in turn %v, want %d then one successor", name, seq, oldPID)
	case wantCode != 0 && newPID != oldPID:
		t.Fatalf("%s: PID %d serves after the rollback, want the old agent's %d (seen %v)", name, newPID, oldPID, seq)
	}
	for _, pid := range seq {
		if pid != newPID {
			waitFor(t, 15*time.Second, fmt.Sprintf("%s: PID %d, which served the socket before, gone", name, pid),
				func() bool { return !alive(pid) })
		}
	}
	if got := statsValueSize(t, ih.instance); got != wantStats {
		t.Fatalf("%s: pinned vem_stats has %d-byte values, want %d", name, got, wantStats)
	}
	after := macSet(t, ih.vemHost, r.segment)
	if len(macs) < r.minMACs {
		t.Fatalf("%s: only %d MACs learned before, want %d: %v", name, len(macs), r.minMACs, macs)
	}
	member := func(p string) string {
		if p == "e1" || p == "e2" {
			return "po1" // OVS may rebalance a MAC to the other member
		}
		return p
	}
	for mac, port := range macs {
		if member(after[mac]) != member(port) {
			t.Errorf("%s: MAC %s was on %s, now %q", name, mac, port, after[mac])
		}
	}
	t.Logf("%s: %d MACs before, all kept", name, len(macs))
	// The first stream's requests entered by the port and its replies
	// left by it, whichever program counted them.
	c, count := ih.counters(r.port), uint64(res[0].sent)
	if c.RxPackets+2 < before.RxPackets+count || c.TxPackets+2 < before.TxPackets+count {
		t.Fatalf("%s: %s counters rx %d tx %d, were %d %d before %d pings: reset or lost", name, r.port, c.RxPackets, c.TxPackets, before.RxPackets, before.TxPackets, count)
	}
}

// pingsThrough pings at 1,000 per second on every stream from half a
// second before fn until half a second after it.
func pingsThrough(t *testing.T, streams []pingStream, fn func()) []seqPing {
	t.Helper()
	ps := make([]*pinger, len(streams))
	for i, s := range streams {
		ps[i] = startPing(t, flow{s.from, s.to}, time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	fn()
	time.Sleep(500 * time.Millisecond)
	out := make([]seqPing, len(ps))
	for i, p := range ps {
		out[i] = p.stop(t)
	}
	return out
}

// checkPings fails the test if any stream lost a ping.
func (r issuRun) checkPings(t *testing.T, name string, res []seqPing) {
	t.Helper()
	for i, p := range res {
		t.Logf("%s: %s: %d sent, %d received", name, r.streams[i], p.sent, p.received)
		if p.sent == 0 || len(p.missing) > 0 {
			for _, port := range r.ports {
				c := r.ih.counters(port)
				t.Logf("%s: rx %d tx %d drops %v", port, c.RxPackets, c.TxPackets, c.Drops)
			}
			t.Fatalf("%s lost pings %s: %d of %d unanswered (first %v)\n%s", name, r.streams[i], len(p.missing), p.sent,
				p.missing[:min(10, len(p.missing))], lastLines(r.ih.output(), 150))
		}
	}
}

// alive reports whether process pid runs (a zombie, exited but not
// reaped by whoever inherited it, does not).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// lastLines is the end of a log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// issuOVSRig is the LACP rig of the upgrade test with the agent started
// from the 1.0.0 bundle: vm1 (tap1) and vm2 (tap2) on VLAN web, po1 to
// Open vSwitch, a host behind OVS on VLAN 100. It returns the ping
// streams and the partner OVS is known by.
func issuOVSRig(t *testing.T, bundles map[string]string) (*ovsRig, *issuHost, issuRun) {
	t.Helper()
	r := newOVSRig(t, "lacp-active", true, "{interface: e1}, {interface: e2}")
	h := r.host
	vm2 := newVM(t, r.swNS.Topology(), h.ns, "vm2", "tap2", "52:54:00:00:00:02", "192.0.2.2")
	cfg := pcConfig(h, "lacp-active", "{interface: e1}, {interface: e2}", r.vm.mac.String(), "")
	h.writeConfig(cfg + fmt.Sprintf("  - {interface: tap2, mac: %q, segment: web, profile: default}\n", vm2.mac))
	h.stopAgent()
	ih := startISSU(t, h, bundles["1.0.0"])
	var partner string
	waitFor(t, 20*time.Second, "both members current in OVS, bundled in vem", func() bool {
		st, err := r.sw.LACPShow("bond0")
		if err != nil || !st.Negotiated || len(st.Members) != 2 {
			return false
		}
		for _, m := range st.Members {
			if m.Status != "current" || !m.Attached || !m.MayEnable {
				return false
			}
			partner = m.Partner.System.String()
		}
		return bundled(t, h) == 2
	})
	for _, s := range []pingStream{{r.vm, "192.0.2.2"}, {r.vm, "192.0.2.100"}, {vm2, "192.0.2.100"}} {
		waitFor(t, 10*time.Second, s.String()+" answering", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := s.from.ns.Ping(ctx, s.to, 1, 100*time.Millisecond)
			return err == nil && res.Received == 1
		})
	}
	pingVM(t, r.vm, "192.0.2.100", 2, true)
	run := issuRun{
		ih: ih, streams: []pingStream{{r.vm, "192.0.2.100"}, {vm2, "192.0.2.1"}},
		segment: "web", port: "tap1", ports: []string{"tap1", "tap2", "e1", "e2"}, minMACs: 3,
		watch: func(stop <-chan struct{}) <-chan []string { return watchBundle(r, partner, stop) },
	}
	return r, ih, run
}

// TestISSUUpgradeDowngradeLosingNothing refuses a corrupt bundle with
// nothing touched, then upgrades the running agent
// (1.0.0) in service to the fixture build (1.1.0: vem_stats migrated,
// other programs) with `vem-agent upgrade`, and downgrades it back the
// same way, under ping at 1,000 per second on VLAN web between two VMs and
// across the LACP bundle to Open vSwitch: no ping lost, OVS never sees the
// bundle disturbed, learned MACs kept, counters going on, the PID serving
// the socket changes exactly once each time and each version is promoted.
func TestISSUUpgradeDowngradeLosingNothing(t *testing.T) {
	bundles := issuBundles(t)
	_, ih, run := issuOVSRig(t, bundles)

	// A bundle whose binary is not the one its manifest sums is refused
	// in validate: nothing spawned, the running agent and its pins as
	// they were (exit status 1, unchanged).
	bad := filepath.Join(t.TempDir(), "bundle-bad")
	if out, err := exec.Command("cp", "-a", bundles["1.1.0"], bad).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(bad, bundle.AgentFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	pid, _ := ih.pid()
	pinsBefore := readPins(t, ih.instance)
	out, code := ih.upgrade(t, bad)
	t.Logf("bad bundle: exit %d:\n%s", code, out)
	if code != 1 || !strings.Contains(out, "validate FAILED") || !strings.Contains(out, "sha256") && !strings.Contains(out, "checksum") {
		t.Fatalf("a corrupt bundle: exit %d, want 1 with validate failing on the checksum:\n%s", code, out)
	}
	if now, _ := ih.pid(); now != pid || fmt.Sprint(sorted(readPins(t, ih.instance).maps)) != fmt.Sprint(sorted(pinsBefore.maps)) {
		t.Fatalf("the refused bundle changed something: PID %d -> %d", pid, now)
	}

	run.run(t, "upgrade", bundles["1.1.0"], 0, fixtureStats)
	if cur, err := bundle.Current(ih.root); err != nil || cur != "1.1.0" {
		t.Fatalf("after the upgrade current is %q (%v), want 1.1.0", cur, err)
	}
	waitFor(t, 10*time.Second, "the new agent's LACP resume confirmed", func() bool {
		return strings.Count(ih.output(), "resume-confirmed") >= 2 // both members, after the takeover
	})
	run.run(t, "downgrade", bundles["1.0.0"], 0, currentStats)
	if cur, err := bundle.Current(ih.root); err != nil || cur != "1.0.0" {
		t.Fatalf("after the downgrade current is %q (%v), want 1.0.0", cur, err)
	}
	if n := strings.Count(ih.output(), "handed over; exiting without touching the datapath"); n != 2 {
		t.Fatalf("%d agents said they handed over, want 2", n)
	}
}

// TestISSURollbackLosingNothing upgrades to a build that crashes a second
// after it took over (1.1.1, -tags vemissufault): the upgrade rolls back
// by itself (exit status 2), the old agent (1.0.0) resumes in its own
// process, migrating vem_stats back, and nothing is lost meanwhile: no
// ping across the bundle or between the VMs, no bundle disturbance; the
// install root's current version is not the failed one. Then an upgrade
// cancelled by SIGINT in its stable phase rolls back (exit 2), and one
// whose orchestrator is killed mid-way is rolled back by the old agent
// alone, as losslessly.
func TestISSURollbackLosingNothing(t *testing.T) {
	bundles := issuBundles(t)
	_, ih, run := issuOVSRig(t, bundles)

	run.run(t, "rollback", bundles["1.1.1"], 2, currentStats)
	out := ih.output()
	for _, want := range []string{"vemissufault build: crashing after the switch", "handover rolled back: resuming"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agents' log does not say %q", want)
		}
	}
	if cur, err := bundle.Current(ih.root); err == nil && cur == "1.1.1" {
		t.Fatalf("the failed version %s was promoted", cur)
	}

	// The resumed agent hands over again, and the orchestrator is
	// interrupted (SIGINT, as Ctrl-C) while the successor is in its stable
	// phase: it rolls back and says so (exit status 2). Then again, and the
	// orchestrator is killed (SIGKILL): the old agent sees its session end,
	// stops the successor and resumes by itself.
	out = ih.interruptedUpgrade(t, run, bundles["1.1.0"], syscall.SIGINT)
	if !strings.Contains(out, "rolled back:") || !strings.Contains(out, "cancelled") {
		t.Fatalf("the interrupted upgrade does not say it was cancelled and rolled back:\n%s", out)
	}
	ih.interruptedUpgrade(t, run, bundles["1.1.0"], syscall.SIGKILL)
	if !strings.Contains(ih.output(), "handover session ended before its commit: rolling back") {
		t.Fatal("the old agent did not say it rolled back for the session's end")
	}
}

// interruptedUpgrade runs an upgrade to the bundle under ping and sends
// the orchestrator sig once the successor has served for a second: the
// old agent must serve again, nothing lost, the successor gone, its
// version not promoted. It returns what the orchestrator printed.
func (ih *issuHost) interruptedUpgrade(t *testing.T, run issuRun, bundleDir string, sig syscall.Signal) string {
	t.Helper()
	name := "upgrade interrupted by " + sig.String()
	oldPID, err := ih.pid()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	bundleBad := run.watch(stop)
	var succPID int
	var orch *topo.Proc
	res := pingsThrough(t, run.streams, func() {
		orch, err = ih.ns.StartNetOnly(agentBin, "upgrade", "--bundle", bundleDir, "--config", ih.cfgPath,
			"--state-dir", ih.stateDir, "--root", ih.root, "--phase-timeout", "20s", "--stable", "60s")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, name+": the successor serving", func() bool {
			pid, err := ih.pid()
			succPID = pid
			return err == nil && pid != oldPID
		})
		time.Sleep(time.Second)
		if err := syscall.Kill(orch.Pid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-orch.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the orchestrator still runs 30s after %v", name, sig)
		}
		waitFor(t, 30*time.Second, name+": the old agent serving again", func() bool {
			pid, err := ih.pid()
			return err == nil && pid == oldPID
		})
	})
	close(stop)
	bad := <-bundleBad
	t.Logf("%s: orchestrator %v:\n%s", name, orch.Wait(), orch.Output())
	run.checkPings(t, name, res)
	if len(bad) > 0 {
		t.Fatalf("%s: %d bundle disturbances: %v", name, len(bad), bad[:min(5, len(bad))])
	}
	waitFor(t, 15*time.Second, name+": the abandoned successor gone", func() bool { return !alive(succPID) })
	if got := statsValueSize(t, ih.instance); got != currentStats {
		t.Fatalf("%s: vem_stats has %d-byte values, want the old version's %d", name, got, currentStats)
	}
	if cur, err := bundle.Current(ih.root); err == nil && cur == filepath.Base(bundleDir)[len("bundle-"):] {
		t.Fatalf("%s: the abandoned version %s was promoted", name, cur)
	}
	return orch.Output()
}

// watchVSMMode samples, until stop is closed, the active VSM's show module
// row of host and the DPA of h's agent (whichever serves the socket), and
// returns every sample that shows the VEM lost: the module absent, the
// DPA headless or its headless count moving. upgrading counts the
// samples that showed the module upgrading.
func watchVSMMode(s *vsmNode, h *vemHost, host string, upgrading *int) func(stop <-chan struct{}) <-chan []string {
	return func(stop <-chan struct{}) <-chan []string {
		out := make(chan []string, 1)
		c := api.NewClient(h.socket)
		go func() {
			var bad []string
			samples := 0
			for {
				select {
				case <-stop:
					if samples == 0 {
						bad = append(bad, "no sample of the module taken")
					}
					out <- bad
					return
				case <-time.After(50 * time.Millisecond):
				}
				if m, ok := s.module(host); ok {
					samples++
					switch m.Status {
					case "absent":
						bad = append(bad, fmt.Sprintf("%s: module %d %s", time.Now().Format("15:04:05.000"), m.Module, m.Status))
					case "upgrading":
						*upgrading++
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				d, err := c.DPA(ctx)
				cancel()
				if err == nil && (d.State == "headless" || d.HeadlessSince != nil || d.Counters.HeadlessEntries > 0) {
					bad = append(bad, fmt.Sprintf("%s: DPA %s since %v (%d entries)", time.Now().Format("15:04:05.000"), d.State, d.HeadlessSince, d.Counters.HeadlessEntries))
				}
			}
		}()
		return out
	}
}

// TestISSUInVSMModeNeverAbsent upgrades hv1's agent (VSM mode, attached
// to the active of a VSM pair) in service to the fixture build,
// under ping at 1,000 per second on VLAN web (vm1 to vm2 on hv1) and
// VXLAN blue (vmA on hv1 to vmB on hv2: remote MACs against hv2's VTEP): nothing lost, the VSM's show
// module never shows hv1 absent (upgrading while the successor has not
// attached yet), the DPA never headless, the successor attached to the
// same VSM as the same module.
func TestISSUInVSMModeNeverAbsent(t *testing.T) {
	bundles := issuBundles(t)
	p := newPairedHosts(t, "")
	p.hv1.stopAgent()
	ih := startISSU(t, p.hv1, bundles["1.0.0"])
	waitFor(t, 15*time.Second, "hv1 attached to vsm-a again", func() bool {
		d := dpaStatus(t, p.hv1)
		return d.State == "attached" && d.AttachedVSM == "vsm-a"
	})
	before := dpaStatus(t, p.hv1)
	streams := []pingStream{{p.vms["vm1"], "192.0.2.2"}, {p.vms["vmA"], "192.0.2.12"}}
	for _, s := range streams {
		waitAnswering(t, 10*time.Second, flow{s.from, s.to})
	}
	upgrading := 0
	run := issuRun{ih: ih, streams: streams, segment: "web", port: "tap1", ports: []string{"tap1", "tap2", "tap3", "up0"}, minMACs: 2,
		watch: watchVSMMode(p.a, p.hv1, "hv1", &upgrading)}
	// The downgrade takes the same path (TestISSUUpgradeDowngradeLosingNothing):
	// one step keeps the test within its time.
	for _, step := range []struct{ name, version string }{{"upgrade", "1.1.0"}} {
		upgrading = 0
		wantStats := fixtureStats
		if step.version == "1.0.0" {
			wantStats = currentStats
		}
		run.run(t, step.name, bundles[step.version], 0, wantStats)
		after := dpaStatus(t, p.hv1)
		t.Logf("%s: %d samples of show module said upgrading; DPA %s to %s module %d generation %d", step.name, upgrading,
			after.State, after.AttachedVSM, after.Module, after.Generation)
		if after.State != "attached" || after.AttachedVSM != "vsm-a" || after.Module != before.Module || after.Counters.HeadlessEntries != 0 {
			t.Fatalf("%s: the successor's DPA %+v, want attached to vsm-a as module %d, never headless", step.name, after, before.Module)
		}
		if m, _ := p.a.module("hv1"); m.Status != "ok" || m.Module != int(before.Module) {
			t.Fatalf("%s: vsm-a shows hv1 %+v, want ok as module %d", step.name, m, before.Module)
		}
		if !strings.Contains(ih.output(), "VSM told of the handover") {
			t.Fatalf("%s: the old agent did not tell the VSM of the handover", step.name)
		}
	}
}
