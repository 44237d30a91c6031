package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
)

// handover is the old agent's side of one session.
type handover struct {
	h       *Host
	s       *api.HandoverSession
	log     *zap.Logger
	timeout time.Duration
	silence atomic.Int64 // the longest silence allowed between requests (ns)
	// watch is the orchestrator's verify and stable time after the switch,
	// when it sends nothing.
	watch time.Duration

	child    *successor
	released bool // the old agent let go for the switch
	running  bool // the successor took over
	done     bool // committed or aborted: the session is over
	exit     bool // committed: the old agent exits once it has replied
}

// result is an operation's outcome.
type result struct {
	detail string
	pid    int
	err    error
}

// run serves the session's requests until it is over. A session that ends
// before its commit, or falls silent, is aborted.
func (hs *handover) run() error {
	hs.silence.Store(int64(hs.timeout))
	reqs := make(chan api.HandoverRequest)
	ended := make(chan error, 1)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		for {
			req, err := hs.s.Recv(time.Duration(hs.silence.Load()))
			if err != nil {
				ended <- err
				return
			}
			select {
			case reqs <- req:
			case <-stopRead:
				return
			}
		}
	}()
	var next *api.HandoverRequest
	for !hs.done {
		var req api.HandoverRequest
		if next != nil {
			req, next = *next, nil
		} else {
			select {
			case req = <-reqs:
			case err := <-ended:
				return hs.ended(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), hs.timeout)
		res := make(chan result, 1)
		go func() { res <- hs.do(ctx, req) }()
		var r result
		select {
		case r = <-res:
		case n := <-reqs:
			// A request while one runs: the orchestrator gave up on it
			// (an abort after its phase timed out).
			cancel()
			r = <-res
			next = &n
		case err := <-ended:
			cancel()
			<-res
			cancel()
			return hs.ended(err)
		}
		cancel()
		rep := api.HandoverReply{Op: req.Op, OK: r.err == nil, PID: r.pid, Detail: r.detail}
		if r.err != nil {
			rep.Error = r.err.Error()
			hs.log.Warn("handover operation failed", zap.String("op", req.Op), zap.Error(r.err))
		} else {
			hs.log.Info("handover operation done", zap.String("op", req.Op), zap.String("detail", r.detail))
		}
		if err := hs.s.Send(rep); err != nil && !hs.done {
			return hs.ended(err)
		}
	}
	if hs.exit {
		hs.h.verdict <- false
	}
	return nil
}

// ended handles the end of a session's connection: unless committed,
// what it started is undone.
func (hs *handover) ended(err error) error {
	if errors.Is(err, io.EOF) {
		err = errors.New("the orchestrator closed the session")
	}
	if hs.done || hs.child == nil && !hs.released {
		return nil
	}
	hs.log.Warn("handover session ended before its commit: rolling back", zap.Error(err))
	ctx, cancel := context.WithTimeout(context.Background(), hs.timeout)
	defer cancel()
	if r := hs.abort(ctx); r.err != nil {
		return fmt.Errorf("%w; rollback: %w", err, r.err)
	}
	return err
}

// do runs one operation.
func (hs *handover) do(ctx context.Context, req api.HandoverRequest) result {
	switch req.Op {
	case api.HandoverSpawn:
		return hs.spawn(req)
	case api.HandoverPrepare:
		return hs.prepare(ctx)
	case api.HandoverSwitch:
		return hs.doSwitch(ctx)
	case api.HandoverCommit:
		return hs.commit(ctx)
	case api.HandoverAbort:
		return hs.abort(ctx)
	}
	return result{err: fmt.Errorf("unknown handover operation %q", req.Op)}
}

