package linkwatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vem-switch/vem/internal/clock"
)

// Watcher keeps the state of every link of one network namespace and fans
// changes out to its Subscriptions; see the package documentation.
type Watcher struct {
	opts    Options
	clock   clock.Clock
	edge    edge
	started atomic.Bool
	synced  chan struct{} // closed once the first dump is complete

	// pollMu is held by a poll from start to end, so that Run can wait
	// for one in flight before it closes the edge.
	pollMu sync.Mutex

	mu      sync.Mutex
	links   map[int]*entry
	byName  map[string]int
	subs    map[*Subscription]struct{}
	polled  map[string]int // name -> number of subscriptions polling it
	running bool           // Run is following: polls may run
	// pollChain is true while a poll timer is armed or a poll runs, which
	// then re-arms it: there is one chain at most.
	pollChain bool
	pollTimer clock.Timer
	pollIdx   []int   // scratch for the indexes of one poll
	pollBuf   []flags // scratch for the answers of one poll
	pollErr   string  // the last poll failure reported, "" after a success
	isSynced  bool
}

// entry is the state kept of one link.
type entry struct {
	link Link
	// polled: pollAdminUp and pollCarrier hold the last poll's answer,
	// which overrides the flags of notifications queued before it.
	polled                   bool
	pollAdminUp, pollCarrier bool
}

// New returns a Watcher of the namespace opts.NetNS (empty: the calling
// thread's). It opens the namespace at once; Run releases it when it
// returns, so a Watcher made is a Watcher run.
func New(opts Options) (*Watcher, error) {
	e, err := openNetlink(opts.NetNS)
	if err != nil {
		return nil, err
	}
	return newWatcher(e, opts), nil
}

// newWatcher returns a Watcher on e.
func newWatcher(e edge, opts Options) *Watcher {
	opts = opts.withDefaults()
	return &Watcher{
		opts:   opts,
		clock:  opts.Clock,
		edge:   e,
		synced: make(chan struct{}),
		links:  map[int]*entry{},
		byName: map[string]int{},
		subs:   map[*Subscription]struct{}{},
		polled: map[string]int{},
	}
}

// Run follows the namespace's links until ctx ends, then returns nil; it
// returns an error only if called twice. Subscriptions made before, during
// and after Run are all served; polling runs while Run does.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("linkwatch: Run called twice")
	}
	w.mu.Lock()
	w.running = true
	w.armPoll()
	w.mu.Unlock()
	defer w.edge.close()
	defer w.stopPolling()

	backoff := minBackoff
	for {
		start := w.clock.Now()
		err := w.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if w.clock.Now().Sub(start) >= maxBackoff {
			backoff = minBackoff
		}
		w.report(fmt.Errorf("linkwatch: %w; resubscribing in %v", err, backoff))
		if !clock.Sleep(ctx, w.clock, backoff) {
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow runs one subscription until it fails or ctx ends. The dump that
// opens it is compared with the state kept: links it does not list (and
// that no notification mentioned meanwhile) are gone.
func (w *Watcher) follow(ctx context.Context) error {
	s, err := w.edge.subscribe()
	if err != nil {
		return fmt.Errorf("subscribe to link notifications: %w", err)
	}
	defer s.close()
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	seen := map[int]bool{} // during the dump: the indexes heard of
	for {
		msgs, err := s.receive()
		if err != nil {
			return fmt.Errorf("link notifications: %w", err)
		}
		now := w.clock.Now()
		w.mu.Lock()
		for _, m := range msgs {
			switch m.kind {
			case msgLink:
				if seen != nil {
					seen[m.link.Index] = true
				}
				w.setLink(m.link, now)
			case msgGone:
				if seen != nil {
					seen[m.link.Index] = true
				}
				w.remove(m.link.Index, now)
			case msgDumpDone:
				if seen == nil {
					continue
				}
				for _, idx := range slices.Sorted(maps.Keys(w.links)) {
					if !seen[idx] {
						w.remove(idx, now)
					}
				}
				seen = nil
				if !w.isSynced {
					w.isSynced = true
					close(w.synced)
				}
			}
		}
		w.mu.Unlock()
	}
}

// setLink records a link's state and publishes it if it changed. For a
// polled link the last poll's flags stand. w.mu is held.
func (w *Watcher) setLink(l Link, now time.Time) {
	e, existed := w.links[l.Index]
	if !existed {
		e = &entry{}
		w.links[l.Index] = e
	}
	if existed && e.link.Name != l.Name {
		e.polled = false // a poll of the old name does not describe the new one
		if w.byName[e.link.Name] == l.Index {
			delete(w.byName, e.link.Name)
		}
	}
	if e.polled {
		l.AdminUp, l.Carrier = e.pollAdminUp, e.pollCarrier
	}
	w.byName[l.Name] = l.Index
	if existed && e.link.equal(l) {
		return
	}
	e.link = l
	w.publish(Event{Time: now, Link: l})
}

// remove forgets a link and publishes its end. w.mu is held.
func (w *Watcher) remove(idx int, now time.Time) {
	e, ok := w.links[idx]
	if !ok {
		return
	}
	delete(w.links, idx)
	if w.byName[e.link.Name] == idx {
		delete(w.byName, e.link.Name)
	}
	w.publish(Event{Time: now, Link: e.link, Gone: true})
}

// publish queues ev for every subscription. w.mu is held.
func (w *Watcher) publish(ev Event) {
	for s := range w.subs {
		s.queue(ev)
	}
}

// report passes err to Options.OnError.
func (w *Watcher) report(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

// Link returns the current state of the link called name.
func (w *Watcher) Link(name string) (Link, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	idx, ok := w.byName[name]
	if !ok {
		return Link{}, false
	}
	return w.links[idx].link.clone(), true
}

// Links returns the current state of every link, by index.
func (w *Watcher) Links() []Link {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Link, 0, len(w.links))
	for _, idx := range slices.Sorted(maps.Keys(w.links)) {
		out = append(out, w.links[idx].link.clone())
	}
	return out
}

// Synced returns a channel closed once the first dump of the links is
// complete: from then on Links and Link describe the whole namespace.
func (w *Watcher) Synced() <-chan struct{} { return w.synced }
