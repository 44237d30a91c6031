package lacp

import (
	"fmt"
	"slices"
	"time"
)

// CheckpointVersion is the Version of the Checkpoints this package writes;
// it resumes only from checkpoints of this version.
const CheckpointVersion = 1

// Checkpoint is the protocol state of a port-channel that a restarted agent
// needs to carry on where its predecessor stopped: the partner each port
// heard and whether the port was aggregated. It is a plain value that
// marshals to JSON and back.
//
// A new Aggregator given a Checkpoint in Config.Resume starts every port
// the checkpoint records as collecting and distributing (and hearing its
// partner: receive state CURRENT) directly in that state: receive machine
// CURRENT with a full current_while from the start, mux
// COLLECTING_DISTRIBUTING, actor state in sync, collecting and
// distributing. It reports those members through OnMembers before
// NewAggregator returns and sends their first LACPDU as soon as SetCarrier
// confirms each port's carrier. The partner, whose own timeout has not run
// out, sees no change, so neither end leaves the bundle. Until then a
// resumed port counts as up; SetCarrier(port, false) takes it out.
//
// The partner's first LACPDU on a resumed port settles it: if the partner
// is the one recorded (system, key, port) and in sync, the port carries on
// (EventResumeConfirmed); otherwise it leaves the aggregate and negotiates
// like a fresh port, wait-while included (EventResumeContradicted). A
// partner that stays silent times out current_while after the start, as
// any partner would. A port that used the administrative partner
// (DEFAULTED, with Config.PartnerAdmin) resumes in DEFAULTED if
// PartnerAdmin still names the same partner. Other ports start as usual.
//
// The checkpoint is used only if its System and Key are the Config's; a
// port only if its actor port ID and key are unchanged. The checkpoint
// cannot tell how long the agent was away: a stale one is corrected by the
// partner's first LACPDU, which arrives within a periodic time (1 s fast).
type Checkpoint struct {
	// Version is CheckpointVersion.
	Version int `json:"version"`
	// Name is the port-channel's Config.Name, for the reader.
	Name string `json:"name"`
	// System and Key are the actor identity of the port-channel.
	System SystemID `json:"system"`
	Key    uint16   `json:"key"`
	// Partner and PartnerKey identify the partner the aggregate is formed
	// towards; zero when there is none.
	Partner    SystemID `json:"partner,omitzero"`
	PartnerKey uint16   `json:"partnerKey,omitempty"`
	// Taken is when the checkpoint was taken.
	Taken time.Time        `json:"taken"`
	Ports []PortCheckpoint `json:"ports"`
}

// PortCheckpoint is one member port in a Checkpoint.
type PortCheckpoint struct {
	Name string `json:"name"`
	// Port and Key are the actor port ID and key, part of the actor
	// identity the partner knows.
	Port PortID `json:"port"`
	Key  uint16 `json:"key"`
	// Partner is the partner information last recorded (Partner_Oper_*),
	// its Synchronization bit as this end judged it.
	Partner Info `json:"partner"`
	// Receive is the receive machine's state: "CURRENT", "EXPIRED",
	// "DEFAULTED" or "PORT_DISABLED".
	Receive string `json:"receive"`
	// Selected is true when the selection logic chose the port for the
	// aggregate (not standby, not unselected).
	Selected bool `json:"selected"`
	// Attached is true when the mux machine is ATTACHED or
	// COLLECTING_DISTRIBUTING.
	Attached bool `json:"attached"`
	// CollectingDistributing is true when the port carried traffic.
	CollectingDistributing bool `json:"collectingDistributing"`
	// LastPDU is when the last LACPDU arrived; zero if none has.
	LastPDU time.Time `json:"lastPdu,omitzero"`
}

// Checkpoint returns the port-channel's state for Config.Resume of its
// successor. It may be called after Close, which freezes the state: that
// is the checkpoint to persist on shutdown.
func (a *Aggregator) Checkpoint() Checkpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checkpoint(a.clock.Now())
}

func (a *Aggregator) checkpoint(now time.Time) Checkpoint {
	c := Checkpoint{
		Version:    CheckpointVersion,
		Name:       a.cfg.Name,
		System:     a.cfg.System,
		Key:        a.cfg.Key,
		Partner:    a.lag.system,
		PartnerKey: a.lag.key,
		Taken:      now,
		Ports:      make([]PortCheckpoint, 0, len(a.ports)),
	}
	for _, p := range a.ports {
		c.Ports = append(c.Ports, PortCheckpoint{
			Name:                   p.cfg.Name,
			Port:                   a.actorInfo(p).Port,
			Key:                    p.cfg.Key,
			Partner:                p.partner,
			Receive:                p.rx.String(),
			Selected:               p.selected == selected,
			Attached:               p.mux == muxAttached || p.mux == muxCollDist,
			CollectingDistributing: p.mux == muxCollDist,
			LastPDU:                p.lastPDU,
		})
	}
	return c
}

// sameState reports whether c and o record the same protocol state,
// whenever they were taken and whatever PDUs arrived meanwhile.
func (c Checkpoint) sameState(o Checkpoint) bool {
	strip := func(c Checkpoint) Checkpoint {
		c.Taken = time.Time{}
		c.Ports = slices.Clone(c.Ports)
		for i := range c.Ports {
			c.Ports[i].LastPDU = time.Time{}
		}
		return c
	}
	x, y := strip(c), strip(o)
	return x.Version == y.Version && x.Name == y.Name && x.System == y.System && x.Key == y.Key &&
		x.Partner == y.Partner && x.PartnerKey == y.PartnerKey && slices.Equal(x.Ports, y.Ports)
}

