package linkwatch

import (
	"fmt"
	"time"
)

// unpoll drops one subscription's poll of name; once none polls it, the
// link's notifications are authoritative again. w.mu is held.
func (w *Watcher) unpoll(name string) {
	w.polled[name]--
	if w.polled[name] > 0 {
		return
	}
	delete(w.polled, name)
	if idx, ok := w.byName[name]; ok {
		w.links[idx].polled = false
	}
}

// armPoll starts the poll chain if Run runs, polling is on, some link is
// to be polled and no chain runs. w.mu is held.
func (w *Watcher) armPoll() {
	if !w.running || w.pollChain || w.opts.PollInterval < 0 || len(w.polled) == 0 {
		return
	}
	w.pollChain = true
	w.pollTimer = w.clock.AfterFunc(w.opts.PollInterval, w.poll)
}

// stopPolling ends the poll chain and waits for a poll in flight.
func (w *Watcher) stopPolling() {
	w.mu.Lock()
	w.running = false
	if w.pollTimer != nil && w.pollTimer.Stop() {
		w.pollChain = false
	}
	w.pollTimer = nil
	w.mu.Unlock()
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
}

// poll reads the flags of the polled links that exist, applies them and
// re-arms itself while there is something to poll.
func (w *Watcher) poll() {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	w.mu.Lock()
	idx := w.pollIdx[:0]
	if w.running {
		for name := range w.polled {
			if i, ok := w.byName[name]; ok {
				idx = append(idx, i)
			}
		}
	}
	w.pollIdx = idx
	w.mu.Unlock()

	var err error
	answers := w.pollBuf[:0]
	if len(idx) > 0 {
		answers, err = w.edge.query(idx, answers)
	}
	now := w.clock.Now()

	w.mu.Lock()
	w.pollBuf = answers
	var report error
	if err != nil {
		if err.Error() != w.pollErr {
			w.pollErr = err.Error()
			report = fmt.Errorf("linkwatch: poll carrier: %w", err)
		}
	} else {
		w.pollErr = ""
		for _, f := range answers {
			w.applyPoll(f, now)
		}
	}
	w.pollTimer = nil
	if w.running && len(w.polled) > 0 {
		w.pollTimer = w.clock.AfterFunc(w.opts.PollInterval, w.poll)
	} else {
		w.pollChain = false
	}
	w.mu.Unlock()
	if report != nil {
		w.report(report)
	}
}

// applyPoll records a polled link's flags, publishing a change. w.mu is
// held.
func (w *Watcher) applyPoll(f flags, now time.Time) {
	e, ok := w.links[f.index]
	if !ok || f.gone || w.polled[e.link.Name] == 0 {
		return // gone or renamed meanwhile: its notification follows
	}
	e.polled, e.pollAdminUp, e.pollCarrier = true, f.adminUp, f.carrier
	if e.link.AdminUp == f.adminUp && e.link.Carrier == f.carrier {
		return
	}
	l := e.link
	l.AdminUp, l.Carrier = f.adminUp, f.carrier
	e.link = l
	w.publish(Event{Time: now, Link: l})
}
