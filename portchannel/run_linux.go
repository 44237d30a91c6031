package portchannel

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/linkwatch"
)

// Links is where a Channel hears of its members' links: a
// *linkwatch.Watcher of the members' namespace.
type Links interface {
	// Subscribe returns a subscription to every link's changes, with
	// the current state pending.
	Subscribe() *linkwatch.Subscription
}

// A Watcher is what the agent passes.
var _ Links = (*linkwatch.Watcher)(nil)

// Run drives the Channel until ctx ends, then returns nil; it returns an
// error if it cannot start (a bad namespace) or is called twice.
//
// Link state comes from Config.Links, or from a private linkwatch.Watcher
// of the members' namespace that Run starts and stops. Either way the
// members' carrier is polled, so a loss is seen within milliseconds even
// when the kernel holds its notification back.
//
// LACP modes run a lacp.Runner on the members: an AF_PACKET socket each,
// carrier from the watcher, the protocol machines. Static and mac-pinning
// modes call SetCarrier for every change of a member's link; carrier is up
// when the link is administratively up and has lower-layer carrier.
// Members that do not exist are down until they appear. In every mode the
// last State stays as it was when Run returns, so that the datapath keeps
// forwarding across an agent restart.
func (c *Channel) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("portchannel %q: Run called twice", c.name)
	}
	if c.runner != nil {
		// ctx.Err is set before the Runner sees the end, so whatever
		// it reports while stopping is ignored.
		c.mu.Lock()
		c.stopped = func() bool { return ctx.Err() != nil }
		c.mu.Unlock()
		if err := c.runner.Run(ctx); err != nil {
			return fmt.Errorf("portchannel %q: %w", c.name, err)
		}
		return nil
	}
	if err := c.watchCarrier(ctx); err != nil {
		return fmt.Errorf("portchannel %q: %w", c.name, err)
	}
	return nil
}

// watchCarrier feeds a static or mac-pinning Channel from the link
// watcher until ctx ends.
func (c *Channel) watchCarrier(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	links := c.links
	if links == nil {
		// Opened here, on the caller's thread: with NetNS empty, its
		// namespace is the one watched.
		w, err := linkwatch.New(linkwatch.Options{NetNS: c.netNS, Clock: c.clock, OnError: func(err error) {
			c.log.Warn("link watch", zap.String("portChannel", c.name), zap.Error(err))
		}})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.Run(ctx) // fails only if run twice
		}()
		links = w
	}
	sub := links.Subscribe()
	defer sub.Close()
	sub.Poll(c.memberNames()...)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.relist:
			// Members added: polled from now on, their current
			// state queued.
			sub.Poll(c.memberNames()...)
		case <-sub.Ready():
			for _, e := range sub.Events() {
				if e.OldName != "" {
					c.SetCarrier(e.OldName, false) // renamed away
				}
				c.SetCarrier(e.Link.Name, !e.Gone && e.Link.Up())
			}
		}
	}
}

// memberNames returns the configured members' names.
func (c *Channel) memberNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, len(c.cfg.Members))
	for i, m := range c.cfg.Members {
		names[i] = m.Name
	}
	return names
}
