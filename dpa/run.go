package dpa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/clock"
)

// dialTimeout bounds one attempt to open a session.
const dialTimeout = 10 * time.Second

// Run runs the DPA until ctx ends: a session with every VSM, the
// headless timer, the rules. A loop that fails (a panic in a handler or
// the Applier) is restarted after a backoff that doubles from RestartMin
// to RestartMax; the datapath is not touched meanwhile, and the state the
// VEM holds (generation, module, queued port events) carries over.
func (d *DPA) Run(ctx context.Context) error {
	backoff := d.cfg.RestartMin
	for {
		started := d.clock.Now()
		err := d.runOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.mu.Lock()
		d.counters.Restarts++
		d.mu.Unlock()
		if d.clock.Now().Sub(started) > d.cfg.RestartMax {
			backoff = d.cfg.RestartMin // it ran well for a while
		}
		d.log.Error("DPA loop failed; restarting", zap.Error(err), zap.Duration("backoff", backoff))
		if !clock.Sleep(ctx, d.clock, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, d.cfg.RestartMax)
	}
}

// runOnce runs one loop: a connector per VSM until ctx ends or one of
// them fails.
func (d *DPA) runOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.begin()
	defer d.end()
	failed := make(chan error, len(d.vsms))
	var wg sync.WaitGroup
	for _, v := range d.vsms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.connect(ctx, v); err != nil {
				failed <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	cancel()
	wg.Wait()
	return err
}

// connect keeps a session open with v, redialling with backoff, and
// feeds its events to the state machine. It returns nil when ctx ends and
// the failure when a handler panics.
func (d *DPA) connect(ctx context.Context, v *vsm) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("session with %s: panic: %v", v.addr, r)
		}
	}()
	delay := d.cfg.RedialMin
	for ctx.Err() == nil {
		f := d.Facts()
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		s, err := d.cfg.Dialer.Dial(dctx, v.addr, f)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.log.Debug("dial failed", zap.String("address", v.addr), zap.Error(err))
			}
			if !clock.Sleep(ctx, d.clock, delay) {
				return nil
			}
			delay = min(2*delay, d.cfg.RedialMax)
			continue
		}
		delay = d.cfg.RedialMin
		if err := d.serve(ctx, v, s, f); err != nil {
			return err
		}
		d.mu.Lock()
		again := v.redial != 0
		d.mu.Unlock()
		if !again && !clock.Sleep(ctx, d.clock, delay) {
			return nil
		}
	}
	return nil
}

// serve runs one session until it ends, closing it then.
func (d *DPA) serve(ctx context.Context, v *vsm, s Session, f Facts) error {
	defer s.Close()
	defer func() {
		if r := recover(); r != nil {
			d.down(v, s, fmt.Errorf("panic: %v", r))
			panic(r)
		}
	}()
	d.up(v, s, f)
	for {
		ev, err := s.Recv(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				err = nil
			}
			d.down(v, s, err)
			return nil
		}
		d.handle(ctx, v, s, ev)
	}
}
