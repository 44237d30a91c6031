package issu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vem-switch/vem/agent/api"
)

// Process IDs of the fake agents.
const (
	oldPID = 100
	newPID = 200
)

// fakeHost is the running agent and its successor as the orchestrator
// sees them, with what a real pair would do for each handover operation.
type fakeHost struct {
	mu sync.Mutex
	// serving is the PID behind the socket (0: none).
	serving int
	// successor is the successor's state: "", spawned, prepared,
	// running, stopped, alone (after commit).
	successor string
	// oldState is the old agent's: running, quiesced, exited.
	oldState string
	ops      []string
	// fail makes an operation fail; block makes it wait for its context.
	fail, block map[string]bool
	// unhealthy makes the successor's engine retrying after n health reads
	// (-1: never).
	unhealthyAfter int
	reads          int
	// partnerAfter, if set, is the partner the successor's members report.
	partnerAfter string
	vsm          bool
	dpaAfter     string
	closed       bool
}

func newFakeHost() *fakeHost {
	return &fakeHost{serving: oldPID, oldState: "running", fail: map[string]bool{}, block: map[string]bool{},
		unhealthyAfter: -1, dpaAfter: "attached"}
}

func (h *fakeHost) successorServes() bool { return h.serving == newPID }

func (h *fakeHost) Handover(ctx context.Context) (api.HandoverStatus, error) {
	if err := ctx.Err(); err != nil {
		return api.HandoverStatus{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.serving == 0 {
		return api.HandoverStatus{}, fmt.Errorf("dial: %w", api.ErrNotRunning)
	}
	st := api.HandoverStatus{PID: h.serving, State: "idle"}
	return st, nil
}

func (h *fakeHost) Status(ctx context.Context) (api.Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.serving == 0 {
		return api.Status{}, api.ErrNotRunning
	}
	st := api.Status{Engine: api.EngineStatus{State: api.EngineCurrent}}
	if h.successorServes() {
		h.reads++
		if h.unhealthyAfter >= 0 && h.reads > h.unhealthyAfter {
			st.Engine.State, st.Engine.Error = api.EngineRetrying, "apply: boom"
		}
	}
	return st, nil
}

func (h *fakeHost) LACPNeighbors(ctx context.Context) ([]api.LACPNeighbor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	partner := "00:00:5e:00:53:01"
	if h.successorServes() && h.partnerAfter != "" {
		partner = h.partnerAfter
	}
	return []api.LACPNeighbor{
		{PortChannel: "po1", Interface: "e1", State: "bundled", PartnerSystem: partner, PartnerKey: 1},
		{PortChannel: "po1", Interface: "e2", State: "bundled", PartnerSystem: partner, PartnerKey: 1},
	}, nil
}

func (h *fakeHost) DPA(ctx context.Context) (api.DPA, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.vsm {
		return api.DPA{Mode: "standalone"}, nil
	}
	d := api.DPA{Mode: "vsm", State: "attached"}
	if h.successorServes() {
		d.State = h.dpaAfter
	}
	return d, nil
}

func (h *fakeHost) OpenHandover(ctx context.Context) (Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.fail["open"] {
		return nil, errors.New("open: refused")
	}
	return &fakeSession{h: h}, nil
}

// fakeSession is a handover session with the fakeHost.
type fakeSession struct{ h *fakeHost }

func (s *fakeSession) Do(ctx context.Context, req api.HandoverRequest) (api.HandoverReply, error) {
	h := s.h
	h.mu.Lock()
	h.ops = append(h.ops, req.Op)
	block, fail := h.block[req.Op], h.fail[req.Op]
	h.mu.Unlock()
	rep := api.HandoverReply{Op: req.Op, OK: true}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if block {
		<-ctx.Done()
		return rep, ctx.Err()
	}
	if fail {
		return rep, fmt.Errorf("handover %s: it failed", req.Op)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch req.Op {
	case api.HandoverSpawn:
		h.successor, rep.PID = "spawned", newPID
	case api.HandoverPrepare:
		h.successor = "prepared"
	case api.HandoverSwitch:
		h.oldState, h.successor, h.serving = "quiesced", "running", newPID
	case api.HandoverCommit:
		h.oldState, h.successor = "exited", "alone"
	case api.HandoverAbort:
		if h.successor != "" {
			h.successor = "stopped"
		}
		h.oldState, h.serving = "running", oldPID
		rep.PID = oldPID
	}
	return rep, nil
}

func (s *fakeSession) Close() error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.closed = true
	return nil
}

// fakeBundle is a bundle whose Verify fails or blocks on demand.
type fakeBundle struct {
	err   error
	block bool
}

func (b *fakeBundle) Version() string { return "2.0.0" }
func (b *fakeBundle) Agent() string   { return "/usr/lib/vem/2.0.0/vem-agent" }
func (b *fakeBundle) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return b.err
}
