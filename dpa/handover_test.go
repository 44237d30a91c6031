package dpa

import (
	"context"
	"testing"
	"time"
)

// TestHandOverTellsTheAttachedVSM: a VEM handed over tells the VSM it is
// attached to, and no other; one attached to none tells nobody.
func TestHandOverTellsTheAttachedVSM(t *testing.T) {
	h := newHarness(t, 0)
	h.open("a")
	h.open("b")
	if name, err := h.d.HandOver(context.Background()); name != "" || err != nil {
		t.Fatalf("connecting: told %q (%v), want nobody", name, err)
	}
	h.attachTo("b", 1)
	name, err := h.d.HandOver(context.Background())
	if name != "vsm-b" || err != nil {
		t.Fatalf("told %q (%v), want vsm-b", name, err)
	}
	h.wantCalls("b", "attach:INITIAL", "handover")
	h.wantCalls("a")
}

// TestSuccessorOfAHandoverIsNotHeadless: the successor starts from the
// checkpoint the old agent left, connecting; its headless timer counts
// from its own start, whenever the old agent heard its last heartbeat,
// and an attach within that time keeps it from ever going headless.
func TestSuccessorOfAHandoverIsNotHeadless(t *testing.T) {
	old := newHarness(t, 0)
	old.attachTo("a", 1)
	old.config("a", 5)
	old.clk.Advance(14 * time.Second) // the last heartbeat long ago
	if _, err := old.d.HandOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp := old.cps.last()
	succ := newHarnessFrom(t, 0, nil, &cp, old.clk.Now(), "a", "b")
	succ.wantState(StateConnecting)
	succ.clk.Advance(14 * time.Second)
	succ.wantState(StateConnecting)
	succ.attachTo("a", 1)
	succ.clk.Advance(time.Second)
	succ.wantState(StateAttached)
	if st := succ.d.Status(); st.Counters.HeadlessEntries != 0 || st.HeadlessSince != nil || st.Module != 3 || st.Generation != 5 {
		t.Fatalf("successor %+v", st)
	}
}
