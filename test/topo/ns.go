package topo

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// nsDir is where ip(8) binds named network namespaces.
const nsDir = "/run/netns"

// NS is a named network namespace owned by a Topology.
type NS struct {
	topo *Topology
	name string
	path string
}

// Name returns the namespace's full name, as "ip netns list" shows it.
func (n *NS) Name() string { return n.name }

// Path returns the namespace's bind-mount path, /run/netns/<name>.
func (n *NS) Path() string { return n.path }

// Topology returns the Topology that owns the namespace, e.g. to register
// teardown for resources bound to it.
func (n *NS) Topology() *Topology { return n.topo }

// String returns the namespace's name.
func (n *NS) String() string { return n.name }

// Do runs fn on a goroutine locked to an OS thread that has been switched into
// the namespace, then switches the thread back. Sockets fn creates stay bound
// to the namespace for their whole life, wherever they are used later, which
// is the point: open them here, use them anywhere.
//
// fn runs on another goroutine, so it must not call t.FailNow or t.Fatal.
// A panic in fn is re-raised in the caller.
func (n *NS) Do(fn func() error) error {
	target, err := netns.GetFromPath(n.path)
	if err != nil {
		return fmt.Errorf("topo: open netns %s: %w", n.name, err)
	}
	defer target.Close()

	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	// A fresh goroutine, rather than locking the caller's, leaves any lock
	// the caller holds on its own thread untouched.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("topo: get current netns: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("topo: enter netns %s: %w", n.name, err)}
			return
		}
		var r result
		func() {
			defer func() { r.panic = recover() }()
			r.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime then retires the thread when this
			// goroutine exits instead of reusing it in the wrong namespace.
			r.err = fmt.Errorf("topo: leave netns %s: %w (fn: %v)", n.name, err, r.err)
			done <- r
			return
		}
		runtime.UnlockOSThread()
		done <- r
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// Netlink calls fn with a netlink handle whose sockets live in the namespace,
// for link, address, route and neighbour work that the helpers do not cover.
// The handle is closed when fn returns.
func (n *NS) Netlink(fn func(h *netlink.Handle) error) error {
	target, err := netns.GetFromPath(n.path)
	if err != nil {
		return fmt.Errorf("topo: open netns %s: %w", n.name, err)
	}
	defer target.Close()
	h, err := netlink.NewHandleAt(target)
	if err != nil {
		return fmt.Errorf("topo: netlink handle in netns %s: %w", n.name, err)
	}
	defer h.Close()
	return fn(h)
}
