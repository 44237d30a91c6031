// Package clock is the time source of vem's control loops (LACP,
// port-channels, MAC ageing, link watching, the DPA): an interface with the
// system implementation here and a fake that tests step by hand in
// package clocktest.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and calls functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed: in its own goroutine for the
	// system clock, in the goroutine that advances a fake one.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTicker returns a Ticker that delivers the time every d (d > 0),
	// dropping ticks a slow reader misses, like time.Ticker.
	NewTicker(d time.Duration) Ticker
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened yet, reporting
	// whether it did so.
	Stop() bool
}

// Ticker delivers ticks on a channel until stopped.
type Ticker interface {
	// C returns the channel the ticks arrive on.
	C() <-chan time.Time
	// Stop ends the ticks; the channel is not closed.
	Stop()
}

// System returns the Clock of the time package.
func System() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

func (systemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }

func (t systemTicker) Stop() { t.t.Stop() }

// Sleep waits for d on c, reporting false if ctx ended first.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	done := make(chan struct{})
	t := c.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-done:
		return true
	}
}
