package portchannel

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/spec"
)

// Channel is one port-channel: it turns member carrier (static,
// mac-pinning) or the LACP negotiation (LACP modes) and the vEth list into
// the State the datapath needs, and reports each change through OnChange.
type Channel struct {
	// Fixed by New.
	name     string
	mode     spec.ChannelMode
	clock    clock.Clock
	log      *zap.Logger
	netNS    string
	links    Links
	onChange func(State)
	onEvent  func(Event)
	runner   *lacp.Runner // LACP modes only
	started  atomic.Bool
	// relist asks Run's carrier watcher to poll the members again, and
	// report the current state of those Reconfigure added; it holds at
	// most one request.
	relist chan struct{}

	mu sync.Mutex
	// stopped reports whether Run's context has ended (nil before Run).
	// LACP updates are ignored from then on, so the datapath keeps the
	// last State whatever the Runner reports while it stops (the lacp of
	// commit 30ec263 took every member down as it closed its sockets).
	stopped func() bool
	cfg     Config
	carrier map[string]bool   // static, mac-pinning: members with carrier
	bundled []string          // LACP modes: the aggregator's members
	vEths   []string          // in the caller's order
	pins    map[string]string // mac-pinning: vEth to member, even while down
	up      bool
	state   State
	// outbox holds the callbacks made by changes, delivered in order
	// outside mu by whoever is delivering; see unlockAndDeliver.
	outbox     []output
	delivering bool
}

// output is one deferred OnChange (state set) or OnEvent call.
type output struct {
	state *State
	event Event
}

// New validates cfg and returns its Channel. Nothing qualifies until
// carrier is reported (SetCarrier or Run), so the first State is empty; in
// LACP modes nothing is negotiated before Run.
func New(cfg Config) (*Channel, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	c := &Channel{
		name:     cfg.Name,
		mode:     cfg.Mode,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		netNS:    cfg.NetNS,
		links:    cfg.Links,
		onChange: cfg.OnChange,
		onEvent:  cfg.OnEvent,
		relist:   make(chan struct{}, 1),
		cfg:      cfg,
		carrier:  make(map[string]bool, len(cfg.Members)),
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.mode == spec.ModeMACPinning {
		c.pins = map[string]string{}
		c.state.Pins = map[string]string{}
	}
	if isLACP(c.mode) {
		lc := cfg.lacpConfig()
		lc.OnMembers = c.setBundled
		lc.OnEvent = c.lacpEvent
		r, err := lacp.NewRunner(lc, lacp.RunnerOptions{Logger: cfg.Logger, NetNS: cfg.NetNS, Links: cfg.Links})
		if err != nil {
			return nil, fmt.Errorf("portchannel %q: %w", cfg.Name, err)
		}
		c.runner = r
	}
	return c, nil
}

// clone copies what the caller could otherwise change under the Channel.
func (c Config) clone() Config {
	c.Members = slices.Clone(c.Members)
	c.PortNumbers = maps.Clone(c.PortNumbers)
	return c
}

// SetCarrier reports a member's link state; Run calls it from the link
// watcher, so the agent need not. A name that is not a member is ignored.
// In LACP modes it is handed to the aggregator, whose Runner (Run) also
// tracks carrier itself.
func (c *Channel) SetCarrier(member string, up bool) {
	if c.runner != nil {
		err := c.runner.Aggregator().SetCarrier(member, up)
		if err != nil && !errors.Is(err, lacp.ErrClosed) {
			c.log.Debug("carrier of a non-member ignored", zap.String("member", member), zap.Error(err))
		}
		return
	}
	c.mu.Lock()
	if c.priority(member) < 0 || c.carrier[member] == up {
		c.mu.Unlock()
		return
	}
	c.carrier[member] = up
	kind, msg := EventMemberDown, "link down"
	if up {
		kind, msg = EventMemberUp, "link up"
	}
	c.event(Event{Kind: kind, Member: member, Message: msg})
	c.update()
	c.unlockAndDeliver()
}

// SetVEths sets the vEths to pin in mac-pinning mode, in a stable order
// (the agent's slot order): a fresh assignment shares them round-robin in
// this order. Repeated names count once. Other modes ignore the list.
func (c *Channel) SetVEths(names []string) {
	var list []string
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			list = append(list, n)
		}
	}
	c.mu.Lock()
	c.vEths = list
	c.update()
	c.unlockAndDeliver()
}

// State returns the current state.
func (c *Channel) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.clone()
}

