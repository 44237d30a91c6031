package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/test/topo"
)

// The agent builds the upgrade tests run besides the current one (agentBin).
var (
	variantsOnce               sync.Once
	fixtureBin, noConvBin      string
	variantsErr                error
	currentStats, fixtureStats uint32 = 288, 296 // vem_stats value sizes
)

// agentVariants builds the fixture agent (-tags vemfixture: the "next
// version", whose vem_stats holds one more counter and whose programs
// count it) and an agent without the migration converters (-tags
// vemnoconverters: a version from before them), once for the package.
func agentVariants(t *testing.T) (fixture, noConv string) {
	t.Helper()
	variantsOnce.Do(func() {
		// Beside the package's binaries, which TestMain removes.
		dir := filepath.Join(filepath.Dir(agentBin), "upgrade")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			variantsErr = err
			return
		}
		fixtureBin = filepath.Join(dir, "vem-agent-fixture")
		noConvBin = filepath.Join(dir, "vem-agent-noconverters")
		for bin, tag := range map[string]string{fixtureBin: "vemfixture", noConvBin: "vemnoconverters"} {
			if out, err := exec.Command("go", "build", "-tags", tag, "-o", bin, "../../cmd/vem-agent").CombinedOutput(); err != nil {
				variantsErr = fmt.Errorf("build vem-agent -tags %s: %v\n%s", tag, err, out)
				return
			}
		}
	})
	if variantsErr != nil {
		t.Fatal(variantsErr)
	}
	return fixtureBin, noConvBin
}

