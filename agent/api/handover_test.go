package api_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

// handoverBackend answers a session: spawn at once, prepare only after
// prepareTakes (as a successor slow to get ready), abort at once.
type handoverBackend struct {
	*apitest.Backend
	prepareTakes time.Duration
	ops          chan string
}

func (b *handoverBackend) HandoverStatus(context.Context) (api.HandoverStatus, error) {
	return api.HandoverStatus{PID: 7, Executable: "/usr/lib/vem/1.0.0/vem-agent", State: "idle"}, nil
}

func (b *handoverBackend) Handover(ctx context.Context, s *api.HandoverSession) error {
	for {
		req, err := s.Recv(5 * time.Second)
		if err != nil {
			close(b.ops)
			return err
		}
		b.ops <- req.Op
		rep := api.HandoverReply{Op: req.Op, OK: true}
		switch req.Op {
		case api.HandoverSpawn:
			rep.PID = 42
		case api.HandoverPrepare:
			time.Sleep(b.prepareTakes)
			rep.OK, rep.Error = false, "cancelled"
		case api.HandoverAbort:
			rep.Detail = "agent PID 7 never stopped"
		default:
			rep.OK, rep.Error = false, "unknown operation "+req.Op
		}
		if err := s.Send(rep); err != nil {
			return err
		}
	}
}

// TestHandoverSession opens a session over the agent's socket: it
// outlives the server (the old agent closes its API for the successor),
// an operation the orchestrator gave up on does not confuse the next one
// (its late reply is skipped), and closing it ends the agent's side.
func TestHandoverSession(t *testing.T) {
	b := &handoverBackend{Backend: fixture(), prepareTakes: 300 * time.Millisecond, ops: make(chan string, 16)}
	path := filepath.Join(t.TempDir(), "vem.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(b, zaptest.NewLogger(t))
	go srv.Serve(ln)
	c := api.NewClient(path)
	ctx := context.Background()
	st, err := c.Handover(ctx)
	if err != nil || st.PID != 7 || st.State != "idle" {
		t.Fatalf("handover status %+v, %v", st, err)
	}
	s, err := c.OpenHandover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The server goes (the old agent's API closes at the switch); the
	// session stays.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with a session open: %v", err)
	}
	cancel()
	rep, err := s.Do(ctx, api.HandoverRequest{Op: api.HandoverSpawn, Binary: "/usr/lib/vem/2.0.0/vem-agent"})
	if err != nil || rep.PID != 42 {
		t.Fatalf("spawn: %+v, %v", rep, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = s.Do(short, api.HandoverRequest{Op: api.HandoverPrepare})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("prepare given up on: %v, want the deadline", err)
	}
	rep, err = s.Do(ctx, api.HandoverRequest{Op: api.HandoverAbort})
	if err != nil || rep.Op != api.HandoverAbort || !strings.Contains(rep.Detail, "never stopped") {
		t.Fatalf("abort after a prepare given up on: %+v, %v", rep, err)
	}
	rep, err = s.Do(ctx, api.HandoverRequest{Op: "dance"})
	if err == nil || !strings.Contains(err.Error(), "unknown operation dance") || rep.OK {
		t.Fatalf("unknown operation: %+v, %v", rep, err)
	}
	s.Close()
	var ops []string
	for op := range b.ops {
		ops = append(ops, op)
	}
	if got := strings.Join(ops, " "); got != "spawn prepare abort dance" {
		t.Fatalf("the agent saw %q", got)
	}
}

// TestHandoverWithoutHandoverer: an agent that cannot hand over says so.
func TestHandoverWithoutHandoverer(t *testing.T) {
	c := api.NewClient(apitest.Serve(t, fixture()))
	if _, err := c.Handover(context.Background()); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status: %v, want not found", err)
	}
	if _, err := c.OpenHandover(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot hand over") {
		t.Fatalf("open: %v", err)
	}
}