// setBundled receives the LACP aggregator's members.
func (c *Channel) setBundled(members []string) {
	c.mu.Lock()
	if c.stopped != nil && c.stopped() {
		c.mu.Unlock()
		return
	}
	c.bundled = slices.Clone(members)
	c.update()
	c.unlockAndDeliver()
}

// lacpEvent passes a protocol event on. Aggregate up and down are dropped:
// the Channel reports the same transitions as channel up and down. So are
// the events of the Runner's shutdown.
func (c *Channel) lacpEvent(e lacp.Event) {
	if e.Kind == lacp.EventAggregateUp || e.Kind == lacp.EventAggregateDown {
		return
	}
	c.mu.Lock()
	if c.stopped != nil && c.stopped() {
		c.mu.Unlock()
		return
	}
	c.outbox = append(c.outbox, output{event: fromLACP(e)})
	c.unlockAndDeliver()
}

// priority returns a member's priority, or -1 if name is not a member.
// c.mu is held.
func (c *Channel) priority(name string) int {
	for _, m := range c.cfg.Members {
		if m.Name == name {
			return m.Priority
		}
	}
	return -1
}

// qualifying returns the members that would collect and distribute, in
// configuration order, ignoring MinLinks. c.mu is held.
func (c *Channel) qualifying() []string {
	if isLACP(c.mode) {
		return slices.Clone(c.bundled)
	}
	var q []string
	for _, m := range c.cfg.Members {
		if c.carrier[m.Name] {
			q = append(q, m.Name)
		}
	}
	return q
}

// update recomputes the pins and the state after an input, queueing the
// events and the OnChange call of what changed. c.mu is held.
func (c *Channel) update() {
	if c.mode == spec.ModeMACPinning {
		c.repin()
	}
	q := c.qualifying()
	minLinks := c.cfg.minLinks()
	up := len(q) >= minLinks
	if up != c.up {
		c.up = up
		if up {
			c.event(Event{Kind: EventChannelUp, Message: fmt.Sprintf("%d members up (min-links %d)", len(q), minLinks)})
		} else {
			c.event(Event{Kind: EventChannelDown, Message: fmt.Sprintf("%d members up, fewer than min-links %d", len(q), minLinks)})
		}
	}
	var st State
	if up {
		st.Distributing, st.Collecting = q, slices.Clone(q)
	}
	if c.mode == spec.ModeMACPinning {
		st.Pins = map[string]string{}
		if up {
			maps.Copy(st.Pins, c.pins)
		}
	}
	if st.Equal(c.state) {
		return
	}
	c.state = st
	out := st.clone()
	c.outbox = append(c.outbox, output{state: &out})
}

// repin recomputes the mac-pinning pins, queueing an event per moved vEth.
// c.mu is held.
func (c *Channel) repin() {
	cands := make([]candidate, len(c.cfg.Members))
	for i, m := range c.cfg.Members {
		cands[i] = candidate{name: m.Name, priority: m.Priority, up: c.carrier[m.Name]}
	}
	pins := pin(cands, c.vEths, c.pins, c.cfg.AutoPriorityFailover)
	for _, v := range c.vEths {
		from, to := c.pins[v], pins[v]
		if from == to {
			continue
		}
		e := Event{Kind: EventPinMoved, Member: to, VEth: v, From: from, To: to}
		switch {
		case from == "":
			e.Message = fmt.Sprintf("vEth %s pinned to %s", v, to)
		case to == "":
			e.Member = from
			e.Message = fmt.Sprintf("vEth %s unpinned from %s: no operational member", v, from)
		default:
			e.Message = fmt.Sprintf("vEth %s moved from %s to %s", v, from, to)
		}
		c.event(e)
	}
	c.pins = pins
}

// event queues e, stamped with the time and the port-channel. c.mu is held.
func (c *Channel) event(e Event) {
	e.Time = c.clock.Now()
	e.PortChannel = c.name
	c.outbox = append(c.outbox, output{event: e})
}

// unlockAndDeliver releases c.mu and makes the queued callbacks, unless
// another goroutine is delivering already: that one then delivers these
// too, so callbacks keep their order, never overlap, and may call back into
// the Channel.
func (c *Channel) unlockAndDeliver() {
	if c.delivering {
		c.mu.Unlock()
		return
	}
	c.delivering = true
	for len(c.outbox) > 0 {
		batch := c.outbox
		c.outbox = nil
		c.mu.Unlock()
		for _, o := range batch {
			switch {
			case o.state != nil && c.onChange != nil:
				c.onChange(*o.state)
			case o.state == nil && c.onEvent != nil:
				c.onEvent(o.event)
			}
		}
		c.mu.Lock()
	}
	c.delivering = false
	c.mu.Unlock()
}
