package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
)

// Handover: an in-service upgrade, make-before-break (package agent/issu
// orchestrates it over the API; see api.HandoverSpawn and the following
// operations).
//
// The running agent spawns its successor as its own child (under systemd
// it is then in the service's cgroup), with the agent's flags and
// --takeover, and talks to it over a socket pair (handoverFDEnv names the
// child's end). The successor checks what it can without owning the
// datapath (its file, every pinned map's migration planned, its programs
// through the verifier) and says it is ready. At the switch the old agent
// quiesces: the DPA tells the VSM it is handing over, its loops stop (the
// DPA and LACP state are checkpointed as they change), its API closes and
// it releases the instance lock, but it stays alive, its programs stay in
// the links and its LACP keeps sending until the successor runs its own
// (channelContext), so partners hear no gap however long the successor's
// start takes. The successor then starts as any agent does: it takes the
// lock, adopts (migrates) the pins, swaps its programs in, resumes LACP
// from the checkpoint and serves the API. Once the orchestrator has seen
// it healthy for long enough it commits: the old agent names the successor
// systemd's main process and exits without touching the datapath. A
// rollback stops the successor, which lets go the same way (its LACP on
// until the old agent's runs again), and runs the old agent's start-up
// again in its process, which adopts what the successor left (migrating
// back where a layout changed). A session that ends before its commit, or
// falls silent for longer than the orchestrator's phases allow, rolls
// back by itself.

// handoverFDEnv names the file descriptor of a successor's end of the
// handover socket pair.
const handoverFDEnv = "VEM_HANDOVER_FD"

// TakeoverFlag is the flag that makes vem-agent a successor.
const TakeoverFlag = "--takeover"

// defaultHandoverTimeout bounds each operation of a session, and the
// silence between two, when the orchestrator names no timeout.
const defaultHandoverTimeout = 30 * time.Second

// Host runs the agent of one instance, and hands it over to a successor
// when an orchestrator asks.
type Host struct {
	opts Options
	// args are the agent's flags, which its successor gets too.
	args []string
	log  *zap.Logger

	mu      sync.Mutex
	cur     *Agent
	stopRun context.CancelFunc // stops cur's Run
	// quiesce is set when cur's Run is stopped for a switch; releasing
	// until release has heard that it let go.
	quiesce, releasing bool
	// state is the handover in progress ("idle" if none) and succ its
	// successor's PID.
	state string
	succ  int
	// released receives the Close error of an agent that let go for a
	// switch; verdict then says whether it resumes (true) or exits.
	released chan error
	verdict  chan bool
	// resumed receives New's error when a resumed agent serves or fails.
	resumed chan error
	// heldLACP stops the port-channels of an agent that let go, which
	// run on until the next agent runs its own (channelContext).
	heldLACP context.CancelFunc
}

// NewHost returns a Host for the agent that opts configure, whose flags
// (for a successor) are args.
func NewHost(opts Options, args []string) *Host {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	return &Host{opts: opts, args: args, log: opts.Log, state: "idle",
		released: make(chan error, 1), verdict: make(chan bool, 1), resumed: make(chan error, 1)}
}

// Run runs the agent until ctx ends (nil) or it fails, or until it has
// handed over to a successor (nil): then it returns without touching the
// datapath.
func (h *Host) Run(ctx context.Context) error { return h.run(ctx, nil) }

// run is Run, starting with first if not nil.
func (h *Host) run(ctx context.Context, first *Agent) error {
	resuming := false
	for {
		a, err := first, error(nil)
		if a == nil {
			a, err = New(h.opts)
		}
		first = nil
		if resuming {
			if err != nil {
				h.stopHeldLACP()
				h.resumed <- err
			} else {
				a.onServing = func() {
					h.stopHeldLACP()
					h.resumed <- nil
				}
			}
		}
		if err != nil {
			return err
		}
		handed, err := h.runOne(ctx, a)
		if err != nil || !handed {
			return err
		}
		// Released for a switch: wait for the verdict.
		select {
		case resume := <-h.verdict:
			if !resume {
				h.log.Info("handed over; exiting without touching the datapath")
				return nil
			}
		case <-ctx.Done():
			return nil
		}
		h.log.Info("handover rolled back: resuming")
		resuming = true
	}
}