func (hs *handover) spawn(req api.HandoverRequest) result {
	if hs.child != nil {
		return result{err: errors.New("a successor is spawned already")}
	}
	if req.TimeoutMs > 0 {
		hs.timeout = time.Duration(req.TimeoutMs) * time.Millisecond
		hs.silence.Store(int64(hs.timeout))
	}
	hs.watch = 2*hs.timeout + max(time.Duration(req.StableMs)*time.Millisecond, 0)
	c, err := spawnSuccessor(req.Binary, append(append([]string{}, hs.h.args...), TakeoverFlag), hs.log)
	if err != nil {
		return result{err: err}
	}
	hs.child = c
	hs.h.setState(api.HandoverSpawn, c.pid())
	return result{pid: c.pid(), detail: fmt.Sprintf("successor %s PID %d started", req.Binary, c.pid())}
}

func (hs *handover) prepare(ctx context.Context) result {
	if hs.child == nil {
		return result{err: errors.New("no successor spawned")}
	}
	start := time.Now()
	m, err := hs.child.await(ctx, successorReady)
	if err != nil {
		return result{err: fmt.Errorf("successor PID %d not ready: %w", hs.child.pid(), err)}
	}
	hs.h.setState(api.HandoverPrepare, hs.child.pid())
	return result{pid: hs.child.pid(), detail: fmt.Sprintf("successor ready after %v: %s", time.Since(start).Round(time.Millisecond), m.Detail)}
}

func (hs *handover) doSwitch(ctx context.Context) result {
	if hs.child == nil || !hs.child.is(successorReady) {
		return result{err: errors.New("no successor ready")}
	}
	start := time.Now()
	hs.h.setState(api.HandoverSwitch, hs.child.pid())
	// Released from here on, even if it fails: an abort resumes.
	hs.released = true
	if err := hs.h.release(ctx); err != nil {
		return result{err: err}
	}
	// From here on a session that ends rolls back; the orchestrator's
	// verify and stable phases send nothing for up to twice its timeout
	// and its stable time (hs.watch), and a little more for the commit.
	hs.silence.Store(int64(hs.watch + hs.timeout))
	released := time.Since(start)
	if err := hs.child.send(pipeMsg{Op: takeoverGo}); err != nil {
		return result{err: err}
	}
	m, err := hs.child.await(ctx, successorRunning)
	if err != nil {
		return result{err: fmt.Errorf("successor PID %d did not take over: %w", hs.child.pid(), err)}
	}
	hs.running = true
	return result{pid: hs.child.pid(), detail: fmt.Sprintf("released in %v; successor PID %d serving after %v: %s",
		released.Round(time.Millisecond), hs.child.pid(), time.Since(start).Round(time.Millisecond), m.Detail)}
}

func (hs *handover) commit(ctx context.Context) result {
	if !hs.running {
		return result{err: errors.New("no successor has taken over")}
	}
	if err := hs.child.send(pipeMsg{Op: takeoverCommit}); err != nil {
		return result{err: err}
	}
	if _, err := hs.child.await(ctx, successorCommitted); err != nil {
		return result{err: fmt.Errorf("successor PID %d: %w", hs.child.pid(), err)}
	}
	// Under systemd the successor becomes the service's main process
	// before this one exits; elsewhere this does nothing.
	notified, err := sdNotify("MAINPID=" + strconv.Itoa(hs.child.pid()))
	if err != nil {
		hs.log.Warn("sd_notify MAINPID", zap.Error(err))
	}
	hs.done, hs.exit = true, true
	detail := fmt.Sprintf("PID %d exits; successor PID %d runs alone", os.Getpid(), hs.child.pid())
	if notified {
		detail += " (systemd told its main PID)"
	}
	return result{pid: hs.child.pid(), detail: detail}
}

// abort stops the successor and, if the old agent had let go, resumes it.
func (hs *handover) abort(ctx context.Context) result {
	hs.done = true
	var detail []string
	held := false
	if hs.child != nil {
		var how string
		how, held = hs.child.stop(ctx)
		detail = append(detail, fmt.Sprintf("successor PID %d %s", hs.child.pid(), how))
	}
	if hs.released {
		start := time.Now()
		if err := hs.h.resume(ctx); err != nil {
			return result{err: err}
		}
		hs.released = false
		detail = append(detail, fmt.Sprintf("agent PID %d resumed in %v", os.Getpid(), time.Since(start).Round(time.Millisecond)))
	} else {
		detail = append(detail, fmt.Sprintf("agent PID %d never stopped", os.Getpid()))
	}
	if held {
		detail = append(detail, "successor "+hs.child.finish(ctx))
	}
	return result{pid: os.Getpid(), detail: strings.Join(detail, "; ")}
}

