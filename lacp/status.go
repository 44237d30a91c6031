package lacp

import (
	"slices"
	"time"
)

// PortState is the operator's summary of a member port.
type PortState string

// Port states.
const (
	// PortBundled: collecting and distributing in the aggregate.
	PortBundled PortState = "bundled"
	// PortStandby: eligible, but beyond the MaxActive best members.
	PortStandby PortState = "standby"
	// PortIndividual: up but not aggregatable (no partner, a different
	// partner or key, or an Individual partner port); see Reason.
	PortIndividual PortState = "individual"
	// PortDown: no carrier.
	PortDown PortState = "down"
	// PortWaiting: selected, waiting for the wait-while timer or the
	// partner's synchronization, or waiting for a timed-out partner.
	PortWaiting PortState = "waiting"
)

// Counters are a member port's PDU counters.
type Counters struct {
	PDUsRx      uint64 `json:"pdusRx"`
	PDUsTx      uint64 `json:"pdusTx"`
	MalformedRx uint64 `json:"malformedRx"`
	MarkerRx    uint64 `json:"markerRx"`
	MarkerTx    uint64 `json:"markerTx"`
	TxErrors    uint64 `json:"txErrors"`
}

// PortStatus describes a member port for the CLI.
type PortStatus struct {
	Name  string    `json:"name"`
	State PortState `json:"state"`
	// Reason says why the port is not bundled; empty when it is.
	Reason  string `json:"reason,omitempty"`
	Actor   Info   `json:"actor"`
	Partner Info   `json:"partner"`
	// Receive, Mux and Selected are the 802.1AX machine states, e.g.
	// "CURRENT", "COLLECTING_DISTRIBUTING", "SELECTED".
	Receive      string `json:"receive"`
	Mux          string `json:"mux"`
	Selected     string `json:"selected"`
	ActorChurn   bool   `json:"actorChurn"`
	PartnerChurn bool   `json:"partnerChurn"`
	// Resumed is true while the port runs on the state of a checkpoint,
	// the partner's first LACPDU still to confirm it.
	Resumed bool `json:"resumed,omitempty"`
	// LastPDU is when the last LACPDU arrived; zero if none has.
	LastPDU  time.Time `json:"lastPdu,omitzero"`
	Counters Counters  `json:"counters"`
}

// Status describes a port-channel's LACP state for the CLI.
type Status struct {
	Name   string   `json:"name"`
	System SystemID `json:"system"`
	Key    uint16   `json:"key"`
	Mode   Mode     `json:"mode"`
	Rate   Rate     `json:"rate"`
	// Up is true when at least MinLinks members collect and distribute.
	Up        bool `json:"up"`
	MinLinks  int  `json:"minLinks"`
	MaxActive int  `json:"maxActive"`
	// Partner and PartnerKey identify the partner the aggregate is formed
	// towards; zero when there is none.
	Partner    SystemID `json:"partner,omitzero"`
	PartnerKey uint16   `json:"partnerKey,omitempty"`
	// Members are the ports the datapath uses (see Aggregator.Members).
	Members []string     `json:"members"`
	Ports   []PortStatus `json:"ports"`
}

// Status returns a snapshot of the port-channel.
func (a *Aggregator) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{
		Name:       a.cfg.Name,
		System:     a.cfg.System,
		Key:        a.cfg.Key,
		Mode:       a.cfg.Mode,
		Rate:       a.cfg.Rate,
		Up:         a.up,
		MinLinks:   a.cfg.MinLinks,
		MaxActive:  a.cfg.MaxActive,
		Partner:    a.lag.system,
		PartnerKey: a.lag.key,
		Members:    slices.Clone(a.members),
	}
	if s.Members == nil {
		s.Members = []string{}
	}
	for _, p := range a.ports {
		state, why := a.portState(p)
		s.Ports = append(s.Ports, PortStatus{
			Name:         p.cfg.Name,
			State:        state,
			Reason:       why,
			Actor:        a.actorInfo(p),
			Partner:      p.partner,
			Receive:      p.rx.String(),
			Mux:          p.mux.String(),
			Selected:     p.selected.String(),
			ActorChurn:   p.actorChurn == churned,
			PartnerChurn: p.partnerChurn == churned,
			Resumed:      p.resumed,
			LastPDU:      p.lastPDU,
			Counters:     p.counters,
		})
	}
	return s
}

// portState summarises p for operators.
func (a *Aggregator) portState(p *port) (PortState, string) {
	switch {
	case !p.enabled:
		return PortDown, "carrier down"
	case p.mux == muxCollDist:
		return PortBundled, ""
	case p.selected == standby:
		return PortStandby, p.whyText
	case p.selected == selected && p.mux == muxAttached:
		return PortWaiting, "waiting for the partner to synchronize"
	case p.selected == selected:
		return PortWaiting, "waiting to attach (wait-while)"
	case p.why == reasonExpired:
		return PortWaiting, p.whyText
	}
	return PortIndividual, p.whyText
}

// reportPort queues the events of a change in p's summary.
func (a *Aggregator) reportPort(p *port, now time.Time) {
	state, why := a.portState(p)
	prevState, prevWhy := p.state, p.reported
	p.state, p.reported = state, p.why
	if state == PortBundled && prevState != PortBundled {
		a.event(now, EventBundled, p.cfg.Name, "collecting and distributing towards %s port %s", p.partner.System, p.partner.Port)
	}
	if prevState == PortBundled && state != PortBundled {
		a.event(now, EventUnbundled, p.cfg.Name, "left the aggregate: %s", orDefault(why, string(state)))
	}
	if p.why == prevWhy {
		return
	}
	switch p.why {
	case reasonActorKey, reasonPartnerKey:
		a.event(now, EventKeyMismatch, p.cfg.Name, "not aggregated: %s", p.whyText)
	case reasonPartnerSystem:
		a.event(now, EventPartnerMismatch, p.cfg.Name, "not aggregated: %s", p.whyText)
	case reasonIndividual:
		a.event(now, EventIndividual, p.cfg.Name, "not aggregated: %s", p.whyText)
	case reasonStandby:
		a.event(now, EventStandby, p.cfg.Name, "%s", p.whyText)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
