package topo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
const StopGrace = 3 * time.Second

// killWait bounds the wait for a process to be reaped after SIGKILL.
const killWait = 10 * time.Second

// Proc is a background process started in a namespace by NS.Start or
// NS.StartNetOnly.
type Proc struct {
	args []string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error // written before done is closed
}

// Pid returns the process ID. ip and nsenter exec the command, so it is the
// command's own PID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// String describes the process as "pid N: command args".
func (p *Proc) String() string {
	return fmt.Sprintf("pid %d: %s", p.Pid(), strings.Join(p.args, " "))
}

// Output returns everything the process has written to stdout and stderr so
// far.
func (p *Proc) Output() string { return p.out.String() }

// Done returns a channel closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error, as
// exec.Cmd.Wait reports it. It may be called any number of times.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM and, if the process has not exited after StopGrace,
// SIGKILL. It returns once the process is gone; the error reports only a
// failure to stop it, not how it exited (see Wait).
func (p *Proc) Stop() error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(StopGrace):
	}
	return p.Kill()
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (p *Proc) Kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("topo: %s: still running %v after SIGKILL", p, killWait)
	}
}

// signal delivers sig unless the process has already exited. os.Process
// signals through a pidfd, so a reaped and recycled PID is never hit.
func (p *Proc) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("topo: %s: send %v: %w", p, sig, err)
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd and
// concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
