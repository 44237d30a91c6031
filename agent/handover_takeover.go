package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/internal/fsutil"
)

// lockWait bounds how long a successor waits for the instance lock once
// told to take over (the old agent has released it by then).
const lockWait = 5 * time.Second

// Takeover runs this process as a running agent's successor (vem-agent
// --takeover, spawned by the agent's handover): it checks what it can
// without owning the datapath and reports ready; told to take over, it
// starts as any agent does (lock, pins, programs, LACP from the
// checkpoint, API) and reports running; committed, it runs on as the
// agent until ctx ends; told to stop, it stops as an agent does, leaving
// the datapath to the old agent, which resumes.
func (h *Host) Takeover(ctx context.Context) error {
	fd, err := strconv.Atoi(os.Getenv(handoverFDEnv))
	if err != nil || fd < 3 {
		return fmt.Errorf("%s: no handover socket in %s: only a running agent's handover starts a successor", TakeoverFlag, handoverFDEnv)
	}
	os.Unsetenv(handoverFDEnv) // not for the successor's own successor
	p, err := pipeOf(os.NewFile(uintptr(fd), "handover"))
	if err != nil {
		return err
	}
	defer p.close()
	log := h.log.With(zap.Int("ppid", os.Getppid()))
	start := time.Now()
	detail, err := prepareTakeover(h.opts)
	if err != nil {
		_ = p.send(pipeMsg{State: successorFailed, Error: err.Error()})
		return fmt.Errorf("takeover: %w", err)
	}
	log.Info("successor ready", zap.String("checked", detail))
	if err := p.send(pipeMsg{State: successorReady, Detail: detail}); err != nil {
		return err
	}
	msgs := make(chan pipeMsg)
	go func() {
		defer close(msgs)
		for {
			m, err := p.recv()
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	select {
	case m, ok := <-msgs:
		switch {
		case !ok:
			return errors.New("takeover: the running agent went away before the switch")
		case m.Op == takeoverStop:
			log.Info("successor stopped before the switch")
			return nil
		case m.Op != takeoverGo:
			return fmt.Errorf("takeover: unexpected %q before the switch", m.Op)
		}
	case <-ctx.Done():
		return nil
	}
	start = time.Now()
	a, err := newAfterRelease(h.opts)
	if err != nil {
		_ = p.send(pipeMsg{State: successorFailed, Error: err.Error()})
		return fmt.Errorf("takeover: %w", err)
	}
	a.onServing = func() {
		took := time.Since(start)
		log.Info("took over", zap.Duration("took", took))
		_ = p.send(pipeMsg{State: successorRunning, Detail: fmt.Sprintf("took over in %v", took.Round(time.Millisecond))})
		takeoverFault(log)
		go h.followPredecessor(ctx, p, msgs, log)
	}
	return h.run(ctx, a)
}

// followPredecessor carries out the old agent's commit or stop. Stopped,
// this agent lets go as the old one did (lock released, LACP running on)
// and exits once the old agent serves again; it resumes if the old agent
// goes away instead.
func (h *Host) followPredecessor(ctx context.Context, p *pipe, msgs <-chan pipeMsg, log *zap.Logger) {
	for m := range msgs {
		switch m.Op {
		case takeoverCommit:
			log.Info("handover committed: this agent runs alone")
			_ = p.send(pipeMsg{State: successorCommitted})
			return
		case takeoverStop:
			log.Info("handover rolled back: letting go, the datapath left to the previous agent")
			h.mu.Lock()
			stop := h.stopRun
			h.quiesce, h.releasing = stop != nil, stop != nil
			h.mu.Unlock()
			if stop == nil {
				return
			}
			stop()
			if err := h.awaitRelease(ctx); err != nil {
				log.Warn("let go", zap.Error(err))
			}
			_ = p.send(pipeMsg{State: successorStopped})
			for m := range msgs {
				if m.Op == takeoverExit {
					h.stopHeldLACP()
					h.verdict <- false
					return
				}
			}
			log.Warn("the previous agent went away before it resumed: this agent resumes")
			h.verdict <- true
			return
		}
	}
	log.Warn("the previous agent went away before the commit; this agent carries on")
}

// prepareTakeover checks what a successor can before it owns the
// datapath: the file, as this version would apply it on this host, and
// the datapath it is to adopt: every pinned map's migration planned, its
// programs through the kernel's verifier, nothing written or attached.
func prepareTakeover(opts Options) (string, error) {
	start := time.Now()
	cfg, err := LoadFile(opts.ConfigFile)
	if err != nil {
		return "", err
	}
	res, err := Check(opts.ConfigFile)
	if err != nil {
		return "", err
	}
	p, err := bpf.PlanUpgrade(cfg.Instance)
	if err != nil {
		return "", fmt.Errorf("the pinned datapath: %w", err)
	}
	var migrate []string
	for _, m := range p.Migrate {
		migrate = append(migrate, m.Name)
	}
	return fmt.Sprintf("configuration, %d programs and %d pinned maps checked in %v (to migrate: %v; ports absent: %d)",
		len(p.Programs), len(p.Adopted)+len(p.Migrate), time.Since(start).Round(time.Millisecond), migrate, len(res.Absent)), nil
}

// newAfterRelease is New, waiting a little for the instance lock if the
// old agent has not quite let it go.
func newAfterRelease(opts Options) (*Agent, error) {
	deadline := time.Now().Add(lockWait)
	for {
		a, err := New(opts)
		if err == nil || !errors.Is(err, fsutil.ErrLocked) || time.Now().After(deadline) {
			return a, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
