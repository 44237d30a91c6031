package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vem-switch/vem/test/topo"
)

// linkWatch records when the link updates (RTM_NEWLINK) of one interface
// reach a listener in its namespace: what vem-agent's LACP runner hears
// of a member, at the same moment. It separates, in a failover, the
// kernel's announcement of the change from the agent's reaction to it.
type linkWatch struct {
	name string
	stop chan struct{}

	mu     sync.Mutex
	events []linkEvent
}

// linkEvent is one update: when it arrived and whether the interface was
// then administratively up and had carrier.
type linkEvent struct {
	at          time.Time
	up, lowerUp bool
}

// watchLink subscribes to the link updates of ifname in ns.
func watchLink(ns *topo.NS, ifname string) (*linkWatch, error) {
	nsh, err := netns.GetFromPath(ns.Path())
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer nsh.Close() // the subscription's socket keeps the namespace
	updates := make(chan netlink.LinkUpdate, 64)
	w := &linkWatch{name: ifname, stop: make(chan struct{})}
	if err := netlink.LinkSubscribeWithOptions(updates, w.stop, netlink.LinkSubscribeOptions{Namespace: &nsh}); err != nil {
		return nil, fmt.Errorf("link updates in %s: %w", ns, err)
	}
	go func() {
		// The subscription closes updates once stop is closed.
		for u := range updates {
			if u.Link == nil || u.Link.Attrs().Name != ifname {
				continue
			}
			e := linkEvent{at: time.Now(), up: u.IfInfomsg.Flags&unix.IFF_UP != 0,
				lowerUp: u.IfInfomsg.Flags&unix.IFF_LOWER_UP != 0}
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// downAfter returns how long after t the first update arrived that showed
// the interface down or without carrier.
func (w *linkWatch) downAfter(t time.Time) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if !e.at.Before(t) && !(e.up && e.lowerUp) {
			return e.at.Sub(t), true
		}
	}
	return 0, false
}

// close ends the subscription: closing stop closes its socket, its
// receive loop closes updates, and the reader above returns.
func (w *linkWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}