// successor is a spawned successor as its parent sees it.
type successor struct {
	cmd    *exec.Cmd
	p      *pipe
	msgs   chan pipeMsg
	exited chan struct{}
	err    error  // its exit, once exited is closed
	state  string // the last state it reported
	log    *zap.Logger
}

// spawnSuccessor starts binary with args as this process's child.
func spawnSuccessor(binary string, args []string, log *zap.Logger) (*successor, error) {
	if !filepath.IsAbs(binary) {
		return nil, fmt.Errorf("successor binary %q: not an absolute path", binary)
	}
	fi, err := os.Stat(binary)
	if err != nil {
		return nil, fmt.Errorf("successor binary: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("successor binary %s: not an executable file", binary)
	}
	p, theirs, err := newPipePair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	cmd.Env = append(os.Environ(), handoverFDEnv+"=3")
	if err := cmd.Start(); err != nil {
		p.close()
		return nil, fmt.Errorf("start successor %s: %w", binary, err)
	}
	c := &successor{cmd: cmd, p: p, msgs: make(chan pipeMsg, 8), exited: make(chan struct{}), log: log}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		defer close(c.msgs)
		for {
			m, err := p.recv()
			if err != nil {
				return
			}
			c.msgs <- m
		}
	}()
	log.Info("successor spawned", zap.String("binary", binary), zap.Int("successor", cmd.Process.Pid))
	return c, nil
}

func (c *successor) pid() int { return c.cmd.Process.Pid }

func (c *successor) is(state string) bool { return c.state == state }

func (c *successor) send(m pipeMsg) error {
	if err := c.p.send(m); err != nil {
		return fmt.Errorf("successor PID %d: %w", c.pid(), err)
	}
	return nil
}

// await waits for the successor to report state.
func (c *successor) await(ctx context.Context, state string) (pipeMsg, error) {
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return pipeMsg{}, c.gone()
			}
			c.state = m.State
			switch m.State {
			case state:
				return m, nil
			case successorFailed:
				return m, fmt.Errorf("it failed: %s", m.Error)
			}
		case <-ctx.Done():
			return pipeMsg{}, ctx.Err()
		}
	}
}

// gone explains a successor whose end of the pair closed.
func (c *successor) gone() error {
	select {
	case <-c.exited:
		return fmt.Errorf("it exited: %v", c.err)
	case <-time.After(2 * time.Second):
		return errors.New("it closed the handover socket")
	}
}

// stop has the successor stop, leaving the datapath as it is. One that
// took over lets go and reports it (held: its LACP runs on until finish);
// one that did not exits. One that does neither within ctx's time or 10
// seconds is killed.
func (c *successor) stop(ctx context.Context) (how string, held bool) {
	select {
	case <-c.exited:
		return fmt.Sprintf("had exited (%v)", c.err), false
	default:
	}
	_ = c.p.send(pipeMsg{Op: takeoverStop})
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok { // closed: it is exiting
				select {
				case <-c.exited:
					return "stopped", false
				case <-wait.Done():
					return c.kill(), false
				}
			}
			if m.State == successorStopped {
				return "let go", true
			}
		case <-c.exited:
			return "stopped", false
		case <-wait.Done():
			return c.kill(), false
		}
	}
}

// finish has a successor that let go exit, now that the old agent
// serves again.
func (c *successor) finish(ctx context.Context) string {
	_ = c.p.send(pipeMsg{Op: takeoverExit})
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-c.exited:
		return "exited"
	case <-wait.Done():
	}
	return c.kill()
}

// kill kills the successor and waits for it.
func (c *successor) kill() string {
	c.log.Warn("successor did not stop: killing it", zap.Int("successor", c.pid()))
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.p.close()
	return "killed"
}
