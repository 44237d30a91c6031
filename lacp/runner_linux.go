package lacp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/internal/linkwatch"
)

// retryInterval paces reopening a member's socket after a failure.
const retryInterval = time.Second

// RunnerOptions tune a Runner.
type RunnerOptions struct {
	// Logger receives socket and link-watch trouble; nil discards. The
	// protocol's events and member changes are reported through
	// Config.OnEvent and Config.OnMembers only, for the caller to log.
	Logger *zap.Logger
	// NetNS is the path of the network namespace the member interfaces
	// are in (e.g. /run/netns/x); empty means the caller's.
	NetNS string
	// Links, if set, is the namespace's shared link watcher (a running
	// *linkwatch.Watcher of NetNS): the Runner subscribes to it and has
	// it poll the members' carrier. Nil makes Run start a private one.
	Links Links
}

// Runner runs an Aggregator on real interfaces: an AF_PACKET Conn per
// member, link state and fast carrier from a linkwatch.Watcher, the
// Config's clock. The agent starts one per LACP port-channel.
type Runner struct {
	agg     *Aggregator
	log     *zap.Logger
	nsPath  string
	links   Links
	clock   clock.Clock
	started atomic.Bool

	// carrierMu serialises carrier updates so the Aggregator sees them in
	// the order they were computed; it is taken before mu, and never by
	// transmit, which the Aggregator may call inside SetCarrier.
	carrierMu sync.Mutex
	mu        sync.Mutex
	ports     map[string]*runnerPort
}

type runnerPort struct {
	conn     *Conn
	linkUp   bool
	linkSeen bool // a link update has arrived
	carrier  bool // as last told to the Aggregator
	told     bool // the Aggregator has been told the carrier once
}

// NewRunner returns a Runner for cfg, whose Transmitter must be unset (the
// Runner sends through its sockets) and whose Clock, if unset, is the
// system clock. OnMembers, OnEvent and OnCheckpoint are called as for an
// Aggregator (with Resume, already inside NewRunner).
func NewRunner(cfg Config, opts RunnerOptions) (*Runner, error) {
	if cfg.Transmitter != nil {
		return nil, fmt.Errorf("lacp: port-channel %q: a Runner transmits through its own sockets; leave Transmitter unset", cfg.Name)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	r := &Runner{
		log:    opts.Logger,
		nsPath: opts.NetNS,
		links:  opts.Links,
		clock:  cfg.Clock,
		ports:  make(map[string]*runnerPort, len(cfg.Ports)),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.log = r.log.With(zap.String("portChannel", cfg.Name))
	for _, p := range cfg.Ports {
		r.ports[p.Name] = &runnerPort{}
	}
	cfg.Transmitter = TransmitterFunc(r.transmit)
	agg, err := NewAggregator(cfg)
	if err != nil {
		return nil, err
	}
	r.agg = agg
	return r, nil
}

// Aggregator returns the Aggregator the Runner drives.
func (r *Runner) Aggregator() *Aggregator { return r.agg }

// Status returns the Aggregator's status.
func (r *Runner) Status() Status { return r.agg.Status() }

// Checkpoint returns the Aggregator's checkpoint. After Run has returned it
// is the state at shutdown, which a successor passes in Config.Resume.
func (r *Runner) Checkpoint() Checkpoint { return r.agg.Checkpoint() }

// Run opens the members' sockets, follows their links and runs LACP until
// ctx is done, then closes the Aggregator and the sockets and returns nil.
// Shutting down is not a carrier loss: the Aggregator keeps its members, as
// the datapath does, for Checkpoint.
// Members that are missing or fail are retried every second meanwhile.
// Link state comes from RunnerOptions.Links, or from a private Watcher
// that Run starts in the Runner's namespace and stops before it returns.
// It returns an error if it cannot start (a bad namespace), or if called
// more than once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("lacp: Runner.Run called twice")
	}
	defer r.agg.Close()
	var ns *netns.NsHandle
	if r.nsPath != "" {
		h, err := netns.GetFromPath(r.nsPath)
		if err != nil {
			return fmt.Errorf("lacp: port-channel %q: open network namespace: %w", r.agg.Name(), err)
		}
		defer h.Close()
		ns = &h
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	links := r.links
	if links == nil {
		w, err := linkwatch.New(linkwatch.Options{NetNS: r.nsPath, Clock: r.clock, OnError: func(err error) {
			r.log.Warn("link watch", zap.Error(err))
		}})
		if err != nil {
			return fmt.Errorf("lacp: port-channel %q: %w", r.agg.Name(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(ctx)
		}()
		links = w
	}
	sub := links.Subscribe()
	defer sub.Close()
	names := make([]string, 0, len(r.ports))
	for name := range r.ports {
		names = append(names, name)
	}
	sub.Poll(names...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.watchLinks(ctx, sub)
	}()
	for name := range r.ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.servePort(ctx, ns, name)
		}()
	}
	<-ctx.Done()
	// Before the sockets close, so that nothing reaches it any more.
	r.agg.Close()
	wg.Wait()
	return nil
}

// servePort keeps a socket open on a member and feeds what it receives to
// the Aggregator.
func (r *Runner) servePort(ctx context.Context, ns *netns.NsHandle, name string) {
	var lastErr string
	for ctx.Err() == nil {
		var c *Conn
		err := inNetNS(ns, func() (err error) {
			c, err = Listen(name)
			return err
		})
		if err != nil {
			if err.Error() != lastErr {
				r.log.Warn("cannot open LACP socket; retrying", zap.String("port", name), zap.Error(err))
				lastErr = err.Error()
			}
			if !sleep(ctx, retryInterval) {
				return
			}
			continue
		}
		lastErr = ""
		r.setConn(name, c)
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = r.read(ctx, name, c)
		stop()
		if ctx.Err() != nil {
			// Shutting down: the port keeps its state (see Run).
			c.Close()
			return
		}
		r.setConn(name, nil)
		c.Close()
		r.log.Warn("LACP socket failed; reopening", zap.String("port", name), zap.Error(err))
		if !sleep(ctx, retryInterval) {
			return
		}
	}
}

func (r *Runner) read(ctx context.Context, name string, c *Conn) error {
	buf := make([]byte, 2048)
	for {
		n, err := c.ReadFrame(buf)
		if errors.Is(err, unix.ENETDOWN) {
			// The interface went down; the socket resumes when it
			// comes back up. The pause bounds the loop.
			if !sleep(ctx, 10*time.Millisecond) {
				return ctx.Err()
			}
			continue
		}
		if err != nil {
			return err
		}
		_, payload, err := ParseFrame(buf[:n])
		if err == nil {
			err = r.agg.Receive(name, payload)
		}
		if err != nil {
			r.log.Debug("dropped slow-protocol frame", zap.String("port", name), zap.Error(err))
		}
	}
}

func (r *Runner) transmit(port string, payload []byte) error {
	r.mu.Lock()
	c := r.ports[port].conn
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("lacp: port %s: no socket", port)
	}
	return c.Write(payload)
}

