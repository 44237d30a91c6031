package linkwatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
)

// patience bounds every wait for the Watcher's goroutine, so that a broken
// Watcher fails the test instead of hanging it. It is not a speed limit.
const patience = 10 * time.Second

// fakeEdge is the netlink side of a Watcher under test: each subscribe
// hands the test a fakeStream to feed, and query answers from flags.
type fakeEdge struct {
	streams chan *fakeStream
	subErrs chan error // if one is queued, the next subscribe fails with it

	mu      sync.Mutex
	flags   map[int]flags
	queries [][]int
	closed  bool
}

func newFakeEdge() *fakeEdge {
	return &fakeEdge{streams: make(chan *fakeStream, 16), subErrs: make(chan error, 16), flags: map[int]flags{}}
}

func (e *fakeEdge) subscribe() (stream, error) {
	select {
	case err := <-e.subErrs:
		e.streams <- nil // tell the test the attempt happened
		return nil, err
	default:
	}
	s := &fakeStream{msgs: make(chan []message, 64), errc: make(chan error, 1), done: make(chan struct{})}
	e.streams <- s
	return s, nil
}

func (e *fakeEdge) query(indexes []int, out []flags) ([]flags, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queries = append(e.queries, append([]int(nil), indexes...))
	for _, idx := range indexes {
		f, ok := e.flags[idx]
		if !ok {
			f = flags{index: idx, gone: true}
		}
		out = append(out, f)
	}
	return out, nil
}

func (e *fakeEdge) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
}

// setFlags sets what query answers for a link.
func (e *fakeEdge) setFlags(idx int, adminUp, carrier bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flags[idx] = flags{index: idx, adminUp: adminUp, carrier: carrier}
}

// takeQueries returns the queries made since the last call.
func (e *fakeEdge) takeQueries() [][]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.queries
	e.queries = nil
	return q
}

// fakeStream is one subscription the test feeds.
type fakeStream struct {
	msgs chan []message
	errc chan error
	done chan struct{}
	once sync.Once
}

func (s *fakeStream) receive() ([]message, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case err := <-s.errc:
		return nil, err
	case <-s.done:
		return nil, errors.New("stream closed")
	}
}

func (s *fakeStream) close() { s.once.Do(func() { close(s.done) }) }

// send queues messages for the Watcher.
func (s *fakeStream) send(msgs ...message) { s.msgs <- msgs }

// fail ends the stream with err.
func (s *fakeStream) fail(err error) { s.errc <- err }

func link(idx int, name string, up bool) message {
	return message{kind: msgLink, link: Link{Index: idx, Name: name, Kind: "veth", MTU: 1500, PeerNetNSID: -1, AdminUp: true, Carrier: up}}
}

func gone(idx int, name string) message {
	return message{kind: msgGone, link: Link{Index: idx, Name: name, Kind: "veth", MTU: 1500, PeerNetNSID: -1, AdminUp: true}}
}

func dumpDone() message { return message{kind: msgDumpDone} }

// harness runs a Watcher on a fakeEdge and a fake clock.
type harness struct {
	t      *testing.T
	edge   *fakeEdge
	clock  *clocktest.Fake
	w      *Watcher
	errsMu sync.Mutex
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, edge: newFakeEdge(), clock: clocktest.NewFake(time.Unix(1_700_000_000, 0)), done: make(chan struct{})}
	h.w = newWatcher(h.edge, Options{Clock: h.clock, OnError: func(err error) {
		h.errsMu.Lock()
		defer h.errsMu.Unlock()
		h.errs = append(h.errs, err)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		if err := h.w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// stop ends Run and waits for it.
func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(patience):
		h.t.Fatal("Run did not return")
	}
}

// stream waits for the Watcher's next subscription attempt; nil if it
// failed.
func (h *harness) stream() *fakeStream {
	h.t.Helper()
	select {
	case s := <-h.edge.streams:
		return s
	case <-time.After(patience):
		h.t.Fatal("no subscription")
		return nil
	}
}

// errors returns the errors reported so far.
func (h *harness) errors() []error {
	h.errsMu.Lock()
	defer h.errsMu.Unlock()
	return append([]error(nil), h.errs...)
}

// waitSleeping waits until the Watcher has armed its backoff timer.
func (h *harness) waitSleeping(timers int) {
	h.t.Helper()
	deadline := time.Now().Add(patience)
	for h.clock.Pending() < timers {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d timers armed, want %d", h.clock.Pending(), timers)
		}
		time.Sleep(time.Millisecond)
	}
}

// next waits for the subscription's pending events (a Ready left from
// events taken already is passed over).
func next(t *testing.T, s *Subscription) []Event {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case <-s.Ready():
			if evs := s.Events(); evs != nil {
				return evs
			}
		case <-deadline:
			t.Fatal("no events")
			return nil
		}
	}
}

// summary formats events as "name:up" / "name:down" / "name:gone", with
// "old>" before a changed name.
func summary(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Link.Name
		if e.OldName != "" {
			s = e.OldName + ">" + s
		}
		switch {
		case e.Gone:
			s += ":gone"
		case e.Link.Up():
			s += ":up"
		default:
			s += ":down"
		}
		out = append(out, s)
	}
	return out
}