// resume starts the ports cp records as collecting and distributing in
// that state, reporting with events what it does not use and why. It runs
// once, in NewAggregator, with a.mu held.
func (a *Aggregator) resume(cp *Checkpoint, now time.Time) {
	ignore := func(port, format string, args ...any) {
		a.event(now, EventCheckpointIgnored, port, format, args...)
	}
	switch {
	case cp.Version != CheckpointVersion:
		ignore("", "checkpoint version %d, want %d", cp.Version, CheckpointVersion)
		return
	case cp.System != a.cfg.System:
		ignore("", "checkpoint of actor system %s, this is %s", cp.System, a.cfg.System)
		return
	case cp.Key != a.cfg.Key:
		ignore("", "checkpoint of actor key %d, this is %d", cp.Key, a.cfg.Key)
		return
	}
	lag := lagID{system: cp.Partner, key: cp.PartnerKey}
	seen := make(map[string]bool, len(cp.Ports))
	for _, pc := range cp.Ports {
		if !pc.CollectingDistributing || seen[pc.Name] {
			continue
		}
		seen[pc.Name] = true
		p, ok := a.byName[pc.Name]
		if !ok {
			ignore("", "port %s of the checkpoint is no longer a member", pc.Name)
			continue
		}
		if why := a.resumable(p, pc, lag); why != "" {
			ignore(p.cfg.Name, "%s", why)
			continue
		}
		a.resumePort(p, pc, now)
	}
	if slices.ContainsFunc(a.ports, func(p *port) bool { return p.mux == muxCollDist }) {
		// So that selection keeps the checkpoint's partner, as in use.
		a.lag = lag
	}
}

// resumable returns why p cannot resume from pc, which collected and
// distributed towards lag, or "" if it can.
func (a *Aggregator) resumable(p *port, pc PortCheckpoint, lag lagID) string {
	actor := a.actorInfo(p)
	switch {
	case pc.Port != actor.Port:
		return fmt.Sprintf("actor port %s in the checkpoint, %s now", pc.Port, actor.Port)
	case pc.Key != p.cfg.Key:
		return fmt.Sprintf("actor port key %d in the checkpoint, %d now", pc.Key, p.cfg.Key)
	case !pc.Selected || !pc.Attached:
		return "inconsistent checkpoint: collecting and distributing but not selected and attached"
	case lag.system != pc.Partner.System || lag.key != pc.Partner.Key || lag == (lagID{}):
		return fmt.Sprintf("inconsistent checkpoint: partner %s key %d, the aggregate's %s key %d",
			pc.Partner.System, pc.Partner.Key, lag.system, lag.key)
	case pc.Receive == rxCurrent.String():
		return ""
	case pc.Receive != rxDefaulted.String():
		return fmt.Sprintf("receive state %s: only CURRENT and DEFAULTED ports resume", pc.Receive)
	case a.cfg.PartnerAdmin == nil || !sameLink(*a.cfg.PartnerAdmin, pc.Partner):
		return "the checkpoint's administrative partner is no longer configured"
	}
	return ""
}

// sameLink reports whether x and y name the same partner port, as far as
// aggregation goes (update_Selected's comparison).
func sameLink(x, y Info) bool {
	return x.System == y.System && x.Key == y.Key && x.Port == y.Port &&
		x.State.Has(StateAggregation) == y.State.Has(StateAggregation)
}

// resumePort puts p in the receive, mux and selection states pc records.
// The port counts as up, but sends nothing until SetCarrier confirms it.
func (a *Aggregator) resumePort(p *port, pc PortCheckpoint, now time.Time) {
	p.enabled = true
	p.awaitCarrier = true
	p.lastPDU = pc.LastPDU
	if pc.Receive == rxDefaulted.String() {
		a.recordDefault(p)
		p.rx = rxDefaulted
	} else {
		p.partner = pc.Partner
		p.lastPartner = pc.Partner.System
		p.actorState &^= StateDefaulted | StateExpired
		p.rx = rxCurrent
		p.resumed = true
		// From now, not from the last PDU: the gap is the restart's,
		// not the partner's silence, and the first PDU of a partner
		// that has moved on corrects the port anyway.
		p.currentWhile = now.Add(a.currentWhileTime(p))
	}
	p.selected = selected
	p.mux = muxCollDist
	p.actorState |= StateSynchronization | StateCollecting | StateDistributing
	p.ntt = true
	a.event(now, EventResumed, p.cfg.Name, "resumed from the checkpoint: collecting and distributing towards %s port %s (receive %s)",
		p.partner.System, p.partner.Port, p.rx)
}

// checkResume judges the first LACPDU on a resumed port, after recordPDU
// stored it in p.partner; prev is the partner from the checkpoint. A
// partner that contradicts the checkpoint makes the port negotiate afresh.
func (a *Aggregator) checkResume(p *port, prev Info, now time.Time) {
	p.resumed = false
	var why string
	switch {
	case !sameLink(prev, p.partner):
		why = fmt.Sprintf("partner %s key %d port %s, the checkpoint had %s key %d port %s",
			p.partner.System, p.partner.Key, p.partner.Port, prev.System, prev.Key, prev.Port)
	case !p.partner.State.Has(StateSynchronization):
		why = fmt.Sprintf("partner out of sync (state %s)", p.partner.State)
	default:
		a.event(now, EventResumeConfirmed, p.cfg.Name, "partner %s port %s confirms the checkpoint", p.partner.System, p.partner.Port)
		return
	}
	// UNSELECTED detaches the port; it then waits and attaches like a
	// port that has just heard its partner.
	p.selected = unselected
	a.event(now, EventResumeContradicted, p.cfg.Name, "%s: negotiating afresh", why)
}
