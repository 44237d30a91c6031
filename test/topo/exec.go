package topo

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long a finished command's output is drained when a
// child it left behind still holds its stdout or stderr.
const waitDelay = time.Second

// execArgs returns the argv that runs args in the namespace through
// "ip netns exec" (network and a private mount namespace with a fresh /sys).
func (n *NS) execArgs(args []string) []string {
	return append([]string{"ip", "netns", "exec", n.name}, args...)
}

// netOnlyArgs returns the argv that runs args in the namespace through
// "nsenter --net": the network namespace only, the host's mounts unchanged.
func (n *NS) netOnlyArgs(args []string) []string {
	return append([]string{"nsenter", "--net=" + n.path, "--"}, args...)
}

// Run runs a command in the namespace with "ip netns exec" and returns its
// combined output. The error includes the output. /sys inside is the
// namespace's own, so /sys/fs/bpf is not the host's bpffs: use RunNetOnly for
// anything that touches pins.
func (n *NS) Run(ctx context.Context, args ...string) (string, error) {
	return n.run(ctx, args, n.execArgs(args))
}

// RunNetOnly is Run through "nsenter --net": only the network namespace is
// entered, so the command sees the host's mounts, /sys/fs/bpf included.
func (n *NS) RunNetOnly(ctx context.Context, args ...string) (string, error) {
	return n.run(ctx, args, n.netOnlyArgs(args))
}

func (n *NS) run(ctx context.Context, args, argv []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("topo: run: no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = waitDelay
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("topo: netns %s: %s: %w: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Start starts a background process in the namespace with "ip netns exec".
// Its stdout and stderr are captured (Proc.Output) and the Topology stops it at
// Close if it is still running.
func (n *NS) Start(args ...string) (*Proc, error) {
	return n.start(args, n.execArgs(args))
}

// StartNetOnly is Start through "nsenter --net": only the network namespace
// is entered. The vem agent must be started this way so its pins live in the
// host's /sys/fs/bpf.
func (n *NS) StartNetOnly(args ...string) (*Proc, error) {
	return n.start(args, n.netOnlyArgs(args))
}

func (n *NS) start(args, argv []string) (*Proc, error) {
	if len(args) == 0 {
		return nil, errors.New("topo: start: no command")
	}
	p := &Proc{args: args, done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	cmd.WaitDelay = waitDelay
	// Should this process die before Close runs (a test binary timing out),
	// take the child with it. ip and nsenter exec the command, so the
	// setting reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd = cmd

	t := n.topo
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("topo: netns %s: start %s: %w", n.name, args[0], errClosed)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("topo: netns %s: start %s: %w", n.name, strings.Join(args, " "), err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.track(p)
	return p, nil
}
