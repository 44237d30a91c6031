package linkwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDumpAndNotifications(t *testing.T) {
	h := newHarness(t)
	early := h.w.Subscribe() // before anything is known
	defer early.Close()
	s := h.stream()
	s.send(link(1, "lo", true), link(2, "eth1", true))
	s.send(link(3, "eth2", false), dumpDone())
	select {
	case <-h.w.Synced():
	case <-time.After(patience):
		t.Fatal("not synced after the dump")
	}
	late := h.w.Subscribe() // gets the current state at once
	defer late.Close()
	for _, tc := range []struct {
		name string
		send []message
		want []string
	}{
		{"carrier up", []message{link(3, "eth2", true)}, []string{"eth2:up"}},
		{"no change is no event, then a change", []message{link(2, "eth1", true), link(2, "eth1", false)}, []string{"eth1:down"}},
		{"rename", []message{link(3, "uplink", true)}, []string{"eth2>uplink:up"}},
		{"deleted", []message{gone(2, "eth1")}, []string{"eth1:gone"}},
		{"created", []message{link(4, "tap0", true)}, []string{"tap0:up"}},
	} {
		if tc.name == "carrier up" {
			if got, want := summary(next(t, early)), []string{"lo:up", "eth1:up", "eth2:down"}; !slices.Equal(got, want) {
				t.Errorf("early subscriber's dump: %v, want %v", got, want)
			}
			if got, want := summary(next(t, late)), []string{"lo:up", "eth1:up", "eth2:down"}; !slices.Equal(got, want) {
				t.Errorf("late subscriber's state: %v, want %v", got, want)
			}
		}
		s.send(tc.send...)
		for _, sub := range []*Subscription{early, late} {
			if got := summary(next(t, sub)); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	if l, ok := h.w.Link("uplink"); !ok || l.Index != 3 || !l.Up() {
		t.Errorf("Link(uplink) = %+v, %v; want index 3, up", l, ok)
	}
	if _, ok := h.w.Link("eth1"); ok {
		t.Error("Link(eth1) found after its deletion")
	}
	var names []string
	for _, l := range h.w.Links() {
		names = append(names, l.Name)
	}
	if want := []string{"lo", "uplink", "tap0"}; !slices.Equal(names, want) {
		t.Errorf("Links: %v, want %v", names, want)
	}
	if err := h.w.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestResubscribe ends the subscription in each way the kernel can and
// checks that the Watcher resubscribes after the backoff and that the new
// dump reports what changed meanwhile, deletions included.
func TestResubscribe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(s *fakeStream)
		wantErr error
	}{
		{"ENOBUFS", func(s *fakeStream) { s.fail(fmt.Errorf("receive: %w", syscall.ENOBUFS)) }, syscall.ENOBUFS},
		{"dump interrupted", func(s *fakeStream) { s.fail(errDumpInterrupted) }, errDumpInterrupted},
		{"socket closed", func(s *fakeStream) { s.close() }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			sub := h.w.Subscribe()
			defer sub.Close()
			s := h.stream()
			s.send(link(1, "eth1", true), link(2, "eth2", true), link(3, "eth3", true), dumpDone())
			next(t, sub)

			tc.end(s)
			h.waitSleeping(1)
			h.clock.Advance(minBackoff)
			s = h.stream()
			// Meanwhile eth1 lost carrier, eth2 went away, eth4 came.
			s.send(link(1, "eth1", false), link(3, "eth3", true), link(4, "eth4", true))
			s.send(link(3, "eth3", false)) // a notification amid the dump
			s.send(dumpDone())
			got := summary(next(t, sub))
			for len(got) < 4 {
				got = append(got, summary(next(t, sub))...)
			}
			if want := []string{"eth1:down", "eth4:up", "eth3:down", "eth2:gone"}; !slices.Equal(got, want) {
				t.Errorf("after resubscribing: %v, want %v", got, want)
			}
			errs := h.errors()
			if len(errs) != 1 || (tc.wantErr != nil && !errors.Is(errs[0], tc.wantErr)) {
				t.Errorf("reported %v, want one error wrapping %v", errs, tc.wantErr)
			}
		})
	}
}

// TestBackoff fails subscriptions in a row: the waits double up to the
// maximum; one that lasted long resets them.
func TestBackoff(t *testing.T) {
	h := newHarness(t)
	for range 8 {
		h.edge.subErrs <- errors.New("no netlink")
	}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000}
	if s := h.stream(); s != nil {
		t.Fatal("first subscription succeeded")
	}
	for i, d := range want {
		d *= time.Millisecond
		h.waitSleeping(1)
		h.clock.Advance(d - time.Nanosecond)
		if h.clock.Pending() != 1 {
			t.Fatalf("retry %d: resubscribed before %v", i+1, d)
		}
		h.clock.Advance(time.Nanosecond)
		s := h.stream()
		if i < len(want)-1 {
			if s != nil {
				t.Fatalf("retry %d succeeded", i+1)
			}
			continue
		}
		if s == nil {
			t.Fatal("last retry failed")
		}
		s.send(dumpDone())
		<-h.w.Synced()
		// A subscription that lasted resets the backoff.
		h.clock.Advance(maxBackoff)
		s.close()
		h.waitSleeping(1)
		h.clock.Advance(minBackoff)
		if s := h.stream(); s == nil {
			t.Fatal("resubscription after a long one failed")
		}
	}
	if n := len(h.errors()); n != 9 {
		t.Errorf("%d errors reported, want 9", n)
	}
}

