// Package clocktest provides Fake, a clock.Clock whose time moves only when
// a test advances it.
package clocktest

import (
	"fmt"
	"sync"
	"time"

	"github.com/vem-switch/vem/internal/clock"
)

// maxFiresPerAdvance bounds one Advance, so that timers which keep
// re-arming themselves at zero delay fail loudly instead of hanging a test.
const maxFiresPerAdvance = 1_000_000

// Fake is a clock.Clock whose time moves only when Advance is called. Timer
// functions run synchronously inside Advance, in deadline order (ties in the
// order they were armed), with Now set to their deadline; they may arm
// further timers, which fire in the same Advance if due. Tickers deliver on
// their channel from inside Advance without blocking, dropping a tick the
// reader has not taken, as time.Ticker does. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *Fake
	when time.Time
	seq  uint64
	f    func()
}

// NewFake returns a Fake whose time starts at start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f once Advance reaches now+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop disarms the timer.
func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.timers {
		if o == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// NewTicker returns a ticker that ticks every d of fake time. It panics if
// d is not positive, as time.NewTicker does.
func (c *Fake) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic(fmt.Sprintf("clocktest: Fake.NewTicker(%v): non-positive interval", d))
	}
	t := &fakeTicker{c: c, d: d, ch: make(chan time.Time, 1)}
	t.arm()
	return t
}

type fakeTicker struct {
	c  *Fake
	d  time.Duration
	ch chan time.Time

	mu      sync.Mutex
	timer   clock.Timer
	stopped bool
}

func (t *fakeTicker) arm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.timer = t.c.AfterFunc(t.d, t.tick)
	}
}

func (t *fakeTicker) tick() {
	select {
	case t.ch <- t.c.Now():
	default: // the reader has not taken the last tick
	}
	t.arm()
}

func (t *fakeTicker) C() <-chan time.Time { return t.ch }

func (t *fakeTicker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.timer != nil {
		t.timer.Stop()
	}
}

// Pending returns the number of armed timers (a running ticker counts one).
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the time forward by d, firing every timer that falls due on
// the way. It panics if d is negative or if the timers keep re-arming
// without time passing (more than a million fire in one call).
func (c *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("clocktest: Fake.Advance(%v): negative duration", d))
	}
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for range maxFiresPerAdvance {
		t := c.popDue(end)
		if t == nil {
			return
		}
		t.f()
	}
	panic("clocktest: Fake.Advance: timers keep re-arming at the same time")
}

// popDue removes and returns the earliest timer due by end, setting the time
// to its deadline; with none due it sets the time to end and returns nil.
func (c *Fake) popDue(end time.Time) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := -1
	for i, t := range c.timers {
		if t.when.After(end) {
			continue
		}
		if best < 0 || t.when.Before(c.timers[best].when) ||
			(t.when.Equal(c.timers[best].when) && t.seq < c.timers[best].seq) {
			best = i
		}
	}
	if best < 0 {
		c.now = end
		return nil
	}
	t := c.timers[best]
	c.timers = append(c.timers[:best], c.timers[best+1:]...)
	if t.when.After(c.now) {
		c.now = t.when
	}
	return t
}