// startAgentBin starts bin as the host's agent and waits until it serves.
func startAgentBin(t *testing.T, h *vemHost, bin string) {
	t.Helper()
	p, err := h.ns.StartNetOnly(bin, "--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	h.agent = p
	c := api.NewClient(h.socket)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("%s exited at start: %v\n%s", filepath.Base(bin), p.Wait(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving after 20s: %v\n%s", filepath.Base(bin), err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pins identifies what an instance has pinned: map and link IDs by pin
// name, and the program each link runs.
type pins struct {
	maps  map[string]ebpf.MapID
	links map[string]ebpf.ProgramID
}

func readPins(t *testing.T, instance string) pins {
	t.Helper()
	dir := bpf.PinDir(instance)
	p := pins{maps: map[string]ebpf.MapID{}, links: map[string]ebpf.ProgramID{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			t.Fatalf("pin %s: %v", e.Name(), err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		p.maps[e.Name()], _ = info.ID()
	}
	links, err := os.ReadDir(filepath.Join(dir, "links"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range links {
		l, err := link.LoadPinnedLink(filepath.Join(dir, "links", e.Name()), nil)
		if err != nil {
			t.Fatalf("link pin %s: %v", e.Name(), err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		p.links[e.Name()] = info.Program
	}
	return p
}

// statsValueSize is the value size of the instance's pinned vem_stats.
func statsValueSize(t *testing.T, instance string) uint32 {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(bpf.PinDir(instance), "vem_stats"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.ValueSize()
}

// fastPings runs ping streams at 1,000 per second while fn runs.
func fastPings(t *testing.T, streams []pingStream, count int, fn func()) []topo.PingResult {
	t.Helper()
	out := make([]topo.PingResult, len(streams))
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			out[i], errs[i] = s.from.ns.Ping(ctx, s.to, count, time.Millisecond)
		}()
	}
	time.Sleep(500 * time.Millisecond)
	fn()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

type pingStream struct {
	from *vm
	to   string
}

func (s pingStream) String() string { return s.from.ns.Name() + " -> " + s.to }

// macSet is a segment's MAC table as MAC -> port.
func macSet(t *testing.T, h *vemHost, segment string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range macTable(t, h, segment) {
		out[e.MAC] = e.Port
	}
	return out
}

// watchBundle polls OVS's view of the LACP bundle until stop is closed
// and returns every sample in which it was not whole: both members
// current, attached and enabled by LACP, vem's system as their partner.
func watchBundle(r *ovsRig, partner string, stop <-chan struct{}) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var bad []string
		samples := 0
		for {
			select {
			case <-stop:
				if samples == 0 {
					bad = append(bad, "no sample of the bundle taken")
				}
				out <- bad
				return
			case <-time.After(20 * time.Millisecond):
			}
			st, err := r.sw.LACPShow("bond0")
			samples++
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			if !st.Negotiated || len(st.Members) != 2 {
				bad = append(bad, fmt.Sprintf("negotiated %v, %d members", st.Negotiated, len(st.Members)))
				continue
			}
			for _, m := range st.Members {
				if m.Status != "current" || !m.Attached || !m.MayEnable || m.Partner.System.String() != partner {
					bad = append(bad, fmt.Sprintf("%s: %s attached %v may-enable %v partner %s", m.Name, m.Status, m.Attached, m.MayEnable, m.Partner.System))
				}
			}
		}
	}()
	return out
}

// upgrade is one host's upgrade (or downgrade) under ping.
type upgrade struct {
	h       *vemHost
	streams []pingStream // the first one's requests enter by port
	segment string       // whose MAC table must be kept
	port    string       // whose counters must go on
	ports   []string     // whose counters to show when pings are lost
	minMACs int          // the segment's MACs learned before, at least
	// watch, if set, watches something while the agents change and
	// returns what went wrong once stop is closed.
	watch func(stop <-chan struct{}) <-chan []string
}

// run stops the host's agent and starts bin under ping at 1,000 per
// second on every stream: no ping may be lost, vem_stats must end up with
// wantStats-byte values in a new map (every other pin the same map), the
// port's link must run a new program, the segment's MACs stay where they
// were learned and the port's counters go on from where they were.
func (u upgrade) run(t *testing.T, name, bin string, wantStats uint32) {
	t.Helper()
	h := u.h
	const count = 3000
	ifindex, err := h.ns.LinkIndex(u.port)
	if err != nil {
		t.Fatal(err)
	}
	link := strconv.Itoa(ifindex)
	if u.watch == nil {
		u.watch = func(stop <-chan struct{}) <-chan []string {
			out := make(chan []string, 1)
			go func() { <-stop; out <- nil }()
			return out
		}
	}
	macs := macSet(t, h, u.segment)
	before := h.counters(u.port)
	pinsBefore := readPins(t, h.instance)
	stop := make(chan struct{})
	bundle := u.watch(stop)
	var took time.Duration
	res := fastPings(t, u.streams, count, func() {
		h.stopAgent()
		start := time.Now()
		startAgentBin(t, h, bin)
		took = time.Since(start)
	})
	close(stop)
	bad := <-bundle
	t.Logf("%s: new agent serving %v after its start; %d disturbances seen %v", name, took, len(bad), bad[:min(len(bad), 5)])
	for i, res := range res {
		t.Logf("%s: %s: %d sent, %d received", name, u.streams[i], res.Sent, res.Received)
		if res.Sent != count || res.Received != res.Sent {
			for _, p := range u.ports {
				c := h.counters(p)
				t.Logf("%s: rx %d tx %d drops %v", p, c.RxPackets, c.TxPackets, c.Drops)
			}
			t.Fatalf("%s lost pings %s: %d of %d answered\n%s", name, u.streams[i], res.Received, res.Sent, h.agent.Output())
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%s: %d disturbances seen: %v", name, len(bad), bad[:min(len(bad), 5)])
	}
	out := h.agent.Output()
	if !strings.Contains(out, "migrated pinned maps") || !strings.Contains(out, "vem_stats") {
		t.Fatalf("%s: the agent did not say it migrated vem_stats:\n%s", name, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "migrated pinned maps") {
			t.Logf("%s: %s", name, line)
		}
	}
	if got := statsValueSize(t, h.instance); got != wantStats {
		t.Fatalf("%s: pinned vem_stats has %d-byte values, want %d", name, got, wantStats)
	}
	pinsAfter := readPins(t, h.instance)
	if pinsAfter.maps["vem_stats"] == pinsBefore.maps["vem_stats"] {
		t.Fatalf("%s: vem_stats is still the same map", name)
	}
	for n, id := range pinsBefore.maps {
		if n != "vem_stats" && pinsAfter.maps[n] != id {
			t.Errorf("%s: %s was replaced though its layout did not change", name, n)
		}
	}
	if pinsAfter.links[link] == pinsBefore.links[link] {
		t.Fatalf("%s: %s's link still runs program %d", name, u.port, pinsBefore.links[link])
	}
	after := macSet(t, h, u.segment)
	if len(macs) < u.minMACs {
		t.Fatalf("%s: only %d MACs learned before, want %d: %v", name, len(macs), u.minMACs, macs)
	}
	// A MAC learned on a port-channel member may move to the other
	// one (OVS rebalances): the port-channel is what must hold.
	member := func(p string) string {
		if p == "e1" || p == "e2" {
			return "po1"
		}
		return p
	}
	for mac, port := range macs {
		if member(after[mac]) != member(port) {
			t.Errorf("%s: MAC %s was on %s, now %q", name, mac, port, after[mac])
		}
	}
	t.Logf("%s: %d MACs before, all kept: %v", name, len(macs), macs)
	c := h.counters(u.port)
	if d := c.Drops["no-uplink"] - before.Drops["no-uplink"]; d != 0 {
		t.Errorf("%s: %d frames of %s dropped for want of an uplink member", name, d, u.port)
	}
	// The first stream's echo requests entered by the port and its
	// replies left by it: the counters hold what they held plus all of
	// them, whichever program counted them. (The catch-up of a per-CPU
	// counter can miss an increment made while it writes; a reset
	// would miss thousands.)
	sent := uint64(count)
	t.Logf("%s: %s rx %d -> %d (+%d), tx %d -> %d (+%d), for %d pings", name, u.port,
		before.RxPackets, c.RxPackets, c.RxPackets-before.RxPackets, before.TxPackets, c.TxPackets, c.TxPackets-before.TxPackets, sent)
	if c.RxPackets+2 < before.RxPackets+sent || c.TxPackets+2 < before.TxPackets+sent {
		t.Fatalf("%s: %s counters rx %d tx %d, were %d %d before %d pings: reset or lost", name, u.port, c.RxPackets, c.TxPackets, before.RxPackets, before.TxPackets, sent)
	}
}

// TestUpgradeMigratesMapsLosingNothing upgrades the running agent to the
// fixture build (vem_stats one counter longer, other programs), tries a
// build that cannot convert back (refused, nothing touched) and
// downgrades to the current build, each under ping at 1,000 per second
// on the VLAN segment web: between two VMs of the host, and from one
// across an LACP bundle to Open vSwitch to a host on its VLAN 100 access
// port. No ping is lost, learned MACs stay, counters keep counting from
// where they were, and OVS never sees the bundle renegotiated.
func TestUpgradeMigratesMapsLosingNothing(t *testing.T) {
	fixture, noConv := agentVariants(t)
	r := newOVSRig(t, "lacp-active", true, "{interface: e1}, {interface: e2}")
	h := r.host
	vm2 := newVM(t, r.swNS.Topology(), h.ns, "vm2", "tap2", "52:54:00:00:00:02", "192.0.2.2")
	cfg := pcConfig(h, "lacp-active", "{interface: e1}, {interface: e2}", r.vm.mac.String(), "")
	h.writeConfig(cfg + fmt.Sprintf("  - {interface: tap2, mac: %q, segment: web, profile: default}\n", vm2.mac))
	h.stopAgent()
	h.startAgent()
	waitFor(t, 15*time.Second, "OVS and vem negotiated on both members", func() bool {
		st, err := r.sw.LACPShow("bond0")
		return err == nil && st.Negotiated && len(st.Members) == 2 && bundled(t, h) == 2
	})
	var partner string
	waitFor(t, 10*time.Second, "both members current in OVS", func() bool {
		st, err := r.sw.LACPShow("bond0")
		if err != nil || len(st.Members) != 2 {
			return false
		}
		for _, m := range st.Members {
			if m.Status != "current" || !m.Attached || !m.MayEnable {
				return false
			}
			partner = m.Partner.System.String()
		}
		return true
	})
	// Warm up (ARP, MACs learned everywhere, OVS's flows); the
	// measurements start once every path answers.
	for _, s := range []pingStream{{r.vm, "192.0.2.2"}, {r.vm, "192.0.2.100"}, {vm2, "192.0.2.100"}} {
		waitFor(t, 10*time.Second, s.String()+" answering", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := s.from.ns.Ping(ctx, s.to, 1, 100*time.Millisecond)
			return err == nil && res.Received == 1
		})
	}
	pingVM(t, r.vm, "192.0.2.100", 2, true)
	if got := statsValueSize(t, h.instance); got != currentStats {
		t.Fatalf("current build pins vem_stats with %d-byte values, want %d", got, currentStats)
	}
	u := upgrade{
		h: h, streams: []pingStream{{r.vm, "192.0.2.100"}, {vm2, "192.0.2.1"}},
		segment: "web", port: "tap1", ports: []string{"tap1", "tap2", "e1", "e2"}, minMACs: 3,
		watch: func(stop <-chan struct{}) <-chan []string { return watchBundle(r, partner, stop) },
	}
	streams := u.streams

	u.run(t, "upgrade", fixture, fixtureStats)

	// A build that has no converter for the shorter vem_stats (the
	// fixture's counter is in use) refuses, and touches nothing: the
	// fixture's datapath forwards on, with its pins and programs. The
	// operator's answer, the fixture agent started again, comes at once
	// (inside the pings): without an agent for 3 s, LACP's fast timeout
	// would expire the bundle at OVS, whatever the version.
	pinsBefore := readPins(t, h.instance)
	var pinsAfter pins
	var statsAfter uint32
	const refusalCount = 2000
	res := fastPings(t, streams, refusalCount, func() {
		h.stopAgent()
		p, err := h.ns.StartNetOnly(noConv, "--config", h.cfgPath, "--state-dir", h.stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err == nil {
			t.Fatalf("an agent without converters started over the fixture's pins:\n%s", p.Output())
		}
		pinsAfter, statsAfter = readPins(t, h.instance), statsValueSize(t, h.instance)
		startAgentBin(t, h, fixture)
		for _, want := range []string{"cannot be migrated", "vem_stats", "in use", "untouched"} {
			if !strings.Contains(p.Output(), want) {
				t.Errorf("refusal does not say %q:\n%s", want, p.Output())
			}
		}
		t.Logf("refused: %s", lastLine(p.Output()))
	})
	for i, res := range res {
		t.Logf("refusal: %s: %d sent, %d received", streams[i], res.Sent, res.Received)
		if res.Sent != refusalCount || res.Received != res.Sent {
			t.Fatalf("a refused downgrade disturbed forwarding %s: %d of %d answered", streams[i], res.Received, res.Sent)
		}
	}
	if fmt.Sprint(sorted(pinsAfter.maps)) != fmt.Sprint(sorted(pinsBefore.maps)) ||
		fmt.Sprint(sorted(pinsAfter.links)) != fmt.Sprint(sorted(pinsBefore.links)) {
		t.Fatalf("the refused downgrade changed the pins:\nbefore %v %v\nafter  %v %v", pinsBefore.maps, pinsBefore.links, pinsAfter.maps, pinsAfter.links)
	}
	if statsAfter != fixtureStats {
		t.Fatalf("after the refusal vem_stats has %d-byte values, want the fixture's %d", statsAfter, fixtureStats)
	}
	// The fixture agent settles (its LACP resume confirmed by OVS) as a
	// running version would have before it is upgraded.
	waitFor(t, 10*time.Second, "the fixture agent's LACP resume confirmed", func() bool {
		return strings.Count(h.agent.Output(), "resume-confirmed") == 2
	})

	u.run(t, "downgrade", agentBin, currentStats)

	// The downgraded agent switches on.
	pingVM(t, vm2, "192.0.2.1", 2, true)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func sorted[K ~string, V any](m map[K]V) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(out)
	return out
}

// TestUpgradeVXLANLosingNothing upgrades hv1 of two VXLAN hosts to the
// fixture build and back under ping at 1,000 per second on both VXLAN
// segments (blue and red, the same addresses in each): nothing lost, the
// remote VMs' MACs (learned against hv2's VTEP) kept, counters going on.
func TestUpgradeVXLANLosingNothing(t *testing.T) {
	fixture, _ := agentVariants(t)
	u := newUnderlay(t)
	hv1, _, vms := vxlanHosts(t, u)
	streams := []pingStream{{vms["vmA"], "192.0.2.2"}, {vms["vmC"], "192.0.2.2"}}
	for _, s := range streams {
		waitFor(t, 10*time.Second, s.String()+" answering", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := s.from.ns.Ping(ctx, s.to, 1, 100*time.Millisecond)
			return err == nil && res.Received == 1
		})
	}
	// blue's table holds vmA's MAC (tap1) and vmB's, learned against
	// hv2's VTEP.
	up := upgrade{h: hv1, streams: streams, segment: "blue", port: "tap1", ports: []string{"tap1", "tap2", "up0"}, minMACs: 2}
	up.run(t, "upgrade", fixture, fixtureStats)
	up.run(t, "downgrade", agentBin, currentStats)
	pingVM(t, vms["vmA"], "192.0.2.2", 2, true)
}
