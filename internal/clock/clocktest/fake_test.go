package clocktest

import (
	"slices"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Unix(1000, 0)
	c := NewFake(start)
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

func TestFakePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(c *Fake)
	}{
		{"negative", func(c *Fake) { c.Advance(-time.Second) }},
		{"ticker", func(c *Fake) { c.NewTicker(0) }},
		{"runaway", func(c *Fake) {
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
			tc.run(NewFake(time.Unix(0, 0)))
		})
	}
}

func TestFakeTicker(t *testing.T) {
	start := time.Unix(1000, 0)
	c := NewFake(start)
	tk := c.NewTicker(time.Second)
	c.Advance(500 * time.Millisecond)
	select {
	case at := <-tk.C():
		t.Fatalf("tick at %v, before the interval", at)
	default:
	}
	// Three intervals pass unread: one tick waits, the others are dropped.
	c.Advance(3 * time.Second)
	if at := <-tk.C(); at != start.Add(time.Second) {
		t.Errorf("tick at start+%v, want the first one, start+1s", at.Sub(start))
	}
	select {
	case at := <-tk.C():
		t.Errorf("second tick at start+%v waiting: want dropped", at.Sub(start))
	default:
	}
	tk.Stop()
	c.Advance(5 * time.Second)
	select {
	case at := <-tk.C():
		t.Errorf("tick at start+%v after Stop", at.Sub(start))
	default:
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("%d timers pending after Stop, want 0", n)
	}
}