func (r *Runner) setConn(name string, c *Conn) {
	r.carrierMu.Lock()
	defer r.carrierMu.Unlock()
	r.mu.Lock()
	r.ports[name].conn = c
	r.mu.Unlock()
	r.updateCarrier(name)
}

// setLink records a link update; a deleted or re-created interface gets a
// new socket, since the old one is bound to the old interface index.
func (r *Runner) setLink(name string, up, deleted bool, ifindex int) {
	r.carrierMu.Lock()
	defer r.carrierMu.Unlock()
	r.mu.Lock()
	p := r.ports[name]
	p.linkUp, p.linkSeen = up, true
	if c := p.conn; c != nil && (deleted || c.Ifindex() != ifindex) {
		c.Close() // servePort reopens
	}
	r.mu.Unlock()
	r.updateCarrier(name)
}

// updateCarrier tells the Aggregator a member is up once its link is up and
// its socket open, so that the first PDU is not lost. carrierMu is held.
func (r *Runner) updateCarrier(name string) {
	r.mu.Lock()
	p := r.ports[name]
	carrier := p.linkUp && p.conn != nil
	// A member resumed from a checkpoint starts up in the Aggregator:
	// tell it the first time the link is seen down, though carrier has
	// not changed here. (A closed socket alone is not news: it opens.)
	changed := carrier != p.carrier || (!p.told && p.linkSeen && !p.linkUp)
	p.carrier = carrier
	p.told = p.told || changed
	r.mu.Unlock()
	if !changed {
		return
	}
	if err := r.agg.SetCarrier(name, carrier); err != nil && !errors.Is(err, ErrClosed) {
		r.log.Error("set carrier", zap.String("port", name), zap.Error(err))
	}
}

// inNetNS runs fn on a thread in network namespace ns (nil: the caller's).
// Sockets fn opens stay in that namespace.
func inNetNS(ns *netns.NsHandle, fn func() error) error {
	if ns == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(*ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: it ends with this goroutine
			// instead of serving others in the wrong namespace.
			errc <- errors.Join(err, fmt.Errorf("restore network namespace: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// sleep waits for d, reporting false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
