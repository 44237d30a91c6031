package lacp

import (
	"fmt"
	"sync"
	"time"
)

// maxFiresPerAdvance bounds one Advance, so that timers which keep
// re-arming themselves at zero delay fail loudly instead of hanging a test.
const maxFiresPerAdvance = 1_000_000

// FakeClock is a Clock whose time moves only when Advance is called. Timer
// functions run synchronously inside Advance, in deadline order (ties in the
// order they were armed), with Now set to their deadline; they may arm
// further timers, which fire in the same Advance if due. It is safe for
// concurrent use; other packages' tests may use it too.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *FakeClock
	when time.Time
	seq  uint64
	f    func()
}

// NewFakeClock returns a FakeClock whose time starts at start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f once Advance reaches now+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
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

// Pending returns the number of armed timers.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the time forward by d, firing every timer that falls due on
// the way. It panics if d is negative or if the timers keep re-arming
// without time passing (more than a million fire in one call).
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("lacp: FakeClock.Advance(%v): negative duration", d))
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
	panic("lacp: FakeClock.Advance: timers keep re-arming at the same time")
}

// popDue removes and returns the earliest timer due by end, setting the time
// to its deadline; with none due it sets the time to end and returns nil.
func (c *FakeClock) popDue(end time.Time) *fakeTimer {
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
