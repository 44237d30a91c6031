package lacp

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vem-switch/vem/internal/clock"
)

// ErrClosed is returned by the inputs of a closed Aggregator.
var ErrClosed = errors.New("lacp: aggregator closed")

// maxSettle bounds the rounds of mux and selection evaluation after one
// input; the machines settle in three or four.
const maxSettle = 16

// Aggregator runs LACP for one port-channel: the receive, periodic
// transmission, mux (coupled control), churn detection and transmit machines
// of every member port, and the selection logic that decides which members
// aggregate.
//
// Inputs are Receive or HandlePDU (a PDU arrived), SetCarrier (a member's
// link changed) and the timers of the Clock. Outputs are Transmitter calls,
// OnMembers (the collecting/distributing set the datapath uses) and OnEvent.
//
// An Aggregator is safe for concurrent use: a mutex serialises the inputs and
// Status. Outputs are made without that mutex held, one at a time and in the
// order they were produced, by whichever goroutine is delivering at the time
// (so an input may return before its outputs are delivered by another
// goroutine). Outputs may call back into the Aggregator: a Transmitter may
// hand the PDU synchronously to another Aggregator that answers at once.
type Aggregator struct {
	cfg   Config
	clock clock.Clock

	mu      sync.Mutex
	closed  bool
	ports   []*port
	byName  map[string]*port
	lag     lagID // partner of the aggregate; zero when none
	members []string
	up      bool
	saved   Checkpoint // as last reported to OnCheckpoint

	timer    clock.Timer
	timerAt  time.Time
	timerGen uint64

	outbox     []output
	delivering bool
}

// output is one deferred call to the Transmitter, OnMembers or OnEvent.
type output struct {
	kind    outputKind
	port    string
	payload []byte
	marker  bool // payload is a Marker Response, not a LACPDU
	members []string
	event   Event
	cp      Checkpoint
}

type outputKind uint8

const (
	outTransmit outputKind = iota
	outMembers
	outEvent
	outCheckpoint
)

// NewAggregator returns the Aggregator of cfg with every port's carrier
// down; call SetCarrier as links come up. With cfg.Resume, the ports it
// resumes count as up instead, and NewAggregator reports them through
// OnMembers (and its events through OnEvent) before it returns; see
// Checkpoint.
func NewAggregator(cfg Config) (*Aggregator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Aggregator{
		cfg:    cfg,
		clock:  cfg.Clock,
		byName: make(map[string]*port, len(cfg.Ports)),
	}
	for _, pc := range cfg.Ports {
		p := newPort(pc, a)
		a.ports = append(a.ports, p)
		a.byName[pc.Name] = p
	}
	now := a.clock.Now()
	a.saved = a.checkpoint(now)
	if cfg.Resume != nil {
		a.mu.Lock()
		a.resume(cfg.Resume, now)
		a.settle(now)
		a.unlockAndDeliver()
	}
	return a, nil
}

// Name returns the port-channel name of the configuration.
func (a *Aggregator) Name() string { return a.cfg.Name }

// Receive handles a slow-protocol payload (the Ethernet payload, starting at
// the subtype) received on port: a LACPDU is decoded and handled, a Marker
// Information PDU answered, other subtypes ignored. A malformed PDU is counted
// and its *FormatError returned. Receive does not retain payload.
func (a *Aggregator) Receive(port string, payload []byte) error {
	a.mu.Lock()
	p, err := a.lookup(port)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	now := a.clock.Now()
	switch {
	case len(payload) > 0 && payload[0] == SubtypeLACP:
		pdu, perr := Unmarshal(payload)
		if perr != nil {
			p.counters.MalformedRx++
			err = fmt.Errorf("port %s: %w", port, perr)
			break
		}
		a.handlePDU(p, pdu, now)
	case len(payload) > 0 && payload[0] == SubtypeMarker:
		p.counters.MarkerRx++
		m, merr := UnmarshalMarker(payload)
		if merr != nil {
			p.counters.MalformedRx++
			err = fmt.Errorf("port %s: %w", port, merr)
			break
		}
		if !m.Response && p.enabled {
			m.Response = true
			a.outbox = append(a.outbox, output{kind: outTransmit, port: p.cfg.Name, payload: m.Marshal(), marker: true})
		}
	case len(payload) == 0:
		p.counters.MalformedRx++
		err = fmt.Errorf("port %s: %w", port, truncated("subtype", 0, 1))
	}
	a.unlockAndDeliver()
	return err
}

// HandlePDU handles a decoded LACPDU received on port.
func (a *Aggregator) HandlePDU(port string, pdu PDU) error {
	a.mu.Lock()
	p, err := a.lookup(port)
	if err == nil {
		a.handlePDU(p, pdu, a.clock.Now())
	}
	a.unlockAndDeliver()
	return err
}

func (a *Aggregator) handlePDU(p *port, pdu PDU, now time.Time) {
	p.counters.PDUsRx++
	p.lastPDU = now
	if !p.enabled {
		// A frame that raced with the carrier going down.
		return
	}
	a.rxPDU(p, pdu, now)
	a.settle(now)
}

// SetCarrier reports a member's link state. Losing carrier takes the port out
// of the aggregate at once, without waiting for the partner to time out.
// For a port resumed from a checkpoint, which starts up, the first
// SetCarrier(port, true) confirms the carrier and sends its first LACPDU.
func (a *Aggregator) SetCarrier(port string, up bool) error {
	a.mu.Lock()
	p, err := a.lookup(port)
	if err == nil && (p.enabled != up || (up && p.awaitCarrier)) {
		now := a.clock.Now()
		switch {
		case up && p.enabled:
			p.awaitCarrier = false
			p.ntt = true
		case up:
			a.enable(p, now)
		default:
			a.disable(p)
		}
		a.settle(now)
	}
	a.unlockAndDeliver()
	return err
}

