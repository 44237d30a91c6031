package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/vsm/ha"
)

// attachedTo lists the hosts of the VEMs attached to s.
func (r *haRig) attachedTo(s *haVSM) []string {
	var hosts []string
	for _, v := range r.vems {
		if st := v.status(); st.State == dpa.StateAttached && st.AttachedVSM == s.name {
			hosts = append(hosts, v.host)
		}
	}
	return hosts
}

// TestHASplitBrain cuts both pair paths (their veths down in vsm-a's
// namespace): the stable standby takes over and both are active, each
// with the VEMs that heard it last; then the paths are healed and the
// guide's precedence picks the VSM that restarts, each rule in a case
// arranged so that the rules after it would pick the other:
//
//   - modules: vsm-a keeps two VEMs (hv1 and hv2 cannot reach vsm-b),
//     vsm-b gets hv3 and a later configuration change: vsm-a wins.
//   - last configuration: one VEM each (hv1 cannot reach vsm-b); vsm-b,
//     the more recent active and the secondary, makes a change: vsm-b wins.
//   - time active: one VEM each, no change during the split; vsm-b was
//     made active by a switchover before the split, so vsm-a's takeover
//     is the more recent: vsm-b, the secondary, wins as the longer active.
//
// In each the loser restarts as standby and resynchronises (HA standby),
// every VEM ends on the winner at a higher epoch with its module number,
// none went headless, and every change acknowledged before the split and
// by the winner during it is on both; the loser's change during the
// split is discarded, as the guide's resolution does.
func TestHASplitBrain(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule ha.Rule
		vems int
		// cutFromB are the VEMs that cannot reach the VSM that takes
		// over, so they stay with the one that was active.
		cut []int
		// switchover first: vsm-b active, vsm-a its standby, before the
		// split.
		switchover bool
		// changeOnTakeover: the VSM that took over makes a change during
		// the split; else none.
		changeOnTakeover bool
		winner           string
	}{
		{"modules", ha.RuleModules, 3, []int{0, 1}, false, true, "vsm-a"},
		{"last configuration", ha.RuleLastConfig, 2, []int{0}, false, true, "vsm-b"},
		{"time active", ha.RuleLastSwitch, 2, []int{0}, true, false, "vsm-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHARig(t)
			r.a.start()
			r.b.start()
			st := r.waitPaired(r.a, r.b, 20*time.Second)
			r.startVEMs(tc.vems, nil)
			r.apply(r.a, "before-split", 100)
			r.waitVEMs(15*time.Second, r.a, st.Epoch, "before-split")
			active, standby := r.a, r.b
			if tc.switchover {
				if out, err := r.a.run("system", "switchover"); err != nil {
					t.Fatalf("switchover: %v\n%s", err, out)
				}
				st = r.waitPaired(r.b, r.a, 20*time.Second)
				r.waitVEMs(10*time.Second, r.b, st.Epoch, "")
				active, standby = r.b, r.a
				r.apply(active, "after-switchover", 101)
				r.waitVEMs(10*time.Second, active, st.Epoch, "after-switchover")
			}
			mods := r.modules()
			// The VEMs that stay with the active: cut from the standby.
			var heals []func()
			for _, i := range tc.cut {
				heals = append(heals, standby.cutVEM(i))
			}

			split := time.Now()
			r.a.setPath("ctl0", false)
			r.a.setPath("mgt0", false)
			healed := false
			heal := func() {
				if !healed {
					healed = true
					r.a.setPath("ctl0", true)
					r.a.setPath("mgt0", true)
				}
			}
			t.Cleanup(heal)
			var stayed []string
			for _, i := range tc.cut {
				stayed = append(stayed, r.vems[i].host)
			}
			var moved []string
			for i, v := range r.vems {
				if !slices.Contains(tc.cut, i) {
					moved = append(moved, v.host)
				}
			}
			ts := standby.wait(15*time.Second, "active after the split", haActive)
			r.waitVEMs(10*time.Second, standby, ts.Epoch, "", r.vemsOf(moved)...)
			sa, err := active.status()
			if err != nil || sa.State != ha.Active {
				t.Fatalf("%s after the split: %+v, %v; want still active (a split brain)", active.name, sa, err)
			}
			if got := r.attachedTo(active); !slices.Equal(got, stayed) {
				t.Fatalf("VEMs on %s during the split: %v, want %v", active.name, got, stayed)
			}
			t.Logf("split brain %v after the cut: %s active at epoch %d with %v, %s active at epoch %d with %v",
				time.Since(split).Round(10*time.Millisecond), active.name, sa.Epoch, stayed, standby.name, ts.Epoch, moved)
			discarded := ""
			if tc.changeOnTakeover {
				// Later than anything the other holds.
				r.apply(standby, "during-split", 102)
				if standby.name != tc.winner {
					discarded = "during-split"
				}
			}

			healAt := time.Now()
			heal()
			var winner, loser *haVSM
			for deadline := time.Now().Add(20 * time.Second); winner == nil; time.Sleep(100 * time.Millisecond) {
				a, errA := r.a.status()
				b, errB := r.b.status()
				switch {
				case errA == nil && errB == nil && a.State == ha.Active && b.State == ha.Standby:
					winner, loser = r.a, r.b
				case errA == nil && errB == nil && b.State == ha.Active && a.State == ha.Standby:
					winner, loser = r.b, r.a
				}
				if winner == nil && time.Now().After(deadline) {
					t.Fatalf("split brain not resolved 20 s after the heal: vsm-a %+v (%v), vsm-b %+v (%v)\n%s\n%s", a, errA, b, errB, r.a.output(), r.b.output())
				}
			}
			ws := r.waitPaired(winner, loser, 20*time.Second)
			t.Logf("healed: %s won (%s), %s restarted as its HA standby %v after the heal, epoch %d",
				winner.name, tc.rule, loser.name, time.Since(healAt).Round(10*time.Millisecond), ws.Epoch)
			if winner.name != tc.winner {
				t.Fatalf("%s won the split brain; by %s, %s should\n%s\n%s", winner.name, tc.rule, tc.winner, r.a.output(), r.b.output())
			}
			// The VEMs cut from one VSM hear it again (a session opened to
			// the winner gets its switch request).
			for _, h := range heals {
				h()
			}
			r.waitVEMs(15*time.Second, winner, max(ws.Epoch, ts.Epoch), "")
			// A VEM attached to the loser and cut from the winner is left
			// without an active VSM until its cut heals: headless then
			// (as the guide has it), and only then.
			var stranded []string
			if winner == standby {
				stranded = stayed
			}
			r.checkNeverHeadless(stranded...)
			if m := r.modules(); fmt.Sprint(m) != fmt.Sprint(mods) {
				t.Errorf("module numbers changed: %v, were %v", m, mods)
			}
			if discarded != "" {
				r.mu.Lock()
				r.acked = slices.DeleteFunc(r.acked, func(s string) bool { return s == discarded })
				r.mu.Unlock()
			}
			r.checkAcked(winner, loser)
			if discarded != "" {
				for _, s := range []*haVSM{winner, loser} {
					if segs, err := s.segments(); err != nil || slices.Contains(segs, discarded) {
						t.Errorf("%s holds %v (%v): the loser's change during the split should be discarded", s.name, segs, err)
					}
				}
				t.Logf("the loser's change during the split (%s) discarded, as the guide's resolution does", discarded)
			}
			// The healed pair takes changes again, replicated.
			r.apply(winner, "after-heal", 103)
			r.waitVEMs(10*time.Second, winner, ws.Epoch, "after-heal")
			r.checkAcked(winner, loser)
		})
	}
}

// vemsOf returns the rig's VEMs of the given hosts.
func (r *haRig) vemsOf(hosts []string) []*haVEM {
	var out []*haVEM
	for _, v := range r.vems {
		if slices.Contains(hosts, v.host) {
			out = append(out, v)
		}
	}
	return out
}
