package lacp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
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
}

// startRunner starts a Runner with interopConfig on the vem namespace's a1
// and a2; it is stopped at the end of the test if not before.
func (e *interopEnv) startRunner(t *testing.T) *runner {
	t.Helper()
	r, err := lacp.NewRunner(interopConfig(), lacp.RunnerOptions{Logger: zaptest.NewLogger(t), NetNS: e.vem.Path()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runner{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		if err := rr.stop(); err != nil {
			t.Error(err)
		}
	})
	return rr
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
	cfg := interopConfig()
	st, err := e.ovs.LACPShow("bond0")
	if err != nil {
		return err
	}
	bond, err := e.ovs.BondShow("bond0")
	if err != nil {
		return err
	}
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

// sample is OVS's view of bond0 at one instant of the restart test.
type sample struct {
	at  time.Duration
	st  ovs.LACPStatus
	err error
	// enabled are the members bond/show reports enabled.
	enabled []string
	// vemMembers are the members the running Runner reports, -1 while
	// there is none.
	vemMembers int
}

// String summarises the sample for the log, e.g.
// "1.2s: p1 current may_enable=false, p2 ...; OVS enabled [p2]; vem members 0".
func (s sample) String() string {
	if s.err != nil {
		return fmt.Sprintf("%v: %v", s.at.Round(time.Millisecond), s.err)
	}
	var ms []string
	for _, m := range s.st.Members {
		ms = append(ms, fmt.Sprintf("%s %s may_enable=%v", m.Name, m.Status, m.MayEnable))
	}
	return fmt.Sprintf("%v: %s; OVS enabled %v; vem members %d", s.at.Round(time.Millisecond), strings.Join(ms, ", "), s.enabled, s.vemMembers)
}

// TestOVSInteropRestartKeepsBundle restarts the Runner with the same
// identity and checks that OVS keeps the partner throughout: every member
// stays "current" (never expired or defaulted, which with the fast rate
// would follow 3 s of silence) with the same partner system, key and port,
// and the bundle is whole again at the end. It logs, without asserting,
// when OVS and the Runner had fewer members enabled meanwhile.
func TestOVSInteropRestartKeepsBundle(t *testing.T) {
	e := newInteropEnv(t)
	old := e.negotiate(t)

	// Poll OVS every 200 ms from just before the restart to 5 s after it.
	const (
		every = 200 * time.Millisecond
		after = 5 * time.Second
	)
	var current atomic.Pointer[runner]
	current.Store(old)
	samples := make(chan []sample, 1)
	stopSampling := make(chan struct{})
	begin := time.Now()
	go func() {
		var out []sample
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s := sample{at: time.Since(begin), vemMembers: -1}
			if r := current.Load(); r != nil {
				s.vemMembers = len(r.Status().Members)
			}
			s.st, s.err = e.ovs.LACPShow("bond0")
			if s.err == nil {
				var b ovs.BondStatus
				if b, s.err = e.ovs.BondShow("bond0"); s.err == nil {
					s.enabled = b.Enabled()
				}
			}
			out = append(out, s)
			select {
			case <-stopSampling:
				samples <- out
				return
			case <-tick.C:
			}
		}
	}()

	time.Sleep(every)
	restartAt := time.Since(begin)
	current.Store(nil)
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}
	r := e.startRunner(t)
	current.Store(r)
	restart := time.Since(begin) - restartAt
	if restart > time.Second {
		t.Errorf("restart took %v, want under 1s", restart)
	}
	time.Sleep(after)
	close(stopSampling)
	got := <-samples

	cfg := interopConfig()
	var downFrom, downTo time.Duration = -1, -1
	for _, s := range got {
		t.Log(s)
		if s.err != nil {
			t.Errorf("at %v: %v", s.at, s.err)
			continue
		}
		for _, pc := range cfg.Ports {
			peer := interopPeers[pc.Name]
			m, ok := s.st.Member(peer)
			switch {
			case !ok:
				t.Errorf("at %v: no member %s", s.at, peer)
			case m.Status != ovs.MemberCurrent:
				t.Errorf("at %v: OVS member %s is %s, want %s throughout the restart", s.at, peer, m.Status, ovs.MemberCurrent)
			case m.Partner.System.String() != cfg.System.String() || m.Partner.Key != cfg.Key || m.Partner.Port != pc.Number:
				t.Errorf("at %v: OVS member %s partner %s key %d port %d, want the same identity %s key %d port %d",
					s.at, peer, m.Partner.System, m.Partner.Key, m.Partner.Port, cfg.System, cfg.Key, pc.Number)
			}
		}
		if len(s.enabled) < len(cfg.Ports) {
			if downFrom < 0 {
				downFrom = s.at
			}
			downTo = s.at
		}
	}
	t.Logf("restart (stop to new Runner running) took %v; %d samples of OVS over %v", restart.Round(time.Millisecond), len(got), got[len(got)-1].at.Round(time.Millisecond))
	if downFrom >= 0 {
		t.Logf("OVS had fewer than %d members enabled between %v and %v after the start of sampling (restart at %v)",
			len(cfg.Ports), downFrom.Round(time.Millisecond), downTo.Round(time.Millisecond), restartAt.Round(time.Millisecond))
	} else {
		t.Logf("OVS kept both members enabled in every sample")
	}

	// The new Runner has the bundle back on both ends.
	if err := e.ovsBundled("p1", "p2"); err != nil {
		t.Error(err)
	}
	if err := e.vemBundled(r, "a1", "a2"); err != nil {
		t.Error(err)
	}
}
