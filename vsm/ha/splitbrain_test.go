package ha

import (
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

func TestSplitBrainLoser(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := Facts{Name: "a", Role: config.RolePrimary, Modules: 4, LastConfig: t0, LastSwitch: t0}
	with := func(f func(*Facts)) Facts {
		x := base
		x.Name, x.Role = "b", config.RoleSecondary
		f(&x)
		return x
	}
	for _, tc := range []struct {
		name  string
		b     Facts
		aLose bool
		rule  Rule
	}{
		{"fewer modules restarts (a)", with(func(f *Facts) { f.Modules = 5 }), true, RuleModules},
		{"fewer modules restarts (b)", with(func(f *Facts) { f.Modules = 3 }), false, RuleModules},
		{"modules before config", with(func(f *Facts) { f.Modules = 3; f.LastConfig = t0.Add(time.Hour) }), false, RuleModules},
		{"older config restarts (a)", with(func(f *Facts) { f.LastConfig = t0.Add(time.Minute) }), true, RuleLastConfig},
		{"older config restarts (b)", with(func(f *Facts) { f.LastConfig = t0.Add(-time.Minute) }), false, RuleLastConfig},
		{"config before switch", with(func(f *Facts) { f.LastConfig = t0.Add(-time.Minute); f.LastSwitch = t0.Add(-time.Hour) }), false, RuleLastConfig},
		{"later switch restarts (a)", with(func(f *Facts) { f.LastSwitch = t0.Add(-time.Minute) }), true, RuleLastSwitch},
		{"later switch restarts (b)", with(func(f *Facts) { f.LastSwitch = t0.Add(time.Minute) }), false, RuleLastSwitch},
		{"secondary yields", with(func(*Facts) {}), false, RuleRole},
		{"greater name yields", with(func(f *Facts) { f.Role = config.RolePrimary }), false, RuleName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aLose, rule := SplitBrainLoser(base, tc.b)
			if aLose != tc.aLose || rule != tc.rule {
				t.Errorf("SplitBrainLoser(a, b) = %v by %q, want %v by %q", aLose, rule, tc.aLose, tc.rule)
			}
			// The other side reaches the same choice by the same rule.
			bLose, rule2 := SplitBrainLoser(tc.b, base)
			if bLose == aLose || rule2 != rule {
				t.Errorf("SplitBrainLoser(b, a) = %v by %q: not the same choice", bLose, rule2)
			}
		})
	}
	if lose, rule := SplitBrainLoser(base, base); !lose || rule != RuleNone {
		t.Errorf("identical facts: %v by %q, want both to restart", lose, rule)
	}
}

func TestSplitBrain(t *testing.T) {
	type facts struct {
		modules int
		config  time.Duration // last configuration, since the start
	}
	for _, tc := range []struct {
		name  string
		a, b  facts
		loser string
	}{
		{"fewer modules: primary restarts", facts{3, 0}, facts{5, 0}, "a"},
		{"fewer modules: secondary restarts", facts{5, 0}, facts{3, 0}, "b"},
		{"older configuration: primary restarts", facts{4, time.Second}, facts{4, 2 * time.Second}, "a"},
		{"older configuration: secondary restarts", facts{4, 2 * time.Second}, facts{4, time.Second}, "b"},
		{"modules before configuration", facts{5, time.Second}, facts{4, 2 * time.Second}, "b"},
		{"shorter active restarts: the secondary took over later", facts{4, time.Second}, facts{4, time.Second}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			a, b := s.pair(15 * time.Second)
			for _, x := range []struct {
				sn *simNode
				f  facts
			}{{a, tc.a}, {b, tc.b}} {
				x.sn.node.SetModules(x.f.modules)
				x.sn.node.SetLastConfig(s.start.Add(x.f.config))
			}
			s.setPath(Control, false)
			s.setPath(Management, false)
			s.advance(20 * time.Second)
			s.wantState(a, Active, InternalActiveNoStandby)
			s.wantState(b, Active, InternalActiveNoStandby)
			top := max(a.node.Epoch(), b.node.Epoch())
			healed := s.since()
			s.setPath(Control, true)
			s.setPath(Management, true)
			// Decided once the peer has been heard active for the
			// settle time (2 s), on the latest heartbeat.
			s.advance(3500 * time.Millisecond)

			loser, winner := s.nodes[tc.loser], a
			if winner == loser {
				winner = b
			}
			rs := loser.of(evRestartSB)
			if len(rs) != 1 || rs[0].reason != ReasonSplitBrain || rs[0].at < healed {
				t.Fatalf("loser %s restarts %v, want one for the split brain", loser.cfg.Name, rs)
			}
			if n := len(winner.of(evRestartSB)); n != 0 {
				t.Fatalf("winner %s restarted too", winner.cfg.Name)
			}
			sw := winner.of(evSwitch)
			if len(sw) == 0 || sw[len(sw)-1].at < healed || sw[len(sw)-1].epoch != top+1 {
				t.Fatalf("winner %s switch requests %v, want one with epoch %d after healing", winner.cfg.Name, sw, top+1)
			}
			if n := len(loser.of(evSwitch)); loser == b && n != 1 || loser == a && n != 0 {
				t.Errorf("loser %s sent switch requests after healing: %v", loser.cfg.Name, loser.of(evSwitch))
			}
			s.advance(5 * time.Second)
			s.wantState(winner, Active, InternalActiveHAStandby)
			s.wantState(loser, Standby, InternalHAStandby)
			if loser.node.Epoch() != top+1 {
				t.Errorf("loser's epoch %d, want %d", loser.node.Epoch(), top+1)
			}
		})
	}
}

// TestSplitBrainWinnerOnce: an active that won a split brain compares
// the facts again at every heartbeat of the still-active loser (they move
// as VEMs follow its switch request, and heartbeats written during the
// split may arrive late) but raises the epoch and broadcasts only once;
// facts that now make it the loser make it restart.
func TestSplitBrainWinnerOnce(t *testing.T) {
	s := newSim(t)
	a := s.add(Config{Name: "a", Role: config.RolePrimary})
	a.node.Start()
	s.advance(4 * time.Second) // alone: active
	if st := a.node.Status(); st.State != Active {
		t.Fatalf("a: %+v", st)
	}
	a.node.SetModules(2)
	peer := Heartbeat{Name: "b", Domain: 100, Role: config.RoleSecondary, State: Active, Epoch: 7, Modules: 1, LastSwitch: s.clk.Now()}
	// Heartbeats written during the split (b still had a module) are
	// not acted on before the settle time; then the latest decides.
	peer.Modules = 2
	a.node.HandleHeartbeat(Control, peer)
	if r := a.of(evRestartSB); len(r) != 0 {
		t.Fatalf("a restarted on b's first heartbeat after the heal: %+v", a.events)
	}
	for m := 1; m >= 0; m-- { // b loses its modules to a
		peer.Modules = m
		a.node.HandleHeartbeat(Control, peer)
	}
	s.advance(2 * time.Second)
	a.node.HandleHeartbeat(Control, peer)
	if sw := a.of(evSwitch); len(sw) != 1 || sw[0].epoch != 8 {
		t.Fatalf("a's switch requests after winning: %+v, want one at epoch 8", sw)
	}
	peer.Modules = 3 // a heartbeat that makes b the winner after all
	a.node.HandleHeartbeat(Control, peer)
	if r := a.of(evRestartSB); len(r) != 1 || r[0].reason != ReasonSplitBrain {
		t.Fatalf("a after b's facts turned: %+v", a.events)
	}
}
