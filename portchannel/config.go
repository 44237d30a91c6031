package portchannel

import (
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/spec"
)

// Member is a physical interface of a port-channel.
type Member struct {
	// Name is the interface name.
	Name string
	// Priority is the failover priority (mac-pinning) or the LACP port
	// priority (LACP modes), 0..65535; lower is better. Static mode
	// ignores it.
	Priority int
}

// Config describes one port-channel.
type Config struct {
	// Name names the port-channel in events and status.
	Name string
	// Mode is spec.ModeLACPActive, spec.ModeLACPPassive,
	// spec.ModeStatic or spec.ModeMACPinning.
	Mode spec.ChannelMode
	// Rate is "fast" (the default) or "slow" in LACP modes; other modes
	// ignore it.
	Rate spec.Rate
	// Members are the 1..16 member interfaces, in configuration order,
	// which is the order of State.Distributing and State.Collecting.
	Members []Member
	// MinLinks is the fewest qualifying members for the channel to be up;
	// below it State is empty. 0 means 1. At most the number of members,
	// and in LACP modes at most lacp.MaxActiveLinks, since no more can
	// ever be bundled.
	MinLinks int
	// AutoPriorityFailover (mac-pinning) keeps the vEths on the
	// best-priority operational members at all times: they fail back as
	// soon as a better member recovers, is added or gets a better
	// priority, and are kept balanced over the members sharing the best
	// priority. Off, a vEth stays on its member until that member fails
	// (or leaves the configuration); new and displaced vEths still go to
	// the least loaded best-priority operational member. Other modes
	// ignore it.
	AutoPriorityFailover bool

	// System, Key and PortNumbers are the LACP actor identity (LACP modes
	// only). The caller persists them so that they survive agent
	// restarts, upgrades and failovers; a change makes the partner see a
	// new system and the bundle collapses. PortNumbers needs a non-zero,
	// unique number for every member.
	System      lacp.SystemID
	Key         uint16
	PortNumbers map[string]uint16

	// NetNS is the path of the network namespace the members are in (e.g.
	// /run/netns/x); empty means the agent's own. (Without Links, static
	// and mac-pinning modes then watch the namespace of the thread that
	// calls Run, which is the same unless the caller moved its thread.)
	NetNS string
	// Links, if set, is the shared link watcher of the members' namespace
	// (a *linkwatch.Watcher the caller runs): Run subscribes to it and has
	// it poll the members' carrier. Nil makes Run start a private one.
	Links Links
	// Logger receives socket and link-watch trouble; nil discards.
	// Changes and protocol events are reported through OnChange and
	// OnEvent only, for the caller to log.
	Logger *zap.Logger
	// Clock is the time source; nil means clock.System().
	Clock clock.Clock
	// OnChange, if set, is called with the new State whenever it changes.
	OnChange func(State)
	// OnEvent, if set, is called with member, pinning, channel and LACP
	// events, for logging.
	OnEvent func(Event)

	// Resume (LACP modes) restarts the protocol from a checkpoint an
	// earlier agent took, so the partner keeps the bundle across an agent
	// restart (lacp.Config.Resume).
	Resume *lacp.Checkpoint
	// OnCheckpoint (LACP modes) receives the protocol's checkpoint when it
	// changes, for the caller to persist.
	OnCheckpoint func(lacp.Checkpoint)
}

// isLACP reports whether mode runs the protocol.
func isLACP(mode spec.ChannelMode) bool {
	return mode == spec.ModeLACPActive || mode == spec.ModeLACPPassive
}

// validate reports every problem of c, wrapped with the port-channel name.
func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	switch c.Mode {
	case spec.ModeLACPActive, spec.ModeLACPPassive, spec.ModeStatic, spec.ModeMACPinning:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want one of %s, %s, %s, %s", c.Mode,
			spec.ModeLACPActive, spec.ModeLACPPassive, spec.ModeStatic, spec.ModeMACPinning))
	}
	if n := len(c.Members); n < 1 || n > spec.DefaultLimits.Members {
		errs = append(errs, fmt.Errorf("members: %d, want 1..%d", n, spec.DefaultLimits.Members))
	}
	seen := make(map[string]bool, len(c.Members))
	for i, m := range c.Members {
		switch {
		case m.Name == "":
			errs = append(errs, fmt.Errorf("member %d: name required", i))
		case seen[m.Name]:
			errs = append(errs, fmt.Errorf("member %s: duplicate name", m.Name))
		}
		seen[m.Name] = true
		if m.Priority < 0 || m.Priority > spec.MaxPriority {
			errs = append(errs, fmt.Errorf("member %s: priority %d, want 0..%d", m.Name, m.Priority, spec.MaxPriority))
		}
	}
	maxMin := len(c.Members)
	if isLACP(c.Mode) {
		maxMin = min(maxMin, lacp.MaxActiveLinks)
	}
	if c.MinLinks < 0 || c.MinLinks > maxMin {
		errs = append(errs, fmt.Errorf("min links %d: want 0..%d", c.MinLinks, maxMin))
	}
	if isLACP(c.Mode) {
		if _, err := lacpRate(c.Rate); err != nil {
			errs = append(errs, err)
		}
		for _, m := range c.Members {
			if m.Name != "" && c.PortNumbers[m.Name] == 0 {
				errs = append(errs, fmt.Errorf("member %s: LACP port number required", m.Name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("portchannel %q: %w", c.Name, err)
	}
	return nil
}

// minLinks returns MinLinks with its default applied.
func (c *Config) minLinks() int { return max(c.MinLinks, 1) }

// lacpRate maps the configuration's rate to the protocol's.
func lacpRate(rate spec.Rate) (lacp.Rate, error) {
	switch rate {
	case "", spec.RateFast:
		return lacp.RateFast, nil
	case spec.RateSlow:
		return lacp.RateSlow, nil
	}
	return 0, fmt.Errorf("rate %q: want %s or %s", rate, spec.RateFast, spec.RateSlow)
}

// lacpConfig returns the Aggregator configuration of an LACP-mode c, which
// validate has accepted. Transmitter and callbacks are left to the caller.
func (c *Config) lacpConfig() lacp.Config {
	mode := lacp.ModeActive
	if c.Mode == spec.ModeLACPPassive {
		mode = lacp.ModePassive
	}
	rate, _ := lacpRate(c.Rate)
	lc := lacp.Config{
		Name:     c.Name,
		System:   c.System,
		Key:      c.Key,
		Mode:     mode,
		Rate:     rate,
		MinLinks: c.minLinks(),
		Clock:    c.Clock,

		Resume:       c.Resume,
		OnCheckpoint: c.OnCheckpoint,
	}
	for _, m := range c.Members {
		lc.Ports = append(lc.Ports, lacp.PortConfig{
			Name:     m.Name,
			Number:   c.PortNumbers[m.Name],
			Priority: uint16(m.Priority),
		})
	}
	return lc
}

// sameLACP reports whether c and o give the LACP machinery the same
// configuration, so that it can keep running.
func (c *Config) sameLACP(o *Config) bool {
	if c.Rate != o.Rate && !(isFast(c.Rate) && isFast(o.Rate)) {
		return false
	}
	if c.System != o.System || c.Key != o.Key || c.minLinks() != o.minLinks() ||
		!slices.Equal(c.Members, o.Members) {
		return false
	}
	for _, m := range c.Members {
		if c.PortNumbers[m.Name] != o.PortNumbers[m.Name] {
			return false
		}
	}
	return true
}

func isFast(rate spec.Rate) bool { return rate == "" || rate == spec.RateFast }
