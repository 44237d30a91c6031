package agent

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// incomingRig is an announcer over a fakeTx with a plan the test writes.
type incomingRig struct {
	tx  *fakeTx
	a   *announcer
	mu  sync.Mutex
	cur *plan
}

func newIncomingRig(t *testing.T, hold time.Duration) *incomingRig {
	r := &incomingRig{tx: &fakeTx{start: time.Now()}}
	r.a = newAnnouncer(announcerOptions{Tx: r.tx, Hold: hold,
		Plan:     func() *plan { r.mu.Lock(); defer r.mu.Unlock(); return r.cur },
		Schedule: []time.Duration{0, 20 * time.Millisecond}})
	runAnnouncer(t, r.a)
	r.write(announcePlan())
	return r
}

func (r *incomingRig) write(next *plan) {
	r.mu.Lock()
	prev := r.cur
	r.cur = next
	r.mu.Unlock()
	r.a.written(prev, next)
}

// framesFrom counts the frames sent from mac (VLAN) so far.
func (r *incomingRig) framesFrom(mac string) int {
	n := 0
	for _, f := range r.tx.frames() {
		if f.ifindex != 0 && net.HardwareAddr(f.data[6:12]).String() == mac {
			n++
		}
	}
	return n
}

// TestAnnouncerIncomingHeldUntilAnnounced: the port of an incoming domain
// comes up without a frame (another port in the same write is announced
// as ever); an announce request sends its rounds; a pending-only request
// afterwards does nothing; an unknown port is refused; an operator's
// request announces a port that was never held.
func TestAnnouncerIncomingHeldUntilAnnounced(t *testing.T) {
	r := newIncomingRig(t, time.Hour)
	in := vEth(10, "52:54:00:00:00:0a", 1, true, "192.0.2.10")
	other := vEth(11, "52:54:00:00:00:0b", 1, true)
	r.a.holdIncoming(in.Iface)
	r.write(announcePlan(in, other))
	idle(t, r.a)
	time.Sleep(50 * time.Millisecond) // a held job would have gone out by now
	if n := r.framesFrom("52:54:00:00:00:0a"); n != 0 {
		t.Fatalf("the incoming port sent %d frames before it was announced", n)
	}
	if n := r.framesFrom("52:54:00:00:00:0b"); n != 2 {
		t.Fatalf("the other port sent %d frames, want its 2 rounds of RARP", n)
	}
	if st := r.a.Stats(); st.Deferred != 1 || st.Pending != 1 || st.Ports != 1 {
		t.Fatalf("stats while held: %+v; want 1 deferred, 1 pending, 1 port announced", st)
	}
	// The port rewritten (a profile change, say) stays held.
	r.write(announcePlan(other))
	r.write(announcePlan(in, other))
	idle(t, r.a)
	if n := r.framesFrom("52:54:00:00:00:0a"); n != 0 {
		t.Fatalf("the incoming port sent %d frames after a rewrite", n)
	}

	rep, err := r.a.announceNow(in.Iface, true)
	if err != nil || !rep.Announced || !rep.WasDeferred {
		t.Fatalf("announce: %+v, %v", rep, err)
	}
	idle(t, r.a)
	if n := r.framesFrom("52:54:00:00:00:0a"); n != 4 {
		t.Fatalf("after the announce: %d frames, want 2 rounds of RARP and GARP", n)
	}
	if st := r.a.Stats(); st.Deferred != 1 || st.Pending != 0 || st.Ports != 2 {
		t.Fatalf("stats after the announce: %+v; want 1 deferred, none pending, 2 ports announced", st)
	}
	if rep, err := r.a.announceNow(in.Iface, true); err != nil || rep.Announced || rep.Reason == "" {
		t.Fatalf("pending-only with nothing pending: %+v, %v", rep, err)
	}
	if _, err := r.a.announceNow("nosuch", false); !errors.Is(err, errNoVEth) {
		t.Fatalf("unknown port: %v", err)
	}
	if rep, err := r.a.announceNow(other.Iface, false); err != nil || !rep.Announced || rep.WasDeferred {
		t.Fatalf("an operator's announce: %+v, %v", rep, err)
	}
	idle(t, r.a)
	if n := r.framesFrom("52:54:00:00:00:0b"); n != 4 {
		t.Fatalf("the other port after an operator's announce: %d frames, want 4", n)
	}
	down := in
	down.Entry.Down = true
	r.write(announcePlan(down, other))
	if _, err := r.a.announceNow(in.Iface, false); !errors.Is(err, errVEthDown) {
		t.Fatalf("an admin-down port: %v", err)
	}
}

// TestAnnouncerIncomingHoldExpires: a held port whose domain is never
// reported resumed is given up after the bound, unannounced; the hold
// gone, the port's next appearance is announced as any.
func TestAnnouncerIncomingHoldExpires(t *testing.T) {
	r := newIncomingRig(t, 200*time.Millisecond)
	in := vEth(10, "52:54:00:00:00:0a", 1, true)
	r.a.holdIncoming(in.Iface)
	r.write(announcePlan(in))
	deadline := time.Now().Add(5 * time.Second)
	for r.a.Stats().Expired == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hold not given up 5 s after a 200 ms bound: %+v", r.a.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.a.Stats(); st.Deferred != 1 || st.Pending != 0 || st.Ports != 0 {
		t.Fatalf("stats after the bound: %+v; want 1 deferred, none pending, none announced", st)
	}
	if n := r.framesFrom("52:54:00:00:00:0a"); n != 0 {
		t.Fatalf("a given-up port sent %d frames", n)
	}
	r.write(announcePlan())
	r.write(announcePlan(in))
	idle(t, r.a)
	if n := r.framesFrom("52:54:00:00:00:0a"); n != 2 {
		t.Fatalf("the port back after its hold ended: %d frames, want 2", n)
	}
	// A hold whose attach failed is dropped: nothing held, nothing counted.
	r.a.holdIncoming("tapff")
	r.a.unhold("tapff")
	if st := r.a.Stats(); st.Pending != 0 || st.Deferred != 1 {
		t.Fatalf("stats after an unhold: %+v", st)
	}
}
