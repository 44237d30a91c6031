package ha

import (
	"testing"
	"time"
)

func TestTakeoverAfterActiveLoss(t *testing.T) {
	for _, loss := range []time.Duration{6 * time.Second, 15 * time.Second, 30 * time.Second} {
		t.Run(loss.String(), func(t *testing.T) {
			s := newSim(t)
			a, b := s.pair(loss)
			before := b.node.Epoch()
			s.advance(1500 * time.Millisecond)
			s.crash(a)
			s.advance(loss - time.Second)
			if sw := b.of(evSwitch); len(sw) != 0 {
				t.Fatalf("took over early: %v", sw)
			}
			s.advance(5 * time.Second)
			sw := b.of(evSwitch)
			if len(sw) != 1 {
				t.Fatalf("switch requests %v, want one", sw)
			}
			if got := sw[0].at - b.lastHeard; got != loss {
				t.Errorf("last heartbeat to switch request: %v, want %v", got, loss)
			}
			if sw[0].epoch != before+1 {
				t.Errorf("switch request epoch %d, want %d", sw[0].epoch, before+1)
			}
			s.wantState(b, Active, InternalActiveNoStandby)
			if st := b.node.Status(); st.Peer.State != PeerAbsent || st.Peer.Name != "a" {
				t.Errorf("peer %+v, want a absent", st.Peer)
			}
		})
	}
}

func TestUnstableStandbyRestarts(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	// The standby is out of sync again (a standby service restarted).
	b.node.mu.Lock()
	b.node.stable = false
	b.node.mu.Unlock()
	b.noSync = true
	s.wantState(b, Standby, InternalColdStandby)
	s.crash(a)
	s.advance(16 * time.Second)
	if sw := b.of(evSwitch); len(sw) != 0 {
		t.Errorf("unstable standby took over: %v", sw)
	}
	rb := b.of(evReboot)
	if len(rb) != 1 || rb[0].reason != ReasonUnstableStandby {
		t.Fatalf("reboots %v, want one for %q", rb, ReasonUnstableStandby)
	}
	// Rebooted alone, it comes up active after the discovery window.
	s.advance(DefaultDiscoveryWindow)
	s.wantState(b, Active, InternalActiveNoStandby)
}

func TestStandbyHearsActiveReboot(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	s.crash(a)
	s.advance(2 * time.Second)
	s.restart(a) // back before the loss interval: initializing
	s.advance(100 * time.Millisecond)
	if sw := b.of(evSwitch); len(sw) != 1 {
		t.Fatalf("switch requests %v, want one at once", sw)
	}
	s.advance(5 * time.Second)
	s.wantState(b, Active, InternalActiveHAStandby)
	s.wantState(a, Standby, InternalHAStandby)
}

func TestDegradedControlCut(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	mgmt := a.sent[Management]
	s.setPath(Control, false)
	s.advance(time.Second)
	// Degraded exactly half the loss interval after the last answer on
	// the control path.
	half := a.heardOn[Control] + 15*time.Second/2
	s.advance(half - s.since() - time.Millisecond)
	if a.node.Status().Degraded {
		t.Fatal("degraded before half the loss interval")
	}
	s.advance(time.Millisecond)
	if !a.node.Status().Degraded {
		t.Fatalf("not degraded at %v, half the loss interval after the last control answer", s.since())
	}
	s.advance(time.Second)
	if !b.node.Status().Degraded {
		t.Error("standby not degraded")
	}
	s.advance(60 * time.Second)
	if a.sent[Management] == mgmt || b.sent[Management] == 0 {
		t.Errorf("management heartbeats: a %d (was %d), b %d", a.sent[Management], mgmt, b.sent[Management])
	}
	for _, sn := range []*simNode{a, b} {
		if n := len(sn.of(evSwitch)) + len(sn.of(evReboot)) + len(sn.of(evRestartSB)); n != 0 {
			t.Errorf("%s: %v", sn.cfg.Name, sn.events)
		}
	}
	s.wantState(a, Active, InternalActiveHAStandby)
	s.wantState(b, Standby, InternalHAStandby)
	s.setPath(Control, true)
	s.advance(2 * time.Second)
	for _, sn := range []*simNode{a, b} {
		if sn.node.Status().Degraded {
			t.Errorf("%s still degraded after the control path healed", sn.cfg.Name)
		}
	}
	mgmt = a.sent[Management]
	s.advance(5 * time.Second)
	if a.sent[Management] != mgmt {
		t.Errorf("management heartbeats after healing: %d more", a.sent[Management]-mgmt)
	}
}

func TestOneWayLoss(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	for _, p := range []Path{Control, Management} {
		s.cut[linkKey{"b", "a", p}] = true
	}
	s.advance(20 * time.Second)
	s.wantState(a, Active, InternalActiveNoStandby)
	s.wantState(b, Standby, InternalHAStandby)
	for _, p := range []Path{Control, Management} {
		s.cut[linkKey{"b", "a", p}] = false
	}
	s.advance(2 * time.Second)
	rs := b.of(evRestartSB)
	if len(rs) != 1 || rs[0].reason != ReasonOutOfSync {
		t.Fatalf("restarts %v, want one for %q", rs, ReasonOutOfSync)
	}
	s.advance(5 * time.Second)
	s.wantState(a, Active, InternalActiveHAStandby)
	s.wantState(b, Standby, InternalHAStandby)
	if n := len(b.of(evRestartSB)); n != 1 {
		t.Errorf("%d restarts, want 1", n)
	}
}

func TestEpochMonotonic(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(6 * time.Second)
	last := a.node.Epoch()
	active, standby := a, b
	for i := range 4 {
		s.crash(active)
		s.advance(10 * time.Second)
		sw := standby.of(evSwitch)
		if len(sw) == 0 || sw[len(sw)-1].epoch <= last {
			t.Fatalf("takeover %d: switch requests %v, want epoch above %d", i, sw, last)
		}
		last = sw[len(sw)-1].epoch
		s.restart(active)
		s.advance(10 * time.Second)
		s.wantState(active, Standby, InternalHAStandby)
		if e := active.node.Epoch(); e != last {
			t.Errorf("takeover %d: restarted VSM's epoch %d, want %d", i, e, last)
		}
		active, standby = standby, active
	}
}
