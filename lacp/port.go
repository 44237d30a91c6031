package lacp

import "time"

// rxState is the state of the receive machine (802.1AX-2008 5.4.12).
// INITIALIZE is transient (newPort) and LACP_DISABLED unused: every member
// of a LACP port-channel runs LACP.
type rxState uint8

const (
	rxPortDisabled rxState = iota
	rxExpired
	rxDefaulted
	rxCurrent
)

func (s rxState) String() string {
	return [...]string{"PORT_DISABLED", "EXPIRED", "DEFAULTED", "CURRENT"}[s]
}

// periodicState is the state of the periodic transmission machine (5.4.13).
// PERIODIC_TX is transient.
type periodicState uint8

const (
	noPeriodic periodicState = iota
	fastPeriodic
	slowPeriodic
)

// selection is the Selected variable (5.4.8).
type selection uint8

const (
	unselected selection = iota
	selected
	standby
)

func (s selection) String() string {
	return [...]string{"UNSELECTED", "SELECTED", "STANDBY"}[s]
}

// churnState is the state of a churn detection machine (5.4.17).
type churnState uint8

const (
	churnMonitor churnState = iota
	noChurn
	churned
)

// port is one member port and its machines. Every field is guarded by the
// Aggregator's mutex. A zero deadline is a stopped timer.
type port struct {
	cfg PortConfig

	enabled  bool // port_enabled: carrier up
	rx       rxState
	mux      muxState
	selected selection
	periodic periodicState
	ntt      bool
	readyN   bool // wait_while expired while waiting
	// resumed: started from a checkpoint, the partner's first LACPDU
	// still to be judged (checkResume).
	resumed bool
	// awaitCarrier: started up from a checkpoint, transmission held
	// until SetCarrier confirms the carrier (the socket may not be open).
	awaitCarrier bool

	actorState State
	partner    Info // Partner_Oper_*
	// lastPartner is the last system heard from, surviving timeouts, to
	// tell a new partner from a returning one.
	lastPartner SystemID

	actorChurn, partnerChurn churnState

	currentWhile, periodicAt, waitWhile  time.Time
	actorChurnAt, partnerChurnAt, txHold time.Time
	txTimes                              [txLimit]time.Time // ring of the last sends
	txNext                               int

	lastPDU  time.Time
	why      reason
	whyText  string
	state    PortState // as last reported
	reported reason    // as last reported
	counters Counters
}

func newPort(pc PortConfig, a *Aggregator) *port {
	p := &port{cfg: pc}
	p.actorState = StateAggregation.
		with(StateActivity, a.cfg.Mode == ModeActive).
		with(StateTimeout, a.cfg.Rate == RateFast)
	// INITIALIZE: Selected = UNSELECTED, recordDefault, Expired = FALSE.
	a.recordDefault(p)
	p.state = PortDown
	p.why, p.reported = reasonDown, reasonDown
	p.whyText = "carrier down"
	return p
}

func (p *port) deadlines() [6]time.Time {
	return [...]time.Time{p.currentWhile, p.periodicAt, p.waitWhile, p.actorChurnAt, p.partnerChurnAt, p.txHold}
}

func (a *Aggregator) actorInfo(p *port) Info {
	return Info{
		System: a.cfg.System,
		Key:    p.cfg.Key,
		Port:   PortID{Priority: p.cfg.Priority, Number: p.cfg.Number},
		State:  p.actorState,
	}
}

// recordDefault sets the partner information to the administrative default.
func (a *Aggregator) recordDefault(p *port) {
	p.partner = Info{}
	if a.cfg.PartnerAdmin != nil {
		p.partner = *a.cfg.PartnerAdmin
	}
	p.actorState |= StateDefaulted
}

func (a *Aggregator) enable(p *port, now time.Time) {
	p.enabled = true
	a.enterExpired(p, now)
	// Announce ourselves at once rather than at the first periodic tick;
	// the periodic machine discards this for a passive port.
	p.ntt = true
}

