package lacp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/test/ovs"
	"github.com/vem-switch/vem/test/topo"
)

// These tests run vem's LACP against Open vSwitch's, an independent
// implementation, over veth pairs between two namespaces:
//
//	vem:    lacp.Runner po1 (active, fast)   a1 ---- p1   switch: OVS br0
//	                                         a2 ---- p2   bond0 (lacp=active, fast)

// interopPeers maps each Runner member to its OVS peer.
var interopPeers = map[string]string{"a1": "p1", "a2": "p2"}

// interopConfig is the Runner's configuration; every call returns the same
// identity (system ID, key, port numbers), as a restarted agent must.
func interopConfig() lacp.Config {
	return lacp.Config{
		Name:   "po1",
		System: lacp.SystemID{Priority: lacp.DefaultSystemPriority, MAC: lacp.MAC{0x02, 0x76, 0x65, 0x6d, 0x00, 0x01}},
		Key:    11,
		Mode:   lacp.ModeActive,
		Rate:   lacp.RateFast,
		Ports: []lacp.PortConfig{
			{Name: "a1", Number: 1, Priority: lacp.DefaultPortPriority},
			{Name: "a2", Number: 2, Priority: lacp.DefaultPortPriority},
		},
	}
}

// interopEnv is the two-namespace topology with OVS running in "switch".
type interopEnv struct {
	vem, sw *topo.NS
	ovs     *ovs.Switch
}

