package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/vsm/ha"
)

// TestHABootOrders boots the pair of real binaries in their namespaces
// in each order: the primary first (it is active alone, the secondary
// joins as its standby), the secondary first (it is active alone, the
// primary joins as its standby: an active peer is never displaced), and
// both at once (the primary becomes active). In each, the standby is
// stable (HA standby), a VEM attaches to the active, and a change the
// active acknowledges is held by both.
func TestHABootOrders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  func(r *haRig) *haVSM // nil: both at once
		active func(r *haRig) *haVSM
	}{
		{"primary first", func(r *haRig) *haVSM { return r.a }, func(r *haRig) *haVSM { return r.a }},
		{"secondary first", func(r *haRig) *haVSM { return r.b }, func(r *haRig) *haVSM { return r.b }},
		{"both at once", nil, func(r *haRig) *haVSM { return r.a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHARig(t)
			active := tc.active(r)
			standby := r.b
			if active == r.b {
				standby = r.a
			}
			began := time.Now()
			if tc.first != nil {
				first := tc.first(r)
				first.start()
				first.wait(15*time.Second, "active alone", func(s ha.Status) bool {
					return s.State == ha.Active && s.Peer.State == ha.PeerAbsent
				})
				t.Logf("%s active alone after %v", first.name, time.Since(began).Round(10*time.Millisecond))
				r.apply(first, "before-peer", 10)
				other := r.a
				if first == r.a {
					other = r.b
				}
				other.start()
			} else {
				r.a.start()
				r.b.start()
			}
			st := r.waitPaired(active, standby, 20*time.Second)
			t.Logf("%s active with HA standby %s at epoch %d after %v", active.name, standby.name, st.Epoch, time.Since(began).Round(10*time.Millisecond))
			if st.Peer.Name != standby.name {
				t.Fatalf("%s's peer is %+v", active.name, st.Peer)
			}
			r.startVEMs(1, nil)
			r.waitVEMs(15*time.Second, active, st.Epoch, "")
			r.apply(active, "paired", 11)
			r.waitVEMs(10*time.Second, active, st.Epoch, "paired")
			r.checkAcked(active, standby)
			if err := r.tryApply(standby, "on-standby", 12); err == nil {
				t.Fatalf("the standby %s acknowledged a change", standby.name)
			} else {
				r.mu.Lock()
				r.acked = r.acked[:len(r.acked)-1]
				r.mu.Unlock()
				t.Logf("the standby refuses changes: %v", firstLine(err.Error()))
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// killActive kills the active (SIGKILL) and measures, for each VEM, the
// time from the kill to the new active's switch request (the VEM
// attached to it at a higher epoch, the request counted).
func (r *haRig) killActive(active, standby *haVSM, epoch uint64) (took time.Duration) {
	r.t.Helper()
	before := map[string]uint64{}
	for _, v := range r.vems {
		before[v.host] = v.status().Counters.SwitchRequestsAccepted
	}
	killed := time.Now()
	active.kill()
	got := map[string]time.Duration{}
	for deadline := killed.Add(20 * time.Second); len(got) < len(r.vems); time.Sleep(10 * time.Millisecond) {
		for _, v := range r.vems {
			if _, ok := got[v.host]; ok {
				continue
			}
			st := v.status()
			if st.State == dpa.StateAttached && st.AttachedVSM == standby.name && st.Epoch > epoch &&
				st.Counters.SwitchRequestsAccepted > before[v.host] {
				got[v.host] = time.Since(killed)
			}
		}
		if time.Now().After(deadline) {
			for _, v := range r.vems {
				r.t.Logf("%s: %+v", v.host, v.status())
			}
			r.t.Fatalf("not every VEM got %s's switch request within 20 s of the kill\n%s", standby.name, standby.output())
		}
	}
	for _, v := range r.vems {
		took = max(took, got[v.host])
		r.t.Logf("kill -9 of %s -> switch request from %s on %s: %v", active.name, standby.name, v.host, got[v.host].Round(time.Millisecond))
	}
	return took
}

// TestHAKillActiveTakeover: three VEMs attached to the active, changes
// acknowledged; the active is killed (SIGKILL): the HA standby takes
// over after the heartbeat-loss interval (6 s) at a higher epoch and
// every VEM gets its switch request, measured from the kill, without
// going headless and keeping its module number. The killed VSM,
// restarted, finds the new active and becomes its standby, resynchronised:
// every acknowledged change, before and after the kill, is on both.
func TestHAKillActiveTakeover(t *testing.T) {
	t.Parallel()
	r := newHARig(t)
	r.a.start()
	r.b.start()
	st := r.waitPaired(r.a, r.b, 20*time.Second)
	r.startVEMs(3, nil)
	for i := 0; i < 5; i++ {
		r.apply(r.a, fmt.Sprintf("seg%d", i), 100+i)
	}
	r.waitVEMs(15*time.Second, r.a, st.Epoch, "seg4")
	mods := r.modules()
	took := r.killActive(r.a, r.b, st.Epoch)
	sb, err := r.b.status()
	if err != nil || sb.State != ha.Active || sb.Epoch <= st.Epoch {
		t.Fatalf("vsm-b after the takeover: %+v, %v", sb, err)
	}
	t.Logf("takeover: kill -9 -> last VEM's switch request %v (heartbeat-loss interval 6 s); vsm-b active at epoch %d (was %d)",
		took.Round(time.Millisecond), sb.Epoch, st.Epoch)
	if took < 4*time.Second || took > 10*time.Second {
		t.Errorf("kill to switch request took %v; want the 6 s heartbeat-loss interval and little more", took)
	}
	r.checkNeverHeadless()
	if m := r.modules(); fmt.Sprint(m) != fmt.Sprint(mods) {
		t.Errorf("module numbers changed across the takeover: %v, were %v", m, mods)
	}
	r.checkAcked(r.b)
	r.apply(r.b, "after-kill", 120)

	// The killed VSM comes back: standby of vsm-b, resynchronised.
	r.a.start()
	r.waitPaired(r.b, r.a, 20*time.Second)
	r.checkAcked(r.b, r.a)
	r.waitVEMs(5*time.Second, r.b, sb.Epoch, "after-kill")
	r.checkNeverHeadless()
}

// TestHADegradedNoTakeover: the control path cut alone (its veth down):
// both VSMs become degraded, the heartbeats go over the management path
// and the peer stays present; past the heartbeat-loss interval there is
// no takeover (the pair and its VEMs are as they were). A change the
// active acknowledges while degraded is not lost: the active is then
// killed, and the standby that takes over holds it.
func TestHADegradedNoTakeover(t *testing.T) {
	t.Parallel()
	r := newHARig(t)
	r.a.start()
	r.b.start()
	st := r.waitPaired(r.a, r.b, 20*time.Second)
	r.startVEMs(2, nil)
	r.apply(r.a, "before-cut", 100)
	r.waitVEMs(15*time.Second, r.a, st.Epoch, "before-cut")

	cut := time.Now()
	r.a.setPath("ctl0", false)
	degraded := func(s ha.Status) bool { return s.Degraded && s.Peer.State != ha.PeerAbsent }
	r.a.wait(10*time.Second, "degraded", degraded)
	r.b.wait(10*time.Second, "degraded", degraded)
	t.Logf("control path cut: both degraded after %v, the peer heard on the management path", time.Since(cut).Round(10*time.Millisecond))
	r.apply(r.a, "while-degraded", 101)
	// Past the heartbeat-loss interval: still the same pair, degraded.
	time.Sleep(time.Until(cut.Add(8 * time.Second)))
	sa, errA := r.a.status()
	sb, errB := r.b.status()
	if errA != nil || errB != nil || !haActiveWithHAStandby(sa) || !sa.Degraded || sb.State != ha.Standby || !sb.Degraded || sa.Epoch != st.Epoch {
		t.Fatalf("8 s after the control path was cut: vsm-a %+v (%v), vsm-b %+v (%v); want the same pair, degraded", sa, errA, sb, errB)
	}
	r.waitVEMs(5*time.Second, r.a, st.Epoch, "while-degraded")
	t.Logf("8 s after the cut: vsm-a %s (%s), vsm-b %s (%s), both degraded, epoch %d", sa.State, sa.InternalState, sb.State, sb.InternalState, sa.Epoch)

	// The active dies while degraded: what it acknowledged survives.
	took := r.killActive(r.a, r.b, st.Epoch)
	t.Logf("degraded, vsm-a killed: switch request from vsm-b after %v", took.Round(time.Millisecond))
	r.checkAcked(r.b)
	r.checkNeverHeadless()
	r.a.setPath("ctl0", true)
	r.a.start()
	r.waitPaired(r.b, r.a, 20*time.Second)
	r.checkAcked(r.b, r.a)
}