func (a *Aggregator) disable(p *port) {
	p.enabled = false
	p.resumed, p.awaitCarrier = false, false
	p.rx = rxPortDisabled
	p.partner.State &^= StateSynchronization
	p.currentWhile = time.Time{}
}

// enterExpired is the EXPIRED state: the partner gets a short timeout to
// speak up before the port falls back to the defaults.
func (a *Aggregator) enterExpired(p *port, now time.Time) {
	p.rx = rxExpired
	p.partner.State = p.partner.State&^StateSynchronization | StateTimeout
	p.currentWhile = now.Add(ShortTimeoutTime)
	p.actorState |= StateExpired
}

// rxPDU is the CURRENT state entered on a received LACPDU: update_Selected,
// update_NTT, recordPDU and a restarted current_while timer.
func (a *Aggregator) rxPDU(p *port, pdu PDU, now time.Time) {
	old := p.partner
	if old.Port != pdu.Actor.Port || old.System != pdu.Actor.System || old.Key != pdu.Actor.Key ||
		old.State.Has(StateAggregation) != pdu.Actor.State.Has(StateAggregation) {
		p.selected = unselected
	}
	if p.lastPartner != pdu.Actor.System {
		if p.lastPartner != (SystemID{}) {
			a.event(now, EventPartnerChanged, p.cfg.Name, "partner system %s replaces %s", pdu.Actor.System, p.lastPartner)
		}
		p.lastPartner = pdu.Actor.System
	}

	const compared = StateActivity | StateTimeout | StateSynchronization | StateAggregation
	actor := a.actorInfo(p)
	if pdu.Partner.Port != actor.Port || pdu.Partner.System != actor.System || pdu.Partner.Key != actor.Key ||
		pdu.Partner.State&compared != actor.State&compared {
		p.ntt = true
	}

	// recordPDU: the partner is in sync if it says so, is actively
	// maintained by one side, and has our information right (or is
	// Individual, when there is nothing to get right).
	p.partner = pdu.Actor
	matches := pdu.Partner.Port == actor.Port && pdu.Partner.System == actor.System &&
		pdu.Partner.Key == actor.Key &&
		pdu.Partner.State.Has(StateAggregation) == actor.State.Has(StateAggregation)
	sync := pdu.Actor.State.Has(StateSynchronization) &&
		(pdu.Actor.State.Has(StateActivity) || actor.State.Has(StateActivity)) &&
		(matches || !pdu.Actor.State.Has(StateAggregation))
	p.partner.State = p.partner.State.with(StateSynchronization, sync)
	p.actorState &^= StateDefaulted | StateExpired

	p.rx = rxCurrent
	p.currentWhile = now.Add(a.currentWhileTime(p))
	if p.resumed {
		a.checkResume(p, old, now)
	}
}

// currentWhileTime is how long p waits for its partner's next LACPDU: the
// timeout p asks of its partner.
func (a *Aggregator) currentWhileTime(p *port) time.Duration {
	if p.actorState.Has(StateTimeout) {
		return ShortTimeoutTime
	}
	return LongTimeoutTime
}

// expire runs the timers of p that are due at now.
func (a *Aggregator) expire(p *port, now time.Time) {
	due := func(t *time.Time) bool {
		if t.IsZero() || now.Before(*t) {
			return false
		}
		*t = time.Time{}
		return true
	}
	if due(&p.currentWhile) {
		switch p.rx {
		case rxCurrent:
			p.resumed = false
			a.event(now, EventPartnerTimeout, p.cfg.Name, "no LACPDU from %s for %v", p.partner.System, now.Sub(p.lastPDU).Round(time.Millisecond))
			a.enterExpired(p, now)
		case rxExpired:
			// DEFAULTED: update_Default_Selected, recordDefault.
			prev := p.partner
			a.recordDefault(p)
			if prev.System != p.partner.System || prev.Key != p.partner.Key || prev.Port != p.partner.Port ||
				prev.State.Has(StateAggregation) != p.partner.State.Has(StateAggregation) {
				p.selected = unselected
			}
			p.rx = rxDefaulted
			p.actorState &^= StateExpired
			a.event(now, EventPartnerDefaulted, p.cfg.Name, "no partner: using the administrative defaults")
		}
	}
	if due(&p.waitWhile) {
		p.readyN = true
	}
	if due(&p.periodicAt) {
		// PERIODIC_TX; periodicStep re-arms the timer.
		p.ntt = true
	}
	if due(&p.actorChurnAt) && p.actorChurn == churnMonitor {
		p.actorChurn = churned
		a.event(now, EventActorChurn, p.cfg.Name, "actor out of sync for %v", a.cfg.ChurnDetection)
	}
	if due(&p.partnerChurnAt) && p.partnerChurn == churnMonitor {
		p.partnerChurn = churned
		a.event(now, EventPartnerChurn, p.cfg.Name, "partner out of sync for %v", a.cfg.ChurnDetection)
	}
	due(&p.txHold)
}

