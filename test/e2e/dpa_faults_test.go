package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// TestDPACutOffHeadlessAndHeal: a VSM pair, hv1 and hv2 attached to the
// active vsm-a with the real default headlessAfter (15 s). hv1's control
// path to both VSMs is cut (a blackhole route and strict reverse-path
// filtering in its namespace; its VXLAN underlay and VMs untouched) while
// pings run at 100/s on web (VLAN, hv1) and blue (VXLAN hv1 -> hv2):
//   - hv1 goes headless 15 s (±1 s) after the last heartbeat its agent
//     reports; hv2 stays attached;
//   - headless, a new VM port with a known segment and profile attached
//     through vemctl forwards at once (VXLAN to hv2), its attach queued for
//     the VSM;
//   - the agent is killed (SIGKILL) and restarted with no VSM reachable:
//     it comes back from its checkpoint headless at once (since the same
//     time), the attach still queued, forwarding throughout;
//   - a segment applied on vsm-a meanwhile reaches hv2 only;
//   - healed, hv1 reattaches to vsm-a with its module, replays the queued
//     attach (the VSM binds the port and distributes its MAC to hv2) and
//     converges on the new segment;
//   - not one ping lost throughout.
func TestDPACutOffHeadlessAndHeal(t *testing.T) {
	topo.RequireRoot(t)
	p := newPairedHosts(t, "", vmSpec{"vmN", "hv1", "tap4", "52:54:00:00:10:04", "192.0.2.13", "blue"})
	flows := []flow{{p.vms["vm1"], p.vms["vm2"].ip}, {p.vms["vmA"], p.vms["vmB"].ip}}
	waitAnswering(t, 15*time.Second, flows...)
	before := dpaStatus(t, p.hv1)
	t.Logf("hv1 attached to %s, module %d, epoch %d, generation %d", before.AttachedVSM, before.Module, before.Epoch, before.Generation)

	pings := make([]*pinger, len(flows))
	for i, f := range flows {
		pings[i] = startPing(t, f, 5*time.Millisecond)
	}
	stopped := false
	stopPings := func() []seqPing {
		out := make([]seqPing, len(pings))
		for i, pg := range pings {
			out[i] = pg.stop(t)
		}
		stopped = true
		return out
	}
	defer func() {
		if !stopped {
			for _, pg := range pings {
				_ = pg.proc.Kill()
			}
		}
	}()
	time.Sleep(time.Second)

	// The cut: headless 15 s after the last heartbeat.
	cut := time.Now()
	heal := cutControl(t, p.hv1.ns)
	healed := false
	defer func() {
		if !healed {
			heal()
		}
	}()
	var last timedStatus
	for deadline := cut.Add(25 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		last = dpaStatusAt(t, p.hv1)
		if last.State == "headless" {
			break
		}
		if last.State != "attached" {
			t.Fatalf("hv1 %s before headless: %+v", last.State, last.DPA)
		}
		if time.Now().After(deadline) {
			t.Fatalf("hv1 not headless 25 s after the cut: %+v", last.DPA)
		}
	}
	if d := dpaStatus(t, p.hv2); d.State != "attached" || d.AttachedVSM != "vsm-a" {
		t.Fatalf("hv2 left vsm-a while only hv1 was cut off: %+v", d)
	}
	lastHB := last.lastHeartbeat("vsm-a")
	if lastHB.IsZero() || last.HeadlessSince == nil {
		t.Fatalf("hv1 headless without a last heartbeat or a headlessSince: %+v", last.DPA)
	}
	entry := last.HeadlessSince.Sub(lastHB)
	t.Logf("cut at +0: last heartbeat from vsm-a at %+v, headless at %+v: %v after the last heartbeat (headlessAfter 15s); counters %+v",
		lastHB.Sub(cut).Round(time.Millisecond), last.HeadlessSince.Sub(cut).Round(time.Millisecond), entry.Round(time.Millisecond), last.Counters)
	if entry < 14*time.Second || entry > 16*time.Second {
		t.Errorf("headless %v after the last heartbeat, want 15s ± 1s", entry)
	}
	// Heartbeats come every second: the last one within about that
	// before the cut, none after it (what was in flight aside).
	if lastHB.Before(cut.Add(-2500*time.Millisecond)) || lastHB.After(cut.Add(time.Second)) {
		t.Errorf("last heartbeat %v from the cut: heartbeats stopped before the cut or went on after it", lastHB.Sub(cut))
	}
	if last.Counters.HeadlessEntries != 1 || last.Counters.HeartbeatsMissed < 13 {
		t.Errorf("hv1 counters after the cut: %d headless entries, %d heartbeats missed; want 1 and about 15",
			last.Counters.HeadlessEntries, last.Counters.HeartbeatsMissed)
	}

	// Headless, a new VM on blue (known segment and profile) forwards at once.
	vmN := p.vms["vmN"]
	attachAt := time.Now()
	attachPorts(t, p.hv1, vmN)
	pingVM(t, vmN, p.vms["vmB"].ip, 3, true)
	t.Logf("headless: port tap4 attached and 3 pings vmN -> vmB answered %v after vemctl port attach",
		time.Since(attachAt).Round(time.Millisecond))
	if d := dpaStatus(t, p.hv1); d.State != "headless" || d.QueuedPortEvents != 1 {
		t.Fatalf("hv1 after a headless attach: %s with %d queued port events, want headless with 1", d.State, d.QueuedPortEvents)
	}

	// kill -9 of the agent under the pings, restarted with no VSM
	// reachable: back at once from its checkpoint, headless since the same
	// time, the queued attach still queued, the new port still forwarding.
	headlessSince := *last.HeadlessSince
	if err := p.hv1.agent.Kill(); err != nil {
		t.Fatal(err)
	}
	restartAt := time.Now()
	p.hv1.startAgent()
	if !strings.Contains(p.hv1.agent.Output(), "starting from the checkpoint") {
		t.Fatalf("the restarted agent did not start from its checkpoint:\n%s", p.hv1.agent.Output())
	}
	d := dpaStatus(t, p.hv1)
	t.Logf("agent killed (SIGKILL) and restarted in %v: %s, module %d, generation %d, %d queued port events, headless since %v",
		time.Since(restartAt).Round(time.Millisecond), d.State, d.Module, d.Generation, d.QueuedPortEvents, d.HeadlessSince)
	if d.State != "headless" || d.HeadlessSince == nil || !d.HeadlessSince.Equal(headlessSince) ||
		d.Module != before.Module || d.Generation != before.Generation || d.QueuedPortEvents != 1 {
		t.Fatalf("hv1 restarted with no VSM reachable: %+v; want headless since %v, module %d, generation %d, 1 queued port event",
			d, headlessSince, before.Module, before.Generation)
	}
	pingVM(t, vmN, p.vms["vmB"].ip, 2, true)

	// Meanwhile the VSM's configuration changes: hv2 follows, hv1 cannot.
	p.a.apply("segments:\n  - {name: db, type: vlan, vlan: 200}\n")
	waitFor(t, 15*time.Second, "hv2: segment db from vsm-a", func() bool {
		out, err := p.hv2.vemctl("show", "segments")
		return err == nil && strings.Contains(out, "db")
	})
	if out, _ := p.hv1.vemctl("show", "segments"); strings.Contains(out, "db") {
		t.Fatalf("hv1 has segment db while cut off:\n%s", out)
	}

	// Healed: reattached to vsm-a with its module, converged.
	healAt := time.Now()
	heal()
	healed = true
	var back timedStatus
	waitFor(t, 40*time.Second, "hv1 reattached to vsm-a", func() bool {
		back = dpaStatusAt(t, p.hv1)
		return back.State == "attached" && back.AttachedVSM == "vsm-a"
	})
	reattach := back.at.Sub(healAt)
	waitFor(t, 15*time.Second, "hv1: segment db and its queued attach replayed", func() bool {
		out, err := p.hv1.vemctl("show", "segments")
		d := dpaStatus(t, p.hv1)
		return err == nil && strings.Contains(out, "db") && d.QueuedPortEvents == 0
	})
	converged := time.Since(healAt)
	waitFor(t, 15*time.Second, "the VSM's binding of tap4 and vmN's MAC distributed to hv2", func() bool {
		if m, ok := p.a.module("hv1"); !ok || m.Ports != 4 || m.Status != "ok" {
			return false
		}
		for _, e := range macTable(t, p.hv2, "blue") {
			if e.MAC == vmN.mac.String() && e.Remote && e.Static && e.VTEP == vteps["hv1"] {
				return true
			}
		}
		return false
	})
	d = dpaStatus(t, p.hv1)
	t.Logf("healed at +%v: reattached after %v, configuration current after %v; hv1 module %d (was %d), generation %d (was %d), counters %+v",
		healAt.Sub(cut).Round(time.Millisecond), reattach.Round(time.Millisecond), converged.Round(time.Millisecond),
		d.Module, before.Module, d.Generation, before.Generation, d.Counters)
	if d.Module != before.Module || d.Generation <= before.Generation || d.HeadlessSince != nil {
		t.Errorf("hv1 after the heal: module %d (was %d), generation %d (was %d), headless since %v",
			d.Module, before.Module, d.Generation, before.Generation, d.HeadlessSince)
	}
	// Headless from its entry (before the restart) until the reattach,
	// which came after the heal and before the test saw it.
	spell := time.Duration(d.Counters.HeadlessMs) * time.Millisecond
	if spell < healAt.Sub(headlessSince)-time.Millisecond || spell > back.at.Sub(headlessSince)+50*time.Millisecond {
		t.Errorf("hv1 spent %v headless by its counters; it was headless from %v to between %v and %v",
			spell, headlessSince, healAt, back.at)
	}
	pingVM(t, vmN, p.vms["vmB"].ip, 2, true)

	results := stopPings()
	for i, r := range results {
		took := time.Since(r.start)
		rate := float64(r.sent) / took.Seconds()
		t.Logf("%s: %d sent, %d received over %v (%.0f/s)", flows[i], r.sent, r.received, took.Round(time.Second), rate)
		if rate < 100 {
			t.Errorf("%s: %.0f pings a second, want at least 100", flows[i], rate)
		}
		for _, seq := range r.missing {
			t.Logf("  icmp_seq %d unanswered: the reply before it came %v after the cut", seq, r.near(seq).Sub(cut).Round(10*time.Millisecond))
		}
		if r.sent < 1000 || len(r.missing) > 0 {
			t.Errorf("%s through the cut and the heal: %d of %d pings answered, want all", flows[i], r.received, r.sent)
		}
	}
	if t.Failed() {
		t.Logf("hv1 agent:\n%s", p.hv1.agent.Output())
	}
}

