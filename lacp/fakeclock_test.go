package lacp

import (
	"slices"
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	start := time.Unix(1000, 0)
	c := NewFakeClock(start)
	var fired []string
	at := func(name string) func() {
		return func() { fired = append(fired, name+"@"+c.Now().Sub(start).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	c.AfterFunc(time.Second, at("b")) // same deadline: armed later, fires later
	stopped := c.AfterFunc(2*time.Second, at("never"))
	c.AfterFunc(2*time.Second, func() {
		// Timers armed by a timer fire in the same Advance when due.
		c.AfterFunc(0, at("nested"))
		c.AfterFunc(10*time.Second, at("late"))
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true once, then false")
	}

	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	c.Advance(2001 * time.Millisecond)
	want := []string{"a@1s", "b@1s", "nested@2s", "c@3s"}
	if !slices.Equal(fired, want) {
		t.Errorf("fired %v, want %v", fired, want)
	}
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Errorf("now = start+%v, want 3s", got)
	}
	if c.Pending() != 1 {
		t.Errorf("%d pending, want 1 (late)", c.Pending())
	}
}

func TestFakeClockPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(c *FakeClock)
	}{
		{"negative", func(c *FakeClock) { c.Advance(-time.Second) }},
		{"runaway", func(c *FakeClock) {
			var rearm func()
			rearm = func() { c.AfterFunc(0, rearm) }
			c.AfterFunc(0, rearm)
			c.Advance(0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.run(NewFakeClock(time.Unix(0, 0)))
		})
	}
}
