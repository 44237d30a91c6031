package portchannel

import (
	"errors"
	"fmt"
	"slices"
)

// ErrRecreate is returned, wrapped, by Reconfigure for a change it cannot
// apply to a running Channel: the agent stops it and starts a new one.
var ErrRecreate = errors.New("change needs a new Channel")

// Reconfigure applies a changed configuration without interrupting what
// still holds.
//
// Static and mac-pinning modes apply new, removed or reordered members,
// priorities, MinLinks and AutoPriorityFailover at once: pins move as the
// new configuration demands (with auto on, vEths fail back to a better
// member that was added or got a better priority), the carrier of kept
// members is kept, and Run's watcher reads the carrier of added ones.
//
// LACP modes cannot change the protocol's configuration in place (the
// lacp package has no such call), so any change of members, priorities,
// rate, MinLinks or identity returns ErrRecreate; an unchanged one returns
// nil. So does, in every mode, a change of Name, Mode or NetNS.
//
// Clock, Logger, Links, OnChange and OnEvent of cfg are ignored: those of
// New stay.
func (c *Channel) Reconfigure(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg = cfg.clone()
	c.mu.Lock()
	var why string
	switch {
	case cfg.Name != c.name:
		why = fmt.Sprintf("name changed to %q", cfg.Name)
	case cfg.Mode != c.mode:
		why = fmt.Sprintf("mode changed from %s to %s", c.mode, cfg.Mode)
	case cfg.NetNS != c.netNS:
		why = "network namespace changed"
	case isLACP(c.mode) && !c.cfg.sameLACP(&cfg):
		why = "LACP configuration changed"
	}
	if why != "" {
		c.mu.Unlock()
		return fmt.Errorf("portchannel %q: %s: %w", c.name, why, ErrRecreate)
	}
	if isLACP(c.mode) {
		c.mu.Unlock()
		return nil
	}
	added := false
	for _, m := range cfg.Members {
		if c.priority(m.Name) < 0 {
			added = true
		}
	}
	c.cfg.Members = cfg.Members
	c.cfg.MinLinks = cfg.MinLinks
	c.cfg.AutoPriorityFailover = cfg.AutoPriorityFailover
	for name := range c.carrier {
		if !slices.ContainsFunc(cfg.Members, func(m Member) bool { return m.Name == name }) {
			delete(c.carrier, name)
		}
	}
	c.update()
	c.unlockAndDeliver()
	if added {
		select {
		case c.relist <- struct{}{}:
		default: // a request is pending already
		}
	}
	return nil
}