// TestDPANoFalseHeadlessUnderFloodAndLoad: a VEM (headlessAfter shortened
// to 3 s) attached to a VSM while a UDP flood from another host (a Go
// sender in hv3, for 8 s) hits its control address, the uplink address
// its session to the VSM uses, and two CPU burners (started and stopped
// by PID) keep its host's CPUs busy: it never leaves attached, enters
// headless not once, and its heartbeats keep coming (the largest
// heartbeat age seen is printed), as CVE-2013-1213 asks; a VLAN ping runs
// throughout and its losses are printed.
func TestDPANoFalseHeadlessUnderFloodAndLoad(t *testing.T) {
	topo.RequireRoot(t)
	v := newVSMTopology(t, false)
	s := v.vsms[0]
	s.start()
	s.apply(pairNetwork)
	hv1ns := v.hosts["hv1"]
	vm1 := vmOn(t, v.topo, hv1ns, "vm1", "tap1", "52:54:00:00:10:01", "192.0.2.1", "web", "default")
	vm2 := vmOn(t, v.topo, hv1ns, "vm2", "tap2", "52:54:00:00:10:02", "192.0.2.2", "web", "default")
	h := newVemHost(t, v.topo, hv1ns)
	h.writeConfig(v.agentConfig(h, "hv1") + "  headlessAfter: 3s\n")
	h.startAgent()
	waitFor(t, 15*time.Second, "hv1 attached with web", func() bool {
		out, err := h.vemctl("show", "segments")
		return dpaStatus(t, h).State == "attached" && err == nil && strings.Contains(out, "web")
	})
	attachPorts(t, h, vm1, vm2)
	f := flow{vm1, vm2.ip}
	waitAnswering(t, 10*time.Second, f)
	ping := startPing(t, f, 5*time.Millisecond)
	defer func() { _ = ping.proc.Kill() }()

	// The flood: UDP from hv3 at hv1's control address, ports
	// 10000-59999 (not VXLAN's), as fast as one sender goes, for 8 s.
	const floodFor = 8 * time.Second
	var conn *net.UDPConn
	if err := v.hosts["hv3"].Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	noPorts0 := udpNoPorts(t, hv1ns)
	var sent atomic.Int64
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		payload := make([]byte, 512)
		dst := &net.UDPAddr{IP: net.ParseIP(vteps["hv1"])}
		for end := time.Now().Add(floodFor); time.Now().Before(end); {
			for i := 0; i < 256; i++ {
				dst.Port = 10000 + int(sent.Load()%50000)
				if _, err := conn.WriteToUDP(payload, dst); err == nil {
					sent.Add(1)
				}
			}
		}
	}()
	var burners []*topo.Proc
	for range 2 {
		p, err := hv1ns.StartNetOnly("sh", "-c", "while :; do :; done")
		if err != nil {
			t.Fatal(err)
		}
		burners = append(burners, p)
	}
	stopBurners := func() {
		for _, p := range burners {
			if err := p.Kill(); err != nil {
				t.Errorf("stop burner %s: %v", p, err)
			}
		}
		burners = nil
	}
	defer func() { stopBurners() }()

	start := time.Now()
	var maxAge int64
	var polls int
	for flooding := true; flooding; {
		select {
		case <-floodDone:
			flooding = false
		case <-time.After(200 * time.Millisecond):
		}
		d := dpaStatus(t, h)
		polls++
		if d.State != "attached" || d.Counters.HeadlessEntries != 0 {
			t.Errorf("%v into the flood: %s, %d headless entries", time.Since(start).Round(time.Millisecond), d.State, d.Counters.HeadlessEntries)
		}
		for _, vs := range d.VSMs {
			maxAge = max(maxAge, vs.LastHeartbeatAgeMs)
		}
	}
	floodTook := time.Since(start)
	stopBurners()
	r := ping.stop(t)
	d := dpaStatus(t, h)
	arrived := udpNoPorts(t, hv1ns) - noPorts0
	t.Logf("flood: %d UDP datagrams at %s in %v (%.0f/s), %d of them reached its stack, with 2 CPU burners; %d status polls, largest heartbeat age %d ms (headlessAfter 3s); counters %+v",
		sent.Load(), vteps["hv1"], floodTook.Round(time.Millisecond), float64(sent.Load())/floodTook.Seconds(), arrived, polls, maxAge, d.Counters)
	if arrived < sent.Load()/2 {
		t.Errorf("only %d of %d flood datagrams reached hv1", arrived, sent.Load())
	}
	t.Logf("%s during the flood: %d sent, %d received", f, r.sent, r.received)
	if sent.Load() < 10000 {
		t.Errorf("the flood sent only %d datagrams", sent.Load())
	}
	if d.State != "attached" || d.Counters.HeadlessEntries != 0 || maxAge >= 3000 {
		t.Errorf("after the flood: %s, %d headless entries, largest heartbeat age %d ms", d.State, d.Counters.HeadlessEntries, maxAge)
	}
	if m, ok := s.module("hv1"); !ok || m.Status != "ok" {
		t.Errorf("the VSM's module for hv1 after the flood: %+v", m)
	}
}

// udpNoPorts is the namespace's count of UDP datagrams to no socket.
func udpNoPorts(t *testing.T, ns *topo.NS) int64 {
	t.Helper()
	var n int64
	if err := ns.Do(func() error {
		data, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var head []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "Udp: ") {
				continue
			}
			fields := strings.Fields(line)
			if head == nil {
				head = fields
				continue
			}
			for i, f := range head {
				if f == "NoPorts" && i < len(fields) {
					n, err = strconv.ParseInt(fields[i], 10, 64)
					return err
				}
			}
		}
		return fmt.Errorf("no Udp NoPorts in /proc/net/snmp")
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
