package portchannel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// retryInterval paces resubscribing to link updates after a failure.
const retryInterval = time.Second

// Run drives the Channel until ctx ends, then returns nil; it returns an
// error if it cannot start (a bad namespace, no netlink) or is called
// twice.
//
// LACP modes run a lacp.Runner on the members: an AF_PACKET socket each,
// carrier from netlink, the protocol machines. Static and mac-pinning
// modes watch the members' links with netlink (the links that exist at the
// start, then every change) and call SetCarrier; carrier is up when the
// link is administratively up and has lower-layer carrier. Members that do
// not exist are down until they appear. In every mode the last State stays
// as it was when Run returns, so that the datapath keeps forwarding across
// an agent restart.
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

// namespace opens the members' network namespace: Config.NetNS, or the
// calling thread's.
func (c *Channel) namespace() (netns.NsHandle, error) {
	if c.netNS != "" {
		h, err := netns.GetFromPath(c.netNS)
		if err != nil {
			return h, fmt.Errorf("open network namespace %s: %w", c.netNS, err)
		}
		return h, nil
	}
	// Locked so that the thread asked is the one the caller runs on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netns.Get()
	if err != nil {
		return h, fmt.Errorf("current network namespace: %w", err)
	}
	return h, nil
}

// carrierWatcher feeds a static or mac-pinning Channel from netlink.
type carrierWatcher struct {
	c  *Channel
	ns netns.NsHandle
	h  *netlink.Handle
	// names remembers the name of each ifindex seen, so that a renamed
	// member is taken down.
	names map[int]string
}

func (c *Channel) watchCarrier(ctx context.Context) error {
	ns, err := c.namespace()
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	w := &carrierWatcher{c: c, ns: ns, h: h, names: map[int]string{}}
	updates, stop, err := w.subscribe()
	if err != nil {
		return err
	}
	for {
		w.consume(ctx, updates)
		close(stop)
		for range updates { // drained, so that the subscription's reader exits
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("link subscription ended; resubscribing", zap.String("portChannel", c.name))
		for {
			if !sleep(ctx, retryInterval) {
				return nil
			}
			if updates, stop, err = w.subscribe(); err == nil {
				break
			}
			c.log.Warn("link subscription failed", zap.String("portChannel", c.name), zap.Error(err))
		}
		// Updates were lost meanwhile: the new subscription lists the
		// links that exist; members that vanished are found here.
		w.relist(false)
	}
}

// subscribe asks for link updates, starting with a dump of the existing
// links; the dump and the updates come in order on one socket, so no stale
// state can overtake a newer one.
func (w *carrierWatcher) subscribe() (chan netlink.LinkUpdate, chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	stop := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, stop, netlink.LinkSubscribeOptions{
		Namespace:    &w.ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			w.c.log.Debug("link subscription", zap.String("portChannel", w.c.name), zap.Error(err))
		},
	})
	if err != nil {
		close(stop)
		return nil, nil, fmt.Errorf("subscribe to link updates: %w", err)
	}
	return updates, stop, nil
}

// consume applies link updates until ctx ends or the subscription does.
func (w *carrierWatcher) consume(ctx context.Context, updates <-chan netlink.LinkUpdate) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.c.relist:
			w.relist(true)
		case u, ok := <-updates:
			if !ok {
				return
			}
			attrs := u.Link.Attrs()
			if old, ok := w.names[attrs.Index]; ok && old != attrs.Name {
				w.c.SetCarrier(old, false)
			}
			deleted := u.Header.Type == unix.RTM_DELLINK
			if deleted {
				delete(w.names, attrs.Index)
			} else {
				w.names[attrs.Index] = attrs.Name
			}
			w.c.SetCarrier(attrs.Name, !deleted && linkUp(attrs))
		}
	}
}

// relist reads every member's link: missing ones are down, and, with
// setUp, present ones take their state (Reconfigure added members whose
// earlier updates were ignored). Updates still queued are newer or replay
// what led here, so the last one applied is the current state.
func (w *carrierWatcher) relist(setUp bool) {
	w.c.mu.Lock()
	members := make([]string, len(w.c.cfg.Members))
	for i, m := range w.c.cfg.Members {
		members[i] = m.Name
	}
	w.c.mu.Unlock()
	for _, name := range members {
		l, err := w.h.LinkByName(name)
		var notFound netlink.LinkNotFoundError
		switch {
		case errors.As(err, &notFound):
			w.c.SetCarrier(name, false)
		case err != nil:
			w.c.log.Warn("read member link", zap.String("portChannel", w.c.name), zap.String("member", name), zap.Error(err))
		case setUp:
			w.c.SetCarrier(name, linkUp(l.Attrs()))
		}
	}
}

// linkUp reports whether a link can carry frames: administratively up and
// with lower-layer carrier.
func linkUp(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
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
