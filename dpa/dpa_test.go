package dpa

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
)

const (
	activeS = protocol.State_STATE_ACTIVE
	standby = protocol.State_STATE_STANDBY
)

func TestAttachOnStart(t *testing.T) {
	h := newHarness(t, 0)
	h.open("a")
	h.open("b")
	h.heartbeat("b", standby, 1)
	h.wantState(StateConnecting)
	h.heartbeat("a", activeS, 1)
	h.wantCalls("a", "attach:INITIAL")
	h.wantCalls("b")
	h.send("a", &protocol.AttachAccepted{Module: 3, Name: "vsm-a", Epoch: 1})
	st := h.d.Status()
	if st.State != StateAttached || st.AttachedVSM != "vsm-a" || st.Module != 3 || st.Epoch != 1 || st.Mode != "vsm" {
		t.Fatalf("after attach: %+v", st)
	}
}

func TestHeadlessExactlyAfterLastHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setting time.Duration
		want    time.Duration
	}{
		{"default 15s", 0, 15 * time.Second},
		{"shortened 3s", 3 * time.Second, 3 * time.Second},
		{"lengthened 30s", 30 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.setting)
			h.attachTo("a", 1)
			h.beats(5, 1, "a")
			h.clk.Advance(300 * time.Millisecond)
			h.heartbeat("a", activeS, 1)
			last := h.clk.Now()
			h.clk.Advance(tc.want - time.Nanosecond)
			h.wantState(StateAttached)
			h.clk.Advance(time.Nanosecond)
			h.wantState(StateHeadless)
			st := h.d.Status()
			if st.HeadlessSince == nil || !st.HeadlessSince.Equal(last.Add(tc.want)) {
				t.Fatalf("headlessSince %v, want %v", st.HeadlessSince, last.Add(tc.want))
			}
			if st.Counters.HeadlessEntries != 1 || st.Counters.HeartbeatsMissed != uint64(tc.want/time.Second) {
				t.Errorf("counters %+v", st.Counters)
			}
			h.clk.Advance(2 * time.Second)
			if ms := h.d.Status().Counters.HeadlessMs; ms != 2000 {
				t.Errorf("headlessMs %d, want 2000", ms)
			}
		})
	}
}

func TestHeadlessWithoutAnyVSMFromStart(t *testing.T) {
	h := newHarness(t, 0)
	h.open("a")
	h.heartbeat("a", standby, 1)
	h.clk.Advance(15*time.Second - time.Nanosecond)
	h.wantState(StateConnecting)
	h.clk.Advance(time.Nanosecond)
	h.wantState(StateHeadless)
}

func TestIgnoresAnotherActiveVSMWhileAttached(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	h.beats(60, 1, "a", "b") // split brain: both active, for a minute
	h.wantState(StateAttached)
	h.wantCalls("b")
	st := h.d.Status()
	if st.AttachedVSM != "vsm-a" || st.Counters.HeartbeatsIgnored != 60 {
		t.Fatalf("status %+v", st)
	}
}

