package topo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
)

// validName is what namespace prefixes and names may contain: they become
// file names under /run/netns and arguments to ip(8).
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// errClosed is returned by methods called on a closed Topology.
var errClosed = errors.New("topology is closed")

// Topology is a set of network namespaces, the processes started in them and
// teardown hooks, all released by Close. Its methods are safe for concurrent
// use.
type Topology struct {
	prefix string

	mu     sync.Mutex
	closed bool
	nss    []*NS
	procs  []*Proc
	hooks  []func()
}

// New returns an empty Topology whose namespaces are named
// "<prefix>-<name>". The prefix must make the names unique on the host, e.g.
// by including the PID.
func New(prefix string) (*Topology, error) {
	if !validName.MatchString(prefix) {
		return nil, fmt.Errorf("topo: invalid prefix %q", prefix)
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("topo: %w", err)
		}
	}
	return &Topology{prefix: prefix}, nil
}

// Prefix returns the prefix the Topology names its namespaces with.
func (t *Topology) Prefix() string { return t.prefix }

// NS creates the network namespace "<prefix>-<name>" and brings its loopback
// up. The namespace is deleted by Close.
func (t *Topology) NS(name string) (*NS, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("topo: invalid namespace name %q", name)
	}
	full := t.prefix + "-" + name

	// Holding the lock across creation keeps a concurrent Close from missing
	// a namespace that is being made.
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("topo: create namespace %s: %w", full, errClosed)
	}
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("topo: ip netns add %s: %w: %s", full, err, out)
	}
	ns := &NS{topo: t, name: full, path: nsDir + "/" + full}
	// Tracked before anything else can fail, so Close deletes it.
	t.nss = append(t.nss, ns)
	if err := ns.SetUp("lo"); err != nil {
		return nil, err
	}
	return ns, nil
}

// Cleanup registers fn to run at Close, after the tracked processes are
// stopped and before the namespaces are deleted. Hooks run last-registered
// first. If the Topology is already closed, fn runs immediately.
func (t *Topology) Cleanup(fn func()) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		fn()
		return
	}
	t.hooks = append(t.hooks, fn)
	t.mu.Unlock()
}

// track records a started process so Close stops it. It is called with t.mu
// held.
func (t *Topology) track(p *Proc) {
	t.procs = append(t.procs, p)
}

// Close tears the topology down: it stops every tracked process that is still
// running (SIGTERM, then SIGKILL after a grace period), runs the Cleanup hooks
// last-registered first, kills by PID any other process still inside one of
// its namespaces, and deletes the namespaces. It carries on past failures and
// returns them joined. Close is idempotent: later calls return nil.
func (t *Topology) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	procs, hooks, nss := t.procs, t.hooks, t.nss
	t.procs, t.hooks, t.nss = nil, nil, nil
	t.mu.Unlock()

	var errs []error

	// Stop processes concurrently so several that ignore SIGTERM cost one
	// grace period, not one each.
	var wg sync.WaitGroup
	stopErrs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopErrs[i] = p.Stop()
		}()
	}
	wg.Wait()
	errs = append(errs, stopErrs...)

	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i]()
	}

	for i := len(nss) - 1; i >= 0; i-- {
		if err := nss[i].destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// destroy kills what is left inside the namespace and deletes it.
func (n *NS) destroy() error {
	var errs []error
	if err := killLeftovers(n.path); err != nil {
		errs = append(errs, fmt.Errorf("topo: netns %s: %w", n.name, err))
	}
	out, err := exec.Command("ip", "netns", "delete", n.name).CombinedOutput()
	if err != nil {
		if _, statErr := os.Stat(n.path); !errors.Is(statErr, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("topo: ip netns delete %s: %w: %s", n.name, err, out))
		}
	}
	return errors.Join(errs...)
}
