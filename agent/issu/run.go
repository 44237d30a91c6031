package issu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/internal/clock"
)

// Upgrade runs the phases against the running agent. Cancelling ctx
// cancels the phase in progress, with the same consequence as its
// failure. The Result says what runs now; its Err is nil only when
// Upgraded.
func Upgrade(ctx context.Context, o Options) Result {
	if o.PhaseTimeout <= 0 {
		o.PhaseTimeout = DefaultPhaseTimeout
	}
	if o.Stable == 0 {
		o.Stable = DefaultStable
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	u := &upgrade{o: o, res: Result{Version: o.Bundle.Version(), Outcome: Unchanged}}
	defer func() {
		if u.sess != nil {
			u.sess.Close()
		}
	}()
	u.res.Err = u.run(ctx)
	return u.res
}

// upgrade is one run of the phases.
type upgrade struct {
	o        Options
	res      Result
	base     Baseline
	sess     Session
	switched bool // the switch was asked for: a failure rolls back
}

func (u *upgrade) run(ctx context.Context) error {
	steps := []struct {
		phase   Phase
		timeout time.Duration
		fn      func(context.Context) (string, error)
	}{
		{PhaseValidate, u.o.PhaseTimeout, u.validate},
		{PhaseSpawn, u.o.PhaseTimeout, u.spawn},
		{PhasePrepare, u.o.PhaseTimeout, u.prepare},
		{PhaseSwitch, u.o.PhaseTimeout, u.doSwitch},
		{PhaseVerify, u.o.PhaseTimeout, u.verify},
		{PhaseStable, max(u.o.Stable, 0) + u.o.PhaseTimeout, u.stable},
		{PhaseCommit, u.o.PhaseTimeout, u.commit},
	}
	for _, s := range steps {
		if err := u.phase(ctx, s.phase, s.timeout, s.fn); err != nil {
			if s.phase == PhaseCommit && u.res.Outcome == NotPromoted {
				return err
			}
			return u.fail(s.phase, err)
		}
	}
	u.res.Outcome = Upgraded
	return nil
}

// phase runs fn within timeout and reports it.
func (u *upgrade) phase(ctx context.Context, p Phase, timeout time.Duration, fn func(context.Context) (string, error)) error {
	start := u.o.Clock.Now()
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%s: timed out after %v", p, timeout))
	detail, err := fn(pctx)
	if err != nil && pctx.Err() != nil {
		// Say that the phase was cancelled or timed out, and what it
		// saw by then unless that is only the context's error.
		cause := context.Cause(pctx)
		if ctx.Err() != nil {
			cause = fmt.Errorf("cancelled: %w", context.Cause(ctx))
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = cause
		} else {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	cancel()
	u.report(PhaseReport{Phase: p, Took: u.o.Clock.Now().Sub(start), Err: err, Detail: detail})
	return err
}

func (u *upgrade) report(r PhaseReport) {
	u.res.Phases = append(u.res.Phases, r)
	if u.o.Report != nil {
		u.o.Report(r)
	}
}

// fail undoes what the phases did after a failure in p: before the
// switch the successor (if any) is stopped and nothing changed; from the
// switch on the old agent resumes.
func (u *upgrade) fail(p Phase, cause error) error {
	err := fmt.Errorf("%s: %w", p, cause)
	if u.sess == nil {
		return err
	}
	// A fresh context: the one that ran out (or was cancelled) is why.
	ctx, cancel := context.WithTimeout(context.Background(), u.o.PhaseTimeout)
	defer cancel()
	rerr := u.phase(ctx, PhaseRollback, u.o.PhaseTimeout, func(ctx context.Context) (string, error) {
		rep, err := u.sess.Do(ctx, api.HandoverRequest{Op: api.HandoverAbort})
		if err != nil {
			return "", err
		}
		return rep.Detail, nil
	})
	switch {
	case rerr != nil:
		u.res.Outcome = Unknown
		return fmt.Errorf("%w; rollback failed: %w", err, rerr)
	case u.switched:
		u.res.Outcome = RolledBack
	default:
		u.res.Outcome = Unchanged
	}
	return err
}

func (u *upgrade) validate(ctx context.Context) (string, error) {
	b, err := baseline(ctx, u.o.Agent)
	if err != nil {
		return "", err
	}
	u.base, u.res.OldPID = b, b.PID
	if err := u.o.Bundle.Verify(ctx); err != nil {
		return "", err // it names the bundle
	}
	mode := "standalone"
	if b.VSM {
		mode = "VSM mode"
	}
	return fmt.Sprintf("bundle %s verified; agent PID %d (%s), %d LACP members bundled", u.o.Bundle.Version(), b.PID, mode, len(b.Bundled)), nil
}

func (u *upgrade) spawn(ctx context.Context) (string, error) {
	s, err := u.o.Agent.OpenHandover(ctx)
	if err != nil {
		return "", err
	}
	u.sess = s
	rep, err := s.Do(ctx, api.HandoverRequest{Op: api.HandoverSpawn, Binary: u.o.Bundle.Agent(),
		TimeoutMs: u.o.PhaseTimeout.Milliseconds(), StableMs: max(u.o.Stable, 0).Milliseconds()})
	if err != nil {
		return "", err
	}
	u.res.NewPID = rep.PID
	return fmt.Sprintf("successor %s PID %d", u.o.Bundle.Agent(), rep.PID), nil
}

func (u *upgrade) prepare(ctx context.Context) (string, error) {
	rep, err := u.sess.Do(ctx, api.HandoverRequest{Op: api.HandoverPrepare})
	return rep.Detail, err
}

func (u *upgrade) doSwitch(ctx context.Context) (string, error) {
	u.switched = true
	rep, err := u.sess.Do(ctx, api.HandoverRequest{Op: api.HandoverSwitch})
	return rep.Detail, err
}

// verify waits until the successor is healthy.
func (u *upgrade) verify(ctx context.Context) (string, error) {
	var last string
	for {
		why, err := u.check(ctx)
		if err != nil {
			return "", err
		}
		if why == "" {
			return fmt.Sprintf("PID %d healthy", u.res.NewPID), nil
		}
		last = why
		if !clock.Sleep(ctx, u.o.Clock, pollInterval) {
			return "", fmt.Errorf("%w: %s", ErrUnhealthy, last)
		}
	}
}

// stable checks the successor's health until Stable has passed.
func (u *upgrade) stable(ctx context.Context) (string, error) {
	end := u.o.Clock.Now().Add(u.o.Stable)
	n := 0
	for u.o.Clock.Now().Before(end) {
		if !clock.Sleep(ctx, u.o.Clock, min(pollInterval, end.Sub(u.o.Clock.Now()))) {
			return "", ctx.Err()
		}
		why, err := u.check(ctx)
		if err != nil {
			return "", err
		}
		if why != "" {
			return "", fmt.Errorf("%w: %s", ErrUnhealthy, why)
		}
		n++
	}
	return fmt.Sprintf("healthy for %v (%d checks)", max(u.o.Stable, 0), n), nil
}

// check reads the successor's health. A read that fails is retried
// (the socket may be busy); one that keeps failing, or a successor that
// no longer serves at all, is an error.
func (u *upgrade) check(ctx context.Context) (string, error) {
	var err error
	for range 3 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var why string
		why, err = health(rctx, u.o.Agent, u.base, u.res.NewPID)
		cancel()
		if err == nil {
			return why, nil
		}
		if errors.Is(err, api.ErrNotRunning) || ctx.Err() != nil {
			break
		}
		if !clock.Sleep(ctx, u.o.Clock, pollInterval) {
			break
		}
	}
	return "", fmt.Errorf("%w: %w", ErrUnhealthy, err)
}

// commit lets the old agent exit and promotes the bundle.
func (u *upgrade) commit(ctx context.Context) (string, error) {
	rep, err := u.sess.Do(ctx, api.HandoverRequest{Op: api.HandoverCommit})
	if err != nil {
		return "", err
	}
	detail := rep.Detail
	if u.o.Promote != nil {
		if err := u.o.Promote(u.o.Bundle.Version()); err != nil {
			u.res.Outcome = NotPromoted
			return detail, fmt.Errorf("the successor runs, but promoting %s failed (the next start runs the previous version): %w",
				u.o.Bundle.Version(), err)
		}
		detail += fmt.Sprintf("; %s promoted", u.o.Bundle.Version())
	}
	return detail, nil
}
