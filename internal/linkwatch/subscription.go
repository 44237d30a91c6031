package linkwatch

import (
	"maps"
	"slices"
)

// Subscription receives a Watcher's link changes: the latest state per
// ifindex, never blocking the Watcher. See Watcher.Subscribe.
type Subscription struct {
	w     *Watcher
	ready chan struct{}

	// Guarded by w.mu.
	pending map[int]Event // by ifindex, the latest change
	order   []int         // pending's indexes in the order they first changed
	names   map[int]string
	polls   map[string]bool
	closed  bool
}

// Subscribe returns a new Subscription with the current state of every
// link already pending (nothing before Run has listed them). Close it when
// done.
func (w *Watcher) Subscribe() *Subscription {
	s := &Subscription{
		w:       w,
		ready:   make(chan struct{}, 1),
		pending: map[int]Event{},
		names:   map[int]string{},
		polls:   map[string]bool{},
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs[s] = struct{}{}
	now := w.clock.Now()
	for _, idx := range slices.Sorted(maps.Keys(w.links)) {
		s.queue(Event{Time: now, Link: w.links[idx].link})
	}
	return s
}

// queue makes ev pending, replacing an older change of the same link, and
// signals Ready. w.mu is held.
func (s *Subscription) queue(ev Event) {
	idx := ev.Link.Index
	if _, ok := s.pending[idx]; !ok {
		s.order = append(s.order, idx)
	}
	s.pending[idx] = ev
	select {
	case s.ready <- struct{}{}:
	default: // signalled already
	}
}

// Ready returns a channel that receives a value when events are pending.
// One value may stand for many events, and may come when Events then has
// none (a previous Events call took them): always take them all.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Events returns the pending events, one per link, in the order the links
// first changed since the last call, and clears them. A link that changed
// several times meanwhile shows its latest state only.
func (s *Subscription) Events() []Event {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if len(s.order) == 0 {
		return nil
	}
	out := make([]Event, 0, len(s.order))
	for _, idx := range s.order {
		ev := s.pending[idx]
		if old, ok := s.names[idx]; ok && old != ev.Link.Name {
			ev.OldName = old
		}
		if ev.Gone {
			delete(s.names, idx)
		} else {
			s.names[idx] = ev.Link.Name
		}
		ev.Link = ev.Link.clone()
		out = append(out, ev)
	}
	clear(s.pending)
	s.order = s.order[:0]
	return out
}

// Poll sets the links whose carrier the Watcher reads every PollInterval
// for this subscription, replacing the previous set: a port-channel's
// members. A name need not exist yet; it is polled once it does. The
// current state of each link newly named is queued, so that a consumer who
// starts caring about a link hears of it.
func (s *Subscription) Poll(names ...string) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.closed {
		return
	}
	next := make(map[string]bool, len(names))
	for _, n := range names {
		next[n] = true
	}
	for n := range s.polls {
		if !next[n] {
			w.unpoll(n)
		}
	}
	now := w.clock.Now()
	for n := range next {
		if s.polls[n] {
			continue
		}
		w.polled[n]++
		if idx, ok := w.byName[n]; ok {
			s.queue(Event{Time: now, Link: w.links[idx].link})
		}
	}
	s.polls = next
	w.armPoll()
}

// Close ends the subscription and its polls; nothing is queued any more.
func (s *Subscription) Close() {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(w.subs, s)
	for n := range s.polls {
		w.unpoll(n)
	}
	s.polls = nil
	clear(s.pending)
	s.order = nil
}