// TestSlowSubscriber floods a Watcher while one subscriber never reads:
// the Watcher keeps going (a fast subscriber sees the end), and the slow one
// then finds one event per link, each the latest state.
func TestSlowSubscriber(t *testing.T) {
	h := newHarness(t)
	slow, fast := h.w.Subscribe(), h.w.Subscribe()
	defer slow.Close()
	defer fast.Close()
	s := h.stream()
	const links, flaps = 50, 200
	for i := range links {
		s.send(link(i+1, fmt.Sprintf("tap%d", i), true))
	}
	s.send(dumpDone())
	for round := range flaps {
		for i := range links {
			s.send(link(i+1, fmt.Sprintf("tap%d", i), round%2 == 1))
		}
	}
	s.send(link(1000, "marker", true))
	var seen int
	for done := false; !done; {
		for _, e := range next(t, fast) {
			seen++
			done = done || e.Link.Name == "marker"
		}
	}
	got := slow.Events()
	if len(got) != links+1 {
		t.Fatalf("slow subscriber: %d events, want %d (one per link)", len(got), links+1)
	}
	for _, e := range got[:links] {
		if !e.Link.Up() || !strings.HasPrefix(e.Link.Name, "tap") {
			t.Errorf("slow subscriber: %s up=%v, want the latest state, up", e.Link.Name, e.Link.Up())
		}
	}
	if slow.Events() != nil {
		t.Error("events left after taking them all")
	}
	t.Logf("fast subscriber took %d events, slow one %d, for %d changes", seen, len(got), links*(flaps+1)+1)
}

// TestPoll reads polled links' carrier on the clock, lets the poll
// override stale notifications, and stops when nothing is polled.
func TestPoll(t *testing.T) {
	h := newHarness(t)
	sub := h.w.Subscribe()
	defer sub.Close()
	s := h.stream()
	s.send(link(1, "eth1", true), link(2, "eth2", true), link(3, "tap0", true), dumpDone())
	next(t, sub)
	h.edge.setFlags(1, true, true)
	h.edge.setFlags(2, true, true)

	sub.Poll("eth1", "eth2", "eth9")
	if got := summary(sub.Events()); !slices.Equal(got, []string{"eth1:up", "eth2:up"}) && !slices.Equal(got, []string{"eth2:up", "eth1:up"}) {
		t.Errorf("newly polled links queued %v, want eth1 and eth2", got)
	}
	h.clock.Advance(DefaultPollInterval)
	q := h.edge.takeQueries()
	if len(q) != 1 || len(q[0]) != 2 {
		t.Fatalf("queries %v, want one of the two existing members", q)
	}

	h.edge.setFlags(2, true, false) // eth2 loses carrier; no notification yet
	h.clock.Advance(DefaultPollInterval)
	if got := summary(sub.Events()); !slices.Equal(got, []string{"eth2:down"}) {
		t.Errorf("after the poll: %v, want eth2:down", got)
	}
	// A notification queued before the loss arrives late: ignored.
	s.send(link(2, "eth2", true), link(3, "tap0", false))
	if got := summary(next(t, sub)); !slices.Equal(got, []string{"tap0:down"}) {
		t.Errorf("after a stale notification: %v, want tap0:down only", got)
	}

	// eth9 appears and is polled from the next tick on.
	s.send(link(9, "eth9", true))
	next(t, sub)
	h.edge.setFlags(9, true, false)
	h.clock.Advance(DefaultPollInterval)
	if got := summary(sub.Events()); !slices.Equal(got, []string{"eth9:down"}) {
		t.Errorf("late member: %v, want eth9:down", got)
	}

	// Unpolled, eth2 follows its notifications again.
	sub.Poll("eth1")
	s.send(link(2, "eth2", true))
	if got := summary(next(t, sub)); !slices.Equal(got, []string{"eth2:up"}) {
		t.Errorf("unpolled: %v, want eth2:up", got)
	}
	h.edge.takeQueries()
	sub.Close()
	h.clock.Advance(10 * DefaultPollInterval)
	if q := h.edge.takeQueries(); len(q) > 1 {
		t.Errorf("%d queries after the last poll ended, want at most the one armed", len(q))
	}
	if n := h.clock.Pending(); n != 0 {
		t.Errorf("%d timers armed with nothing to poll", n)
	}
}

// TestRenamedMemberNotPolled checks that a polled link renamed away loses
// the override: its new name follows notifications.
func TestRenamedMemberNotPolled(t *testing.T) {
	h := newHarness(t)
	sub := h.w.Subscribe()
	defer sub.Close()
	s := h.stream()
	s.send(link(1, "eth1", true), dumpDone())
	next(t, sub)
	sub.Poll("eth1")
	sub.Events()
	h.edge.setFlags(1, true, false)
	h.clock.Advance(DefaultPollInterval)
	if got := summary(sub.Events()); !slices.Equal(got, []string{"eth1:down"}) {
		t.Fatalf("polled: %v, want eth1:down", got)
	}
	s.send(link(1, "old1", true))
	if got := summary(next(t, sub)); !slices.Equal(got, []string{"eth1>old1:up"}) {
		t.Errorf("renamed: %v, want eth1>old1:up", got)
	}
}
