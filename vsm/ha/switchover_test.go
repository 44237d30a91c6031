package ha

import (
	"errors"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

func TestSwitchoverRefused(t *testing.T) {
	const msg = "Failed to switchover (standby not ready to takeover)"
	if ErrStandbyNotReady.Error() != msg {
		t.Fatalf("message %q, want %q", ErrStandbyNotReady, msg)
	}
	for _, tc := range []struct {
		name  string
		setup func(s *simNet) *simNode
		want  error
	}{
		{"no peer", func(s *simNet) *simNode {
			a := s.add(Config{Name: "a", Role: config.RolePrimary})
			a.node.Start()
			s.advance(5 * time.Second)
			return a
		}, ErrStandbyNotReady},
		{"standalone", func(s *simNet) *simNode {
			a := s.add(Config{Name: "a", Role: config.RoleStandalone})
			a.node.Start()
			return a
		}, ErrStandbyNotReady},
		{"standby not synchronised", func(s *simNet) *simNode {
			a := s.add(Config{Name: "a", Role: config.RolePrimary})
			b := s.add(Config{Name: "b", Role: config.RoleSecondary})
			b.noSync = true
			a.node.Start()
			b.node.Start()
			s.advance(5 * time.Second)
			s.wantState(a, Active, InternalActiveColdStandby)
			return a
		}, ErrStandbyNotReady},
		{"standby lost", func(s *simNet) *simNode {
			a, b := s.pair(15 * time.Second)
			s.crash(b)
			s.advance(16 * time.Second)
			return a
		}, ErrStandbyNotReady},
		{"asked of the standby", func(s *simNet) *simNode {
			_, b := s.pair(15 * time.Second)
			return b
		}, ErrNotActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			sn := tc.setup(s)
			if err := sn.node.Switchover(); !errors.Is(err, tc.want) {
				t.Errorf("Switchover() = %v, want %v", err, tc.want)
			}
			s.advance(30 * time.Second)
			if n := len(sn.of(evReboot)) + len(sn.of(evRestartSB)); n != 0 {
				t.Errorf("refused switchover restarted: %v", sn.events)
			}
		})
	}
}

func TestSwitchover(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	epoch := a.node.Epoch()
	if err := a.node.Switchover(); err != nil {
		t.Fatal(err)
	}
	// A second one while the first is under way is refused.
	if err := a.node.Switchover(); !errors.Is(err, ErrStandbyNotReady) {
		t.Errorf("second Switchover() = %v", err)
	}
	s.advance(100 * time.Millisecond)
	sw := b.of(evSwitch)
	if len(sw) != 1 || sw[0].epoch != epoch+1 {
		t.Fatalf("switch requests %v, want one with epoch %d", sw, epoch+1)
	}
	rs := a.of(evRestartSB)
	if len(rs) != 1 || rs[0].reason != ReasonSwitchover {
		t.Fatalf("former active's restarts %v, want one as standby", rs)
	}
	s.wantState(b, Active, InternalActiveColdStandby)
	s.wantState(a, Standby, InternalColdStandby)
	// No second switchover until the standby is stable again.
	if err := b.node.Switchover(); !errors.Is(err, ErrStandbyNotReady) {
		t.Errorf("Switchover() before the standby synchronised = %v", err)
	}
	s.advance(simSyncDelay + time.Second)
	s.wantState(b, Active, InternalActiveHAStandby)
	s.wantState(a, Standby, InternalHAStandby)
	if err := b.node.Switchover(); err != nil {
		t.Fatalf("Switchover() with a stable standby again = %v", err)
	}
	s.advance(100 * time.Millisecond)
	s.wantState(a, Active, InternalActiveColdStandby)
	if a.node.Epoch() != epoch+2 {
		t.Errorf("epoch %d, want %d", a.node.Epoch(), epoch+2)
	}
	s.advance(40 * time.Second)
	for _, sn := range []*simNode{a, b} {
		if rb := sn.of(evReboot); len(rb) != 0 {
			t.Errorf("%s rebooted: %v", sn.cfg.Name, rb)
		}
	}
}

func TestNoSwitchoverAfterTakeoverUntilStable(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	s.crash(a)
	s.advance(16 * time.Second)
	s.wantState(b, Active, InternalActiveNoStandby)
	s.restart(a)
	s.advance(500 * time.Millisecond)
	s.wantState(a, Standby, InternalColdStandby)
	if err := b.node.Switchover(); !errors.Is(err, ErrStandbyNotReady) {
		t.Errorf("Switchover() = %v, want refused", err)
	}
	s.advance(simSyncDelay + time.Second)
	if err := b.node.Switchover(); err != nil {
		t.Errorf("Switchover() with a stable standby = %v", err)
	}
}

func TestSwitchoverTimeout(t *testing.T) {
	s, sn := driver(t, Config{Name: "a", Role: config.RolePrimary})
	n := sn.node
	standby := Heartbeat{Name: "b", Domain: 100, Role: config.RoleSecondary, State: Standby, Stable: true, Epoch: 1}
	// A standby that answers but never takes over.
	var feed func()
	feed = func() {
		n.HandleHeartbeat(Control, standby)
		s.clk.AfterFunc(time.Second, feed)
	}
	s.advance(DefaultDiscoveryWindow)
	feed()
	s.advance(2 * time.Second)
	s.wantState(sn, Active, InternalActiveHAStandby)
	if err := n.Switchover(); err != nil {
		t.Fatal(err)
	}
	start := s.since()
	s.advance(DefaultSwitchoverTimeout - time.Millisecond)
	if rb := sn.of(evReboot); len(rb) != 0 {
		t.Fatalf("reset early: %v", rb)
	}
	s.advance(time.Millisecond)
	rb := sn.of(evReboot)
	if len(rb) != 1 || rb[0].reason != ReasonSwitchoverTimeout || rb[0].at-start != DefaultSwitchoverTimeout {
		t.Fatalf("resets %v, want one %v after the switchover", rb, DefaultSwitchoverTimeout)
	}
	// After the reset it negotiates again: the standby is no active.
	s.wantState(sn, Initializing, InternalInitializing)
}