// Members returns the ports the datapath may use: those collecting and
// distributing, or none while fewer than MinLinks are.
func (a *Aggregator) Members() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.members)
}

// Close stops the timers; further inputs return ErrClosed. It does not
// report the members as gone: the datapath keeps its last set, so that an
// agent restart does not interrupt forwarding.
func (a *Aggregator) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

func (a *Aggregator) lookup(name string) (*port, error) {
	if a.closed {
		return nil, ErrClosed
	}
	p, ok := a.byName[name]
	if !ok {
		return nil, fmt.Errorf("lacp: port-channel %q: no member port %q", a.cfg.Name, name)
	}
	return p, nil
}

// settle runs the machines to a fixed point after an input at now, then
// transmits what needs transmitting, reports changes and re-arms the timer.
func (a *Aggregator) settle(now time.Time) {
	for range maxSettle {
		changed := false
		for _, p := range a.ports {
			if a.muxStep(p, now) {
				changed = true
			}
		}
		if a.selectPorts(now) {
			changed = true
		}
		if !changed {
			break
		}
	}
	for _, p := range a.ports {
		a.periodicStep(p, now)
		a.churnStep(p, now)
		a.transmitStep(p, now)
	}
	a.report(now)
	a.reschedule(now)
}

// reschedule arms the clock for the earliest deadline of any port.
func (a *Aggregator) reschedule(now time.Time) {
	var next time.Time
	for _, p := range a.ports {
		for _, d := range p.deadlines() {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	if a.timer != nil && a.timerAt.Equal(next) {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.timerAt = next
	if next.IsZero() {
		return
	}
	a.timerGen++
	gen := a.timerGen
	a.timer = a.clock.AfterFunc(max(next.Sub(now), 0), func() { a.onTimer(gen) })
}

func (a *Aggregator) onTimer(gen uint64) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if gen == a.timerGen {
		a.timer = nil
		a.timerAt = time.Time{}
	}
	now := a.clock.Now()
	for _, p := range a.ports {
		a.expire(p, now)
	}
	a.settle(now)
	a.unlockAndDeliver()
}

// report computes the datapath member set and the per-port states after a
// change, queueing OnMembers and events for what differs.
func (a *Aggregator) report(now time.Time) {
	var members []string
	for _, p := range a.ports {
		a.reportPort(p, now)
		if p.mux == muxCollDist {
			members = append(members, p.cfg.Name)
		}
	}
	up := len(members) >= a.cfg.MinLinks
	if !up {
		members = nil
	}
	if up != a.up {
		a.up = up
		if up {
			a.event(now, EventAggregateUp, "", "%d members collecting/distributing (min-links %d)", len(members), a.cfg.MinLinks)
		} else {
			a.event(now, EventAggregateDown, "", "fewer than min-links %d members collecting/distributing", a.cfg.MinLinks)
		}
	}
	if !slices.Equal(members, a.members) {
		a.members = members
		a.outbox = append(a.outbox, output{kind: outMembers, members: slices.Clone(members)})
	}
	if cp := a.checkpoint(now); !cp.sameState(a.saved) {
		a.saved = cp
		out := cp
		out.Ports = slices.Clone(cp.Ports) // the callee's to keep
		a.outbox = append(a.outbox, output{kind: outCheckpoint, cp: out})
	}
}

func (a *Aggregator) event(now time.Time, kind EventKind, port, format string, args ...any) {
	a.outbox = append(a.outbox, output{kind: outEvent, event: Event{
		Time:        now,
		Kind:        kind,
		PortChannel: a.cfg.Name,
		Port:        port,
		Message:     fmt.Sprintf(format, args...),
	}})
}

// unlockAndDeliver releases a.mu and delivers the queued outputs, unless
// another call is delivering already: that one then delivers these too, so
// that outputs keep their order and callbacks may re-enter the Aggregator.
func (a *Aggregator) unlockAndDeliver() {
	if a.delivering {
		a.mu.Unlock()
		return
	}
	a.delivering = true
	for len(a.outbox) > 0 {
		batch := a.outbox
		a.outbox = nil
		a.mu.Unlock()
		errs := a.deliver(batch)
		a.mu.Lock()
		for i, o := range batch {
			if o.kind != outTransmit {
				continue
			}
			c := &a.byName[o.port].counters
			switch {
			case errs[i] != nil:
				c.TxErrors++
			case o.marker:
				c.MarkerTx++
			default:
				c.PDUsTx++
			}
		}
	}
	a.delivering = false
	a.mu.Unlock()
}

func (a *Aggregator) deliver(batch []output) []error {
	errs := make([]error, len(batch))
	for i, o := range batch {
		switch o.kind {
		case outTransmit:
			errs[i] = a.cfg.Transmitter.Transmit(o.port, o.payload)
		case outMembers:
			if a.cfg.OnMembers != nil {
				a.cfg.OnMembers(o.members)
			}
		case outEvent:
			if a.cfg.OnEvent != nil {
				a.cfg.OnEvent(o.event)
			}
		case outCheckpoint:
			if a.cfg.OnCheckpoint != nil {
				a.cfg.OnCheckpoint(o.cp)
			}
		}
	}
	return errs
}
