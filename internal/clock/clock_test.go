package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/internal/clock/clocktest"
)

func TestSleep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
		want   bool
	}{
		{"elapses", false, true},
		{"cancelled", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clocktest.NewFake(time.Unix(0, 0))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan bool)
			go func() { got <- clock.Sleep(ctx, c, time.Second) }()
			for c.Pending() == 0 { // Sleep has armed its timer
				time.Sleep(time.Millisecond)
			}
			if tc.cancel {
				cancel()
			} else {
				c.Advance(time.Second)
			}
			if g := <-got; g != tc.want {
				t.Errorf("Sleep = %v, want %v", g, tc.want)
			}
		})
	}
}

func TestSystemTicker(t *testing.T) {
	tk := clock.System().NewTicker(time.Millisecond)
	defer tk.Stop()
	if at := <-tk.C(); at.IsZero() {
		t.Error("zero tick")
	}
}