// runOne runs a until ctx ends or a switch stops it, and closes it. It
// returns whether a let go for a switch.
func (h *Host) runOne(ctx context.Context, a *Agent) (bool, error) {
	a.host = h
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	h.mu.Lock()
	h.cur, h.stopRun, h.quiesce = a, stop, false
	h.mu.Unlock()
	err := a.Run(runCtx)
	stop()
	h.mu.Lock()
	quiesce := h.quiesce && ctx.Err() == nil
	h.cur, h.stopRun = nil, nil
	h.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if !quiesce {
		return false, errors.Join(err, a.Close())
	}
	if err != nil {
		a.log.Warn("agent loop ended with an error as it quiesced", zap.Error(err))
	}
	h.released <- a.Close()
	return true, nil
}

// channelContext is the context the port-channels of an agent that runs
// until ctx ends run in. It ends with ctx, except when the agent lets go
// for a handover: then its LACP goes on (the partners hear no gap in
// LACPDUs, and the state it checkpoints stays current) until
// stopHeldLACP, once the next agent runs its own. A nil Host's is ctx.
func (h *Host) channelContext(ctx context.Context) context.Context {
	if h == nil {
		return ctx
	}
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		hold := h.quiesce
		if hold {
			if h.heldLACP != nil {
				h.heldLACP()
			}
			h.heldLACP = cancel
		}
		h.mu.Unlock()
		if !hold {
			cancel()
		}
	}()
	return c
}

// stopHeldLACP stops the port-channels of an agent that let go.
func (h *Host) stopHeldLACP() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.heldLACP != nil {
		h.heldLACP()
		h.heldLACP = nil
	}
}

// Reload reloads the running agent's file, if an agent runs.
func (h *Host) Reload() {
	h.mu.Lock()
	a := h.cur
	h.mu.Unlock()
	if a != nil {
		a.Reload()
	}
}

// release stops the running agent for a switch and waits until it has
// let go (lock released, API closed).
func (h *Host) release(ctx context.Context) error {
	h.mu.Lock()
	a, stop := h.cur, h.stopRun
	if a == nil {
		h.mu.Unlock()
		return errors.New("no agent running to release")
	}
	h.quiesce, h.releasing = true, true
	h.mu.Unlock()
	a.quiesceDPA()
	stop()
	return h.awaitRelease(ctx)
}

// awaitRelease waits until the agent stopped for a switch has let go.
func (h *Host) awaitRelease(ctx context.Context) error {
	select {
	case err := <-h.released:
		h.mu.Lock()
		h.releasing = false
		h.mu.Unlock()
		if err != nil {
			return fmt.Errorf("release the instance: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("release the instance: %w", ctx.Err())
	}
}

// resume has a released agent start again and waits until it serves.
func (h *Host) resume(ctx context.Context) error {
	h.mu.Lock()
	releasing := h.releasing
	h.mu.Unlock()
	if releasing {
		// The switch gave up waiting for the release; it comes.
		if err := h.awaitRelease(ctx); err != nil {
			h.log.Warn("the agent let go with an error", zap.Error(err))
		}
	}
	h.verdict <- true
	select {
	case err := <-h.resumed:
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("resume: %w", ctx.Err())
	}
}

// setState records the handover's progress for HandoverStatus.
func (h *Host) setState(state string, succ int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state, h.succ = state, succ
}

// HandoverStatus reports the agent's process and the handover in
// progress.
func (a *Agent) HandoverStatus(ctx context.Context) (api.HandoverStatus, error) {
	exe, _ := os.Executable()
	st := api.HandoverStatus{PID: os.Getpid(), Executable: exe, State: "idle"}
	if h := a.host; h != nil {
		h.mu.Lock()
		st.State, st.Successor = h.state, h.succ
		h.mu.Unlock()
	}
	return st, nil
}

// Handover runs a handover session (api.Handoverer).
func (a *Agent) Handover(ctx context.Context, s *api.HandoverSession) error {
	h := a.host
	if h == nil {
		return errors.New("this agent runs without a host that can hand it over")
	}
	h.mu.Lock()
	busy := h.state != "idle"
	if !busy {
		h.state = "open"
	}
	h.mu.Unlock()
	if busy {
		req, err := s.Recv(10 * time.Second)
		if err != nil {
			return err
		}
		return s.Send(api.HandoverReply{Op: req.Op, Error: "a handover is in progress already"})
	}
	defer h.setState("idle", 0)
	hs := &handover{h: h, s: s, log: h.log.With(zap.Int32("pid", s.Peer.PID)), timeout: defaultHandoverTimeout}
	return hs.run()
}