// periodicStep is the periodic transmission machine: no PDUs while the port
// is down or both ends are passive; otherwise at the rate the partner asks
// for.
func (a *Aggregator) periodicStep(p *port, now time.Time) {
	if !p.enabled || (!p.actorState.Has(StateActivity) && !p.partner.State.Has(StateActivity)) {
		p.periodic = noPeriodic
		p.periodicAt = time.Time{}
		p.ntt = false
		return
	}
	want := slowPeriodic
	if p.partner.State.Has(StateTimeout) {
		want = fastPeriodic
	}
	switch {
	case p.periodic == noPeriodic:
		p.periodic = fastPeriodic
		p.periodicAt = now.Add(FastPeriodicTime)
		if want == slowPeriodic {
			p.periodic = slowPeriodic
			p.periodicAt = now.Add(SlowPeriodicTime)
		}
	case p.periodic == fastPeriodic && want == slowPeriodic:
		p.periodic = slowPeriodic
		p.periodicAt = now.Add(SlowPeriodicTime)
	case p.periodic == slowPeriodic && want == fastPeriodic:
		// The partner wants to hear from us sooner than planned.
		p.ntt = true
		p.periodic = fastPeriodic
		p.periodicAt = now.Add(FastPeriodicTime)
	case p.periodicAt.IsZero():
		p.periodic = want
		p.periodicAt = now.Add(FastPeriodicTime)
		if want == slowPeriodic {
			p.periodicAt = now.Add(SlowPeriodicTime)
		}
	}
}

// churnStep is the actor and partner churn detection machines: churn is a
// port staying out of sync for the churn detection time.
func (a *Aggregator) churnStep(p *port, now time.Time) {
	step := func(state *churnState, at *time.Time, inSync bool) {
		switch {
		case !p.enabled:
			*state, *at = churnMonitor, time.Time{}
		case inSync:
			*state, *at = noChurn, time.Time{}
		case *state == noChurn || (*state == churnMonitor && at.IsZero()):
			*state, *at = churnMonitor, now.Add(a.cfg.ChurnDetection)
		}
	}
	step(&p.actorChurn, &p.actorChurnAt, p.actorState.Has(StateSynchronization))
	step(&p.partnerChurn, &p.partnerChurnAt, p.partner.State.Has(StateSynchronization))
}

// transmitStep is the transmit machine: a LACPDU when NTT is set, at most
// txLimit per FastPeriodicTime.
func (a *Aggregator) transmitStep(p *port, now time.Time) {
	if !p.ntt || p.periodic == noPeriodic || p.awaitCarrier {
		return
	}
	if oldest := p.txTimes[p.txNext]; !oldest.IsZero() && now.Sub(oldest) < FastPeriodicTime {
		p.txHold = oldest.Add(FastPeriodicTime)
		return
	}
	pdu := PDU{Version: Version, Actor: a.actorInfo(p), Partner: p.partner}
	a.outbox = append(a.outbox, output{kind: outTransmit, port: p.cfg.Name, payload: pdu.Marshal()})
	p.ntt = false
	p.txHold = time.Time{}
	p.txTimes[p.txNext] = now
	p.txNext = (p.txNext + 1) % txLimit
}