func TestSwitchRequests(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      *protocol.SwitchRequest
		accepted bool
	}{
		{"higher epoch", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 3}, true},
		{"same epoch", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 2}, false},
		{"older epoch", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 1}, false},
		{"another VSM's name", &protocol.SwitchRequest{Name: "vsm-x", Epoch: 9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			h.attachTo("a", 2)
			h.send("b", tc.req)
			st := h.d.Status()
			if !tc.accepted {
				h.wantState(StateAttached)
				h.wantCalls("a", "attach:INITIAL")
				h.wantCalls("b")
				if st.Counters.SwitchRequestsIgnored != 1 || st.AttachedVSM != "vsm-a" || st.Epoch != 2 {
					t.Fatalf("status %+v", st)
				}
				return
			}
			h.wantState(StateConnecting)
			h.wantCalls("a", "attach:INITIAL", "detach")
			h.wantCalls("b", "attach:SWITCH_REQUEST")
			h.send("b", &protocol.AttachAccepted{Module: 3, Name: "vsm-b", Epoch: 3})
			st = h.d.Status()
			if st.State != StateAttached || st.AttachedVSM != "vsm-b" || st.Epoch != 3 || st.Counters.SwitchRequestsAccepted != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestHeadlessAttachesToHighestEpoch(t *testing.T) {
	h := newHarness(t, 0, "a", "b", "c")
	h.attachTo("a", 1)
	h.heartbeat("a", activeS, 1)
	h.beats(14, 2, "b", "c") // b and c claim active (c at epoch 2 too)
	h.heartbeat("c", activeS, 3)
	h.wantCalls("b")
	h.wantCalls("c")
	h.clk.Advance(time.Second)
	h.wantState(StateHeadless)
	h.wantCalls("b")
	h.wantCalls("c", "attach:HEADLESS")
	h.send("c", &protocol.AttachAccepted{Module: 3, Name: "vsm-c", Epoch: 3})
	h.wantState(StateAttached)
}

// The guide's case: a VEM that has lost its VSM and hears only another
// active VSM ignores its heartbeats until headless, then attaches to it.
func TestLostVSMHearsAnotherActiveUntilHeadless(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	h.heartbeat("a", activeS, 1)
	h.sess["a"].Close()
	h.d.down(h.d.vsmAt("a"), h.sess["a"], errors.New("gone"))
	h.beats(15, 2, "b")
	h.wantState(StateHeadless)
	h.wantCalls("b", "attach:HEADLESS")
	if st := h.d.Status(); st.Counters.HeartbeatsIgnored != 15 || st.Counters.HeadlessEntries != 1 {
		t.Fatalf("counters %+v", st.Counters)
	}
	h.clk.Advance(500 * time.Millisecond)
	h.send("b", &protocol.AttachAccepted{Module: 3, Name: "vsm-b", Epoch: 2})
	st := h.d.Status()
	if st.State != StateAttached || st.AttachedVSM != "vsm-b" || st.HeadlessSince != nil || st.Counters.HeadlessMs != 500 {
		t.Fatalf("status %+v", st)
	}
}

func TestSplitBrainStaysUntilSwitchRequestOrHeadless(t *testing.T) {
	t.Run("switch request", func(t *testing.T) {
		h := newHarness(t, 0)
		h.attachTo("a", 4)
		h.beats(30, 4, "a", "b")
		h.wantCalls("b")
		h.send("b", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 5})
		h.wantCalls("b", "attach:SWITCH_REQUEST")
	})
	t.Run("headless", func(t *testing.T) {
		h := newHarness(t, 0)
		h.attachTo("a", 4)
		h.beats(30, 4, "a", "b")
		h.beats(15, 4, "b")
		h.wantCalls("b", "attach:HEADLESS")
	})
}

// TestFollowsActiveWhenOwnVSMTurnsStandby: a switchover whose switch
// request this VEM missed (its session to the new active was being
// reopened as it went out): once its own VSM says it is standby, the VEM
// attaches to the active VSM of a higher epoch 2 s later (the switch
// request normally comes first), whichever of the two heartbeats comes
// first; not to one of its own epoch or lower.
func TestFollowsActiveWhenOwnVSMTurnsStandby(t *testing.T) {
	for _, tc := range []struct {
		name      string
		order     []string // which heartbeat first: "a" standby, "b" active
		bEpoch    uint64
		wantMoved bool
	}{
		{"standby first", []string{"a", "b"}, 3, true},
		{"active first", []string{"b", "a"}, 3, true},
		{"active not newer", []string{"a", "b"}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			h.attachTo("a", 2)
			// Before followActiveAfter the VEM waits for the switch request.
			for range 2 {
				for _, who := range tc.order {
					if who == "a" {
						h.heartbeat("a", standby, 3)
					} else {
						h.heartbeat("b", activeS, tc.bEpoch)
					}
				}
				h.wantState(StateAttached)
				h.clk.Advance(time.Second)
			}
			for _, who := range tc.order {
				if who == "a" {
					h.heartbeat("a", standby, 3)
				} else {
					h.heartbeat("b", activeS, tc.bEpoch)
				}
			}
			if !tc.wantMoved {
				h.wantState(StateAttached)
				h.wantCalls("b")
				return
			}
			h.wantState(StateConnecting)
			h.wantCalls("a", "attach:INITIAL", "detach")
			h.wantCalls("b", "attach:SWITCH_REQUEST")
			h.send("b", &protocol.AttachAccepted{Module: 3, Name: "vsm-b", Epoch: 3})
			if st := h.d.Status(); st.State != StateAttached || st.AttachedVSM != "vsm-b" || st.Epoch != 3 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestStandbyHeartbeatsOfOwnVSMDoNotKeepItAttached(t *testing.T) {
	h := newHarness(t, 5*time.Second)
	h.attachTo("a", 1)
	for range 5 {
		h.heartbeat("a", standby, 1)
		h.clk.Advance(time.Second)
	}
	h.wantState(StateHeadless)
}

func TestNackKeepsRunningState(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	h.config("a", 1)
	h.app.refuse = errors.New("uplink eth1 missing")
	h.config("a", 2)
	h.wantCalls("a", "attach:INITIAL", "ack:1", "nack:2:uplink eth1 missing")
	st := h.d.Status()
	if st.Generation != 1 || st.Counters.ConfigsApplied != 1 || st.Counters.ConfigsRefused != 1 || h.app.applies() != 1 {
		t.Fatalf("status %+v, applies %d", st, h.app.applies())
	}
	if cp := h.cps.last(); cp.Generation != 1 || cp.Module != 3 || cp.AttachedVSM != "vsm-a" {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestConfigFromAnotherVSMRefused(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	h.config("b", 1)
	h.wantCalls("b", "nack:1:not attached to vsm-b")
	if h.app.applies() != 0 {
		t.Fatal("applied a configuration from a VSM it is not attached to")
	}
}

func TestQueuedPortEventsReplayedInOrder(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 0)
	for i, e := range []string{"attach:tap-a", "detach:tap-b", "attach:tap-c"} {
		var err error
		if e[0] == 'a' {
			err = h.d.AttachPort(ctx, &protocol.PortAttach{Interface: e[7:]})
		} else {
			err = h.d.DetachPort(ctx, &protocol.PortDetach{Interface: e[7:]})
		}
		if err != nil || h.d.Status().QueuedPortEvents != i+1 {
			t.Fatalf("event %d: %v, status %+v", i, err, h.d.Status())
		}
	}
	h.attachTo("a", 1)
	h.wantCalls("a", "attach:INITIAL", "port-attach:tap-a", "port-detach:tap-b", "port-attach:tap-c")
	if err := h.d.AttachPort(ctx, &protocol.PortAttach{Interface: "tap-d"}); err != nil {
		t.Fatal(err)
	}
	h.wantCalls("a", "attach:INITIAL", "port-attach:tap-a", "port-detach:tap-b", "port-attach:tap-c", "port-attach:tap-d")
	if q := h.d.Status().QueuedPortEvents; q != 0 {
		t.Fatalf("%d events still queued", q)
	}
	// Headless, events queue again.
	h.clk.Advance(15 * time.Second)
	h.wantState(StateHeadless)
	if err := h.d.DetachPort(ctx, &protocol.PortDetach{Interface: "tap-d"}); err != nil || h.d.Status().QueuedPortEvents != 1 {
		t.Fatalf("headless detach: %v, %+v", err, h.d.Status())
	}
}

func TestModuleKeptAcrossReattach(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1) // b's session said generation 0, module 0
	// The session to vsm-a drops and comes back; its attach gets module 7.
	h.d.down(h.d.vsmAt("a"), h.sess["a"], errors.New("reset"))
	h.open("a")
	h.send("a", &protocol.AttachAccepted{Module: 7, Name: "vsm-a", Epoch: 1})
	h.config("a", 12)
	old := h.sess["b"]
	h.send("b", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 2})
	if !old.isClosed() || len(old.Calls()) != 0 {
		t.Fatalf("stale session to vsm-b: closed %v, calls %q; want it reopened before the attach", old.isClosed(), old.Calls())
	}
	h.d.down(h.d.vsmAt("b"), old, errors.New("closed"))
	if f := h.d.Facts(); f != (Facts{LastGeneration: 12, Module: 7}) {
		t.Fatalf("facts for the new Hello %+v", f)
	}
	h.open("b")
	h.wantCalls("b", "attach:SWITCH_REQUEST")
	if v := h.d.vsmAt("b"); v.facts != (Facts{LastGeneration: 12, Module: 7}) {
		t.Fatalf("new session's Hello said %+v", v.facts)
	}
	h.send("b", &protocol.AttachAccepted{Module: 7, Name: "vsm-b", Epoch: 2})
	if st := h.d.Status(); st.Module != 7 || st.Generation != 12 || st.AttachedVSM != "vsm-b" {
		t.Fatalf("status %+v", st)
	}
}

func TestSessionToOwnVSMReopenedReattaches(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	h.d.down(h.d.vsmAt("a"), h.sess["a"], errors.New("reset"))
	h.wantState(StateAttached) // until heartbeats are missed
	h.open("a")
	h.wantState(StateConnecting)
	h.wantCalls("a", "attach:INITIAL")
}

func TestMACDistribution(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	e := func(mac, vtep string) *protocol.MacEntry { return &protocol.MacEntry{Vni: 5001, Mac: mac, Vtep: vtep} }
	h.config("a", 1, e("52:54:00:00:00:01", "198.51.100.2"), e("52:54:00:00:00:02", "198.51.100.2"))
	h.send("a", &protocol.MacUpdate{
		Remove: []*protocol.MacEntry{e("52:54:00:00:00:01", "198.51.100.2"), e("52:54:00:00:00:02", "198.51.100.2")},
		Add:    []*protocol.MacEntry{e("52:54:00:00:00:02", "198.51.100.3")},
	})
	if n := len(h.app.macs); n != 2 {
		t.Fatalf("%d remote MAC sets applied, want 2", n)
	}
	got := fmt.Sprint(h.app.macs[1])
	if want := "[{5001 52:54:00:00:00:02 198.51.100.3}]"; got != want {
		t.Fatalf("remote MACs %s, want %s", got, want)
	}
	if cp := h.cps.last(); fmt.Sprint(cp.RemoteMACs) != got {
		t.Fatalf("checkpointed MACs %v", cp.RemoteMACs)
	}
}

// TestReplayedMessagesRefused: on the attached VSM's own session, a
// replayed switch request (stale epoch), AttachAccepted (not asked),
// configuration (older generation) and heartbeat (sequence number not
// above the last) are refused: the state stays as it was, and a replayed
// heartbeat does not put off headless.
func TestReplayedMessagesRefused(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 2)
	h.config("a", 5)
	h.beats(2, 2, "a")
	before := h.d.Status()
	applies := h.app.applies()

	h.send("a", &protocol.SwitchRequest{Name: "vsm-a", Epoch: 2})
	h.send("a", &protocol.AttachAccepted{Module: 9, Name: "vsm-a", Epoch: 3})
	h.send("a", &protocol.Config{Generation: 4, Nonce: 40, Switch: testSwitch(t)})
	h.wantCalls("a", "attach:INITIAL", "ack:5", "nack:4:generation 4 is older than 5, already received from vsm-a")
	after := h.d.Status()
	if after.State != StateAttached || after.AttachedVSM != "vsm-a" || after.Module != before.Module ||
		after.Epoch != before.Epoch || after.Generation != before.Generation || h.app.applies() != applies {
		t.Fatalf("state changed by replays: before %+v, after %+v (%d applies, was %d)", before, after, h.app.applies(), applies)
	}
	if after.Counters.SwitchRequestsIgnored != 1 || after.Counters.ConfigsRefused != 1 {
		t.Errorf("counters %+v", after.Counters)
	}

	// The last heartbeat came a second ago (beats advanced after it);
	// one replayed now does not count.
	last := h.clk.Now().Add(-time.Second)
	s := h.sess["a"]
	h.send("a", &protocol.Heartbeat{Name: "vsm-a", Role: protocol.Role_ROLE_PRIMARY, State: activeS, Epoch: 2, Seq: s.hbSeq})
	h.send("a", &protocol.Heartbeat{Name: "vsm-a", Role: protocol.Role_ROLE_PRIMARY, State: activeS, Epoch: 2, Seq: 1})
	h.clk.Advance(last.Add(15 * time.Second).Sub(h.clk.Now()))
	h.wantState(StateHeadless)
}

// TestAttachedElsewhereDetachesFromTheLostVSM: a VEM headless because its
// VSM fell silent (its session still open: stalled, not ended) attaches
// to the other active VSM and tells the lost one it left (Detach), so that
// it no longer counts the VEM as its module; a switch request's detach is
// not repeated.
func TestAttachedElsewhereDetachesFromTheLostVSM(t *testing.T) {
	h := newHarness(t, 3*time.Second)
	h.attachTo("a", 1)
	h.beats(3, 2, "b")
	h.wantState(StateHeadless)
	h.wantCalls("b", "attach:HEADLESS")
	h.send("b", &protocol.AttachAccepted{Module: 3, Name: "vsm-b", Epoch: 2})
	h.wantState(StateAttached)
	h.wantCalls("a", "attach:INITIAL", "detach")

	// Back on a by a switch request: b is detached once, by it.
	h.heartbeat("a", activeS, 3)
	h.send("a", &protocol.SwitchRequest{Name: "vsm-a", Epoch: 3})
	h.wantCalls("a", "attach:SWITCH_REQUEST") // on a session reopened with the module
	h.send("a", &protocol.AttachAccepted{Module: 3, Name: "vsm-a", Epoch: 3})
	h.wantState(StateAttached)
	h.wantCalls("b", "attach:HEADLESS", "detach")
}

// TestStandbySessionRefreshedAfterAttach: a session opened before the
// first attach named no module; once attached, the VEM reopens it within
// refreshSpread, so a later switch request from that VSM is answered on
// the session it holds, without a redial at switchover.
func TestStandbySessionRefreshedAfterAttach(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	old := h.sess["b"]
	if old.isClosed() {
		t.Fatal("the session to vsm-b closed before the refresh window")
	}
	h.clk.Advance(refreshSpread)
	if !old.isClosed() {
		t.Fatalf("the session to vsm-b (Hello said module 0) still open %v after attaching as module 3", refreshSpread)
	}
	h.d.down(h.d.vsmAt("b"), old, errors.New("closed by the VEM"))
	fresh := h.open("b")
	if v := h.d.vsmAt("b"); v.facts.Module != 3 {
		t.Fatalf("the reopened session's Hello said %+v", v.facts)
	}
	// Configuration changes do not reopen it: the VSM reads only the module.
	h.config("a", 5)
	h.clk.Advance(refreshSpread)
	h.send("b", &protocol.SwitchRequest{Name: "vsm-b", Epoch: 2})
	if fresh.isClosed() {
		t.Fatal("the current session to vsm-b was reopened at the switch request")
	}
	h.wantCalls("b", "attach:SWITCH_REQUEST")
}
