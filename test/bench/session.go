package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vem-switch/vem/test/topo"
)

// requireRoot fails unless bench runs as root with every one of tools on
// the PATH.
func requireRoot(tools ...string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces and loads eBPF programs")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return err
		}
	}
	return nil
}

// session is what every mode runs in: a context that Ctrl-C or SIGTERM
// cancels (the deferred teardown still runs), a temporary directory, the
// vem-agent binary and the topology.
type session struct {
	ctx      context.Context
	stop     func() // stops watching for the signals
	dir      string
	agentBin string // as given, or built into dir
	tp       *topo.Topology
}

// openSession makes the temporary directory (os.MkdirTemp pattern
// tmpPattern), builds the agent when agentBin is "" and creates the
// topology, whose namespaces are named topoPrefix and the process id.
// The caller defers close once it returns.
func openSession(tmpPattern, topoPrefix, agentBin string) (*session, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	s := &session{ctx: ctx, stop: stop, agentBin: agentBin}
	var err error
	if s.dir, err = os.MkdirTemp("", tmpPattern); err != nil {
		stop()
		return nil, err
	}
	if s.agentBin == "" {
		s.agentBin, err = buildAgent(ctx, s.dir)
	}
	if err == nil {
		s.tp, err = topo.New(fmt.Sprintf("%s%d", topoPrefix, os.Getpid()))
	}
	if err != nil {
		os.RemoveAll(s.dir)
		stop()
		return nil, err
	}
	return s, nil
}

// close releases the topology, reports what leftovers (called
// afterwards) still finds, removes the directory and stops watching for
// the signals.
func (s *session) close(leftovers func() []string) {
	if cerr := s.tp.Close(); cerr != nil {
		fmt.Fprintln(os.Stderr, "bench: cleanup:", cerr)
	}
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "bench: left behind:", strings.Join(left, ", "))
	}
	os.RemoveAll(s.dir)
	s.stop()
}

// leftBehind lists the pins of the agent instances (empty names are
// skipped) still under /sys/fs/bpf/vem and the namespaces of tp still
// present.
func leftBehind(tp *topo.Topology, instances ...string) []string {
	var out []string
	for _, inst := range instances {
		if inst == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/bpf/vem", inst)); err == nil {
			out = append(out, "pins /sys/fs/bpf/vem/"+inst)
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tp.Prefix()+"-") {
			out = append(out, "netns "+e.Name())
		}
	}
	return out
}

// instances returns the agent instance of each host that exists.
func instances[H any](hosts []*H, instance func(*H) string) []string {
	var out []string
	for _, h := range hosts {
		if h != nil {
			out = append(out, instance(h))
		}
	}
	return out
}