// newInteropEnv builds the topology, starts OVS and adds br0 with bond0 on
// p1 and p2. It fails the test when OVS is not installed.
func newInteropEnv(t *testing.T) *interopEnv {
	t.Helper()
	topo.RequireRoot(t)
	if err := ovs.CheckInstalled(); err != nil {
		t.Fatalf("%v: run scripts/deps.sh test to install it", err)
	}
	// Made before the topology so that it is removed after the daemons
	// writing into it have been stopped. MkdirTemp keeps the socket paths
	// short.
	dir, err := os.MkdirTemp("", "vem-ovs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	tp := topo.ForTest(t)
	e := &interopEnv{}
	if e.vem, err = tp.NS("vem"); err != nil {
		t.Fatal(err)
	}
	if e.sw, err = tp.NS("switch"); err != nil {
		t.Fatal(err)
	}
	for a, p := range interopPeers {
		if err := tp.Veth(e.vem, a, e.sw, p); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if e.ovs, err = ovs.Start(e.sw, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ovs-vswitchd log:%s", e.ovs.Log())
		}
		if err := e.ovs.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := e.ovs.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if err := e.ovs.AddBond("br0", "bond0", []string{"p1", "p2"}, true, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("OVS up with br0/bond0 in %v", time.Since(start).Round(time.Millisecond))
	return e
}

// runner is a running lacp.Runner.
type runner struct {
	*lacp.Runner
	cancel context.CancelFunc
	done   chan error

	mu sync.Mutex
	// reports are the Runner's OnMembers calls, in order.
	reports []membersReport
	events  []lacp.Event
}

// membersReport is one OnMembers call.
type membersReport struct {
	at      time.Time
	members []string
}

func (m membersReport) String() string {
	return fmt.Sprintf("%s %v", m.at.Format("15:04:05.000"), m.members)
}

// startRunner starts a Runner with interopConfig on the vem namespace's a1
// and a2; it is stopped at the end of the test if not before.
func (e *interopEnv) startRunner(t *testing.T) *runner {
	t.Helper()
	return e.startRunnerWith(t, interopConfig())
}

// startRunnerWith starts a Runner with cfg, recording its OnMembers calls
// and events (including those made while it is created).
func (e *interopEnv) startRunnerWith(t *testing.T, cfg lacp.Config) *runner {
	t.Helper()
	rr := &runner{done: make(chan error, 1)}
	cfg.OnMembers = func(m []string) {
		rr.mu.Lock()
		defer rr.mu.Unlock()
		rr.reports = append(rr.reports, membersReport{at: time.Now(), members: slices.Clone(m)})
	}
	cfg.OnEvent = func(ev lacp.Event) {
		rr.mu.Lock()
		defer rr.mu.Unlock()
		rr.events = append(rr.events, ev)
	}
	r, err := lacp.NewRunner(cfg, lacp.RunnerOptions{Logger: zaptest.NewLogger(t), NetNS: e.vem.Path()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr.Runner, rr.cancel = r, cancel
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		if err := rr.stop(); err != nil {
			t.Error(err)
		}
	})
	return rr
}

// membersReports returns the OnMembers calls so far.
func (r *runner) membersReports() []membersReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// eventsOf returns the events of kind so far.
func (r *runner) eventsOf(kind lacp.EventKind) []lacp.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []lacp.Event
	for _, ev := range r.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// stop cancels the Runner and waits for Run to return. It may be called
// more than once.
func (r *runner) stop() error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		if err != nil {
			return fmt.Errorf("runner: %w", err)
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("runner: Run did not return within 5s of cancel")
	}
}

// ovsBundled returns nil when OVS has negotiated bond0 with the Runner on
// every member in names: current, attached, enabled, and the partner is
// the Runner's system, key and port. It describes what is missing otherwise.
func (e *interopEnv) ovsBundled(names ...string) error {
	st, err := e.ovs.LACPShow("bond0")
	if err != nil {
		return err
	}
	bond, err := e.ovs.BondShow("bond0")
	if err != nil {
		return err
	}
	return bundledIn(st, bond, names...)
}

// bundledIn is ovsBundled on a given lacp/show and bond/show.
func bundledIn(st ovs.LACPStatus, bond ovs.BondStatus, names ...string) error {
	cfg := interopConfig()
	if !st.Negotiated {
		return fmt.Errorf("OVS: bond0 not negotiated")
	}
	for _, pc := range cfg.Ports {
		peer := interopPeers[pc.Name]
		if !slices.Contains(names, peer) {
			continue
		}
		m, ok := st.Member(peer)
		if !ok {
			return fmt.Errorf("OVS: lacp/show has no member %s", peer)
		}
		switch {
		case m.Status != ovs.MemberCurrent || !m.Attached || !m.MayEnable:
			return fmt.Errorf("OVS: member %s is %s, attached %v, may_enable %v", peer, m.Status, m.Attached, m.MayEnable)
		case m.Partner.System.String() != cfg.System.String():
			return fmt.Errorf("OVS: member %s partner system %s, want the Runner's %s", peer, m.Partner.System, cfg.System)
		case m.Partner.Key != cfg.Key || m.Partner.Port != pc.Number:
			return fmt.Errorf("OVS: member %s partner key %d port %d, want %d and %d", peer, m.Partner.Key, m.Partner.Port, cfg.Key, pc.Number)
		case !m.Partner.State.Has(ovs.StateSynchronization | ovs.StateCollecting | ovs.StateDistributing):
			return fmt.Errorf("OVS: member %s partner state %q: not in sync, collecting and distributing", peer, m.Partner.State)
		}
		if bm, ok := bond.Member(peer); !ok || !bm.Enabled {
			return fmt.Errorf("OVS: bond/show member %s not enabled", peer)
		}
	}
	return nil
}

// vemBundled returns nil when the Runner has bundled exactly the ports in
// names towards OVS's system; it describes what is missing otherwise.
func (e *interopEnv) vemBundled(r *runner, names ...string) error {
	st, err := e.ovs.LACPShow("bond0")
	if err != nil {
		return err
	}
	s := r.Status()
	if s.Partner.String() != st.System.String() {
		return fmt.Errorf("vem: partner %s, want OVS's %s", s.Partner, st.System)
	}
	for _, p := range s.Ports {
		if slices.Contains(names, p.Name) && p.State != lacp.PortBundled {
			return fmt.Errorf("vem: port %s is %s (%s)", p.Name, p.State, p.Reason)
		}
		if p.State == lacp.PortBundled && p.Partner.System.String() != st.System.String() {
			return fmt.Errorf("vem: port %s bundled towards %s, want OVS's %s", p.Name, p.Partner.System, st.System)
		}
	}
	if !slices.Equal(s.Members, names) {
		return fmt.Errorf("vem: members %v, want %v", s.Members, names)
	}
	return nil
}

// waitFor polls check every interval until it returns nil and returns how
// long that took, failing the test after timeout with check's last answer.
func waitFor(t *testing.T, what string, timeout, interval time.Duration, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// negotiate starts a Runner and waits until both ends bundle both links.
func (e *interopEnv) negotiate(t *testing.T) *runner {
	t.Helper()
	r := e.startRunner(t)
	took := waitFor(t, "negotiation with OVS", 10*time.Second, 100*time.Millisecond, func() error {
		if err := e.ovsBundled("p1", "p2"); err != nil {
			return err
		}
		return e.vemBundled(r, "a1", "a2")
	})
	t.Logf("negotiated both links with OVS in %v", took.Round(10*time.Millisecond))
	return r
}

func TestOVSInteropNegotiatesAndDropsMember(t *testing.T) {
	e := newInteropEnv(t)
	r := e.negotiate(t)

	// OVS's system ID as the Runner reports it: the partner of the
	// aggregate and of each port.
	st, err := e.ovs.LACPShow("bond0")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Status().Partner.String(); got != st.System.String() {
		t.Fatalf("Runner's partner %s, want OVS's system %s", got, st.System)
	}

	// p1 going down takes a1's carrier with it.
	if err := e.sw.SetDown("p1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var vemTook, ovsTook time.Duration
	waitFor(t, "both ends dropping a1--p1", 4*time.Second, 20*time.Millisecond, func() error {
		var vemErr, ovsErr error
		if vemTook == 0 {
			if vemErr = e.vemBundled(r, "a2"); vemErr == nil {
				vemTook = time.Since(start)
			}
		}
		if ovsTook == 0 {
			if ovsErr = e.ovsDropped("p1", "p2"); ovsErr == nil {
				ovsTook = time.Since(start)
			}
		}
		return errors.Join(vemErr, ovsErr)
	})
	t.Logf("a1--p1 dropped: by vem in %v, by OVS in %v", vemTook.Round(time.Millisecond), ovsTook.Round(time.Millisecond))
	if s := r.Status(); s.Ports[0].State != lacp.PortDown {
		t.Errorf("vem: a1 is %s (%s), want %s", s.Ports[0].State, s.Ports[0].Reason, lacp.PortDown)
	}
}

// ovsDropped returns nil when OVS no longer uses member gone and still uses
// member kept.
func (e *interopEnv) ovsDropped(gone, kept string) error {
	bond, err := e.ovs.BondShow("bond0")
	if err != nil {
		return err
	}
	if m, ok := bond.Member(gone); !ok || m.Enabled || m.MayEnable {
		return fmt.Errorf("OVS: member %s still enabled (%+v)", gone, m)
	}
	return e.ovsBundled(kept)
}

// capturedPDU is a LACPDU from vem as it arrived at one of OVS's ports.
type capturedPDU struct {
	at   time.Time
	port string
	pdu  lacp.PDU
}

// pduCapture records the LACPDUs arriving at ports of the switch
// namespace, beside OVS (an AF_PACKET socket gets its own copy).
type pduCapture struct {
	mu   sync.Mutex
	pdus []capturedPDU
}

// capture starts recording the LACPDUs that arrive at ports (in the switch
// namespace) until the end of the test.
func (e *interopEnv) capture(t *testing.T, ports ...string) *pduCapture {
	t.Helper()
	c := &pduCapture{}
	for _, name := range ports {
		var conn *lacp.Conn
		if err := e.sw.Do(func() (err error) {
			conn, err = lacp.Listen(name)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 2048)
			for {
				n, err := conn.ReadFrame(buf)
				if err != nil {
					return // closed at the end of the test
				}
				if pdu, err := lacp.UnmarshalFrame(buf[:n]); err == nil {
					c.mu.Lock()
					c.pdus = append(c.pdus, capturedPDU{at: time.Now(), port: name, pdu: pdu})
					c.mu.Unlock()
				}
			}
		}()
		t.Cleanup(func() {
			conn.Close()
			<-done
		})
	}
	return c
}

// from returns the PDUs of system sys that arrived at port from time on.
func (c *pduCapture) from(sys lacp.SystemID, port string, since time.Time) []capturedPDU {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []capturedPDU
	for _, p := range c.pdus {
		if p.port == port && p.pdu.Actor.System == sys && !p.at.Before(since) {
			out = append(out, p)
		}
	}
	return out
}

// sample is OVS's view of bond0 at one instant of the restart test.
type sample struct {
	at   time.Duration
	st   ovs.LACPStatus
	bond ovs.BondStatus
	err  error
}

// String summarises the sample for the log, e.g.
// "1.2s: p1 current may_enable=true partner ATGSCD.., ...; enabled [p1 p2]".
func (s sample) String() string {
	if s.err != nil {
		return fmt.Sprintf("%v: %v", s.at.Round(time.Millisecond), s.err)
	}
	var ms []string
	for _, m := range s.st.Members {
		ms = append(ms, fmt.Sprintf("%s %s may_enable=%v partner %s", m.Name, m.Status, m.MayEnable, m.Partner.State))
	}
	return fmt.Sprintf("%v: %s; enabled %v", s.at.Round(time.Millisecond), strings.Join(ms, ", "), s.bond.Enabled())
}

// sampleOVS reads lacp/show and bond/show every interval until stop is
// closed, then sends what it read.
func (e *interopEnv) sampleOVS(begin time.Time, every time.Duration, stop <-chan struct{}, out chan<- []sample) {
	var got []sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := sample{at: time.Since(begin)}
		if s.st, s.err = e.ovs.LACPShow("bond0"); s.err == nil {
			s.bond, s.err = e.ovs.BondShow("bond0")
		}
		got = append(got, s)
		select {
		case <-stop:
			out <- got
			return
		case <-tick.C:
		}
	}
}

// TestOVSInteropRestartKeepsBundle restarts the Runner the way the agent
// does: the old one stops, the new one resumes from its checkpoint (through
// JSON, as persisted). Open vSwitch must not notice: in every sample, from
// before the restart to 5 s after it, both members stay current, attached,
// enabled and in sync with the same partner; every PDU vem sends claims
// sync, collecting and distributing; the gap in PDUs stays well inside the
// 3 s fast timeout. The new Runner reports both members from its start and
// never changes them; the old one kept them to the end.
func TestOVSInteropRestartKeepsBundle(t *testing.T) {
	e := newInteropEnv(t)
	pdus := e.capture(t, "p1", "p2")
	old := e.negotiate(t)
	cfg := interopConfig()
	both, peers := []string{"a1", "a2"}, []string{"p1", "p2"}

	const (
		every = 100 * time.Millisecond
		after = 5 * time.Second
	)
	begin := time.Now()
	samples := make(chan []sample, 1)
	stopSampling := make(chan struct{})
	go e.sampleOVS(begin, every, stopSampling, samples)
	// Longer than a periodic time, so that the old Runner's last PDUs
	// are among those checked.
	time.Sleep(lacp.FastPeriodicTime + 500*time.Millisecond)

	stopAt := time.Now()
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}
	saved := old.Checkpoint()
	b, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var cp lacp.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = &cp
	newAt := time.Now()
	r := e.startRunnerWith(t, cfg)
	started := time.Now()
	time.Sleep(after)
	close(stopSampling)
	got := <-samples

	// Stopping is not a carrier loss: the old Runner kept its members to
	// the end, and its checkpoint has both ports distributing.
	if reps := old.membersReports(); len(reps) == 0 || !slices.Equal(reps[len(reps)-1].members, both) {
		t.Errorf("old Runner's last members %v, want %v kept through its shutdown", reps, both)
	}
	for _, p := range saved.Ports {
		if !p.CollectingDistributing || p.Receive != "CURRENT" {
			t.Errorf("checkpoint at shutdown: %s receive %s collecting/distributing %v, want CURRENT and true", p.Name, p.Receive, p.CollectingDistributing)
		}
	}

	// The new Runner: both members from its start, once, never changed.
	reps := r.membersReports()
	if len(reps) != 1 || !slices.Equal(reps[0].members, both) || reps[0].at.After(started) {
		t.Errorf("new Runner's OnMembers calls %v, want one with %v from NewRunner (done %v after the stop)", reps, both, started.Sub(stopAt))
	}
	for _, k := range []lacp.EventKind{lacp.EventCheckpointIgnored, lacp.EventResumeContradicted} {
		if evs := r.eventsOf(k); len(evs) != 0 {
			t.Errorf("new Runner: %v", evs)
		}
	}
	confirmed := r.eventsOf(lacp.EventResumeConfirmed)
	if len(confirmed) != 2 {
		t.Errorf("resume-confirmed events %v, want one per port", confirmed)
	}

	// OVS never noticed.
	for _, s := range got {
		t.Log(s)
		err := s.err
		if err == nil {
			err = bundledIn(s.st, s.bond, peers...)
		}
		if err != nil {
			t.Errorf("at %v (restart at %v): %v", s.at.Round(time.Millisecond), stopAt.Sub(begin).Round(time.Millisecond), err)
		}
	}
	if last := got[len(got)-1].at; last < newAt.Sub(begin)+after-time.Second {
		t.Errorf("samples end at %v, want them to cover 5 s after the restart", last)
	}

	// Every PDU claimed the bundle, and none came late.
	const claim = lacp.StateSynchronization | lacp.StateCollecting | lacp.StateDistributing
	for _, peer := range peers {
		seen := pdus.from(cfg.System, peer, begin)
		var gap time.Duration
		var before, first time.Time
		for i, p := range seen {
			if !p.pdu.Actor.State.Has(claim) {
				t.Errorf("PDU to %s at %v claims %s, want sync, collecting and distributing", peer, p.at.Sub(begin).Round(time.Millisecond), p.pdu.Actor.State)
			}
			if i > 0 {
				gap = max(gap, p.at.Sub(seen[i-1].at))
			}
			if p.at.Before(stopAt) {
				before = p.at
			} else if first.IsZero() && !p.at.Before(newAt) {
				first = p.at
			}
		}
		if before.IsZero() || first.IsZero() {
			t.Errorf("%s: no PDU from vem before the restart (%v) or after it (%v)", peer, before, first)
			continue
		}
		if gap > 2*time.Second {
			t.Errorf("%s: %v between two PDUs from vem, want well inside the 3 s fast timeout", peer, gap.Round(time.Millisecond))
		}
		t.Logf("%s: %d PDUs from vem; last of the old Runner %v before the stop, first of the new one %v after its start; widest gap %v",
			peer, len(seen), stopAt.Sub(before).Round(time.Millisecond), first.Sub(newAt).Round(time.Millisecond), gap.Round(time.Millisecond))
	}
	for _, ev := range confirmed {
		t.Logf("%s: partner confirmed the checkpoint %v after the new Runner's start", ev.Port, ev.Time.Sub(newAt).Round(time.Millisecond))
	}
	t.Logf("restart: stop to new Runner created %v; %d samples of OVS over %v, all bundled",
		started.Sub(stopAt).Round(time.Millisecond), len(got), got[len(got)-1].at.Round(time.Millisecond))

	if err := e.ovsBundled(peers...); err != nil {
		t.Error(err)
	}
	if err := e.vemBundled(r, both...); err != nil {
		t.Error(err)
	}
}
