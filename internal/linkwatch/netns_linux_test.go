package linkwatch

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vem-switch/vem/test/topo"
)

// netnsTest is a Watcher running on a real namespace until the test ends.
type netnsTest struct {
	t      *testing.T
	tp     *topo.Topology
	a, b   *topo.NS
	w      *Watcher
	mu     sync.Mutex
	errs   []error
	cancel context.CancelFunc
}

// newNetnsTest makes namespaces a and b and a Watcher of a, which
// prepare may adjust before it runs.
func newNetnsTest(t *testing.T, prepare func(*Watcher)) *netnsTest {
	topo.RequireRoot(t)
	n := &netnsTest{t: t, tp: topo.ForTest(t)}
	var err error
	if n.a, err = n.tp.NS("a"); err != nil {
		t.Fatal(err)
	}
	if n.b, err = n.tp.NS("b"); err != nil {
		t.Fatal(err)
	}
	n.w, err = New(Options{NetNS: n.a.Path(), OnError: func(err error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		t.Logf("reported: %v", err)
		n.errs = append(n.errs, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(n.w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Registered after the topology's: runs first, before the namespaces go.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return n
}

func (n *netnsTest) must(err error) {
	n.t.Helper()
	if err != nil {
		n.t.Fatal(err)
	}
}

func (n *netnsTest) errors() []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]error(nil), n.errs...)
}

// waitFor takes the subscription's events until one satisfies ok.
func waitFor(t *testing.T, s *Subscription, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case <-s.Ready():
			for _, e := range s.Events() {
				if ok(e) {
					return e
				}
			}
		case <-deadline:
			t.Fatalf("no event: %s", what)
		}
	}
}

func isUp(name string, up bool) func(Event) bool {
	return func(e Event) bool { return e.Link.Name == name && !e.Gone && e.Link.Up() == up }
}

func isGone(name string) func(Event) bool {
	return func(e Event) bool { return e.Link.Name == name && e.Gone }
}

// TestNetns follows real veths: the existing ones, carrier lost and back
// at the peer, a polled member created late, a deletion.
func TestNetns(t *testing.T) {
	n := newNetnsTest(t, nil)
	n.must(n.tp.Veth(n.a, "x1", n.b, "y1"))
	n.must(n.tp.Veth(n.a, "x2", n.b, "y2"))
	sub := n.w.Subscribe()
	defer sub.Close()
	waitFor(t, sub, "x1 up", isUp("x1", true))
	if l, ok := n.w.Link("x1"); !ok || l.Kind != "veth" || l.MTU == 0 || len(l.HardwareAddr) != 6 || l.PeerNetNSID < 0 {
		t.Errorf("Link(x1) = %+v, %v: want a veth with MTU, MAC and a peer namespace", l, ok)
	}
	sub.Poll("x1", "x3")
	for _, tc := range []struct {
		what   string
		action func() error
		want   func(Event) bool
	}{
		{"polled x1 loses carrier", func() error { return n.b.SetDown("y1") }, isUp("x1", false)},
		{"polled x1 regains carrier", func() error { return n.b.SetUp("y1") }, isUp("x1", true)},
		{"unpolled x2 loses carrier", func() error { return n.b.SetDown("y2") }, isUp("x2", false)},
		{"x2 set down and up", func() error { return errors.Join(n.a.SetDown("x2"), n.b.SetUp("y2"), n.a.SetUp("x2")) }, isUp("x2", true)},
		{"member x3 created", func() error { return n.tp.Veth(n.a, "x3", n.b, "y3") }, isUp("x3", true)},
		{"member x3 loses carrier", func() error { return n.b.SetDown("y3") }, isUp("x3", false)},
		{"x3 deleted", func() error {
			return n.a.Netlink(func(h *netlink.Handle) error {
				l, err := h.LinkByName("x3")
				if err != nil {
					return err
				}
				return h.LinkDel(l)
			})
		}, isGone("x3")},
	} {
		start := time.Now()
		n.must(tc.action())
		e := waitFor(t, sub, tc.what, tc.want)
		t.Logf("%s: seen after %v", tc.what, e.Time.Sub(start).Round(100*time.Microsecond))
	}
	if errs := n.errors(); len(errs) != 0 {
		t.Errorf("errors reported: %v", errs)
	}
}

// TestNetnsOverflow makes the kernel drop notifications (ENOBUFS) on a tiny
// receive buffer while the Watcher is held, then checks that it resubscribes
// and that the relist reports what it missed: a deletion and a creation.
func TestNetnsOverflow(t *testing.T) {
	n := newNetnsTest(t, func(w *Watcher) { w.edge.(*netlinkEdge).rcvbuf = 4096 })
	n.must(n.tp.Veth(n.a, "x1", n.b, "y1"))
	n.must(n.tp.Veth(n.a, "x2", n.b, "y2"))
	sub := n.w.Subscribe()
	defer sub.Close()
	waitFor(t, sub, "x2 up", isUp("x2", true))

	n.w.mu.Lock() // the Watcher stops reading: the socket fills up
	for i := range 30 {
		n.must(errors.Join(n.a.SetDown("x1"), n.a.SetUp("x1")))
		if i == 15 {
			n.must(n.a.Netlink(func(h *netlink.Handle) error {
				l, err := h.LinkByName("x2")
				if err != nil {
					return err
				}
				return h.LinkDel(l)
			}))
		}
	}
	n.must(n.tp.Veth(n.a, "x9", n.b, "y9"))
	n.w.mu.Unlock()

	waitFor(t, sub, "x2 gone", isGone("x2"))
	if _, ok := n.w.Link("x9"); !ok {
		waitFor(t, sub, "x9 up", isUp("x9", true))
	}
	var nobufs bool
	for _, err := range n.errors() {
		nobufs = nobufs || errors.Is(err, syscall.ENOBUFS)
	}
	if !nobufs {
		t.Errorf("reported %v, want ENOBUFS", n.errors())
	}
}

// TestNetnsForcedError closes the subscription socket under the Watcher: it
// reports the failure, resubscribes and goes on.
func TestNetnsForcedError(t *testing.T) {
	rec := &recordingEdge{}
	n := newNetnsTest(t, func(w *Watcher) {
		rec.edge = w.edge
		w.edge = rec
	})
	sub := n.w.Subscribe()
	defer sub.Close()
	<-n.w.Synced()
	rec.lastStream().close()
	n.must(n.tp.Veth(n.a, "x1", n.b, "y1"))
	waitFor(t, sub, "x1 up after the resubscription", isUp("x1", true))
	if errs := n.errors(); len(errs) == 0 {
		t.Error("no error reported for the closed subscription")
	}
	if got := rec.subscriptions(); got < 2 {
		t.Errorf("%d subscriptions, want a second one", got)
	}
}

// recordingEdge passes to a real edge and keeps its streams.
type recordingEdge struct {
	edge
	mu      sync.Mutex
	streams []stream
}

func (r *recordingEdge) subscribe() (stream, error) {
	s, err := r.edge.subscribe()
	if err == nil {
		r.mu.Lock()
		r.streams = append(r.streams, s)
		r.mu.Unlock()
	}
	return s, err
}

func (r *recordingEdge) lastStream() stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[len(r.streams)-1]
}

func (r *recordingEdge) subscriptions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}
