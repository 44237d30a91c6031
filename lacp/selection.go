package lacp

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// lagID is what the members of one aggregate share beyond the actor's own
// system and key: the partner system and key.
type lagID struct {
	system SystemID
	key    uint16
}

// reason says why a port is not aggregated.
type reason uint8

const (
	reasonNone reason = iota
	reasonDown
	reasonActorKey
	reasonExpired
	reasonNoPartner
	reasonIndividual
	reasonPartnerKey
	reasonPartnerSystem
	reasonStandby
)

// candidate classifies p: whether it may aggregate at all and, if so, the
// partner it would aggregate towards.
func (a *Aggregator) candidate(p *port) (lagID, reason, string) {
	switch {
	case !p.enabled:
		return lagID{}, reasonDown, "carrier down"
	case p.cfg.Key != a.cfg.Key:
		return lagID{}, reasonActorKey, fmt.Sprintf("actor key %d differs from the port-channel key %d", p.cfg.Key, a.cfg.Key)
	case p.rx == rxExpired:
		// Only ports hearing their partner compete for the active
		// slots, so that a standby replaces a silent one.
		return lagID{}, reasonExpired, "partner timed out"
	case p.rx == rxDefaulted && a.cfg.PartnerAdmin == nil:
		return lagID{}, reasonNoPartner, "no LACPDU from a partner"
	case !p.partner.State.Has(StateAggregation):
		return lagID{}, reasonIndividual, "partner port is Individual"
	}
	return lagID{system: p.partner.System, key: p.partner.Key}, reasonNone, ""
}

// selectPorts is the selection logic (802.1AX-2008 5.4.14) for the single
// aggregator of a port-channel. Of the partners the candidates lead to, it
// keeps the one in use, else prefers the one whose ports the partner has put
// in sync, then the one with most candidates, then the one of the best port.
// Ports towards other partners are not aggregated. Of the chosen partner's
// ports, the first MaxActive in the order of the system with the better ID
// are SELECTED and the rest STANDBY: that system's port priorities decide,
// and both ends compute the same set. It reports whether any port's Selected
// changed.
func (a *Aggregator) selectPorts(now time.Time) bool {
	type score struct {
		inUse         bool
		synced, count int
		best          PortID
	}
	lags := map[lagID]*score{}
	var order []lagID
	lagOf := make(map[*port]lagID, len(a.ports))
	for _, p := range a.ports {
		lag, why, text := a.candidate(p)
		p.why, p.whyText = why, text
		if why != reasonNone {
			continue
		}
		lagOf[p] = lag
		s := lags[lag]
		if s == nil {
			s = &score{best: a.actorInfo(p).Port}
			lags[lag] = s
			order = append(order, lag)
		}
		s.inUse = s.inUse || p.mux == muxCollDist
		if p.partner.State.Has(StateSynchronization) {
			s.synced++
		}
		s.count++
		if id := a.actorInfo(p).Port; id.Less(s.best) {
			s.best = id
		}
	}
	better := func(x, y *score) bool {
		switch {
		case x.inUse != y.inUse:
			return x.inUse
		case x.synced != y.synced:
			return x.synced > y.synced
		case x.count != y.count:
			return x.count > y.count
		}
		return x.best.Less(y.best)
	}
	var chosen lagID
	for i, lag := range order {
		if i == 0 || better(lags[lag], lags[chosen]) {
			chosen = lag
		}
	}
	if chosen != a.lag {
		a.lag = chosen
		if chosen != (lagID{}) {
			a.event(now, EventPartnerSelected, "", "aggregating towards partner %s key %d", chosen.system, chosen.key)
		}
	}

	var members []*port
	for _, p := range a.ports {
		if lag, ok := lagOf[p]; ok {
			switch {
			case lag == chosen:
				members = append(members, p)
			case lag.system == chosen.system:
				p.why = reasonPartnerKey
				p.whyText = fmt.Sprintf("partner key %d differs from the port-channel's partner key %d", lag.key, chosen.key)
			default:
				p.why = reasonPartnerSystem
				p.whyText = fmt.Sprintf("partner %s differs from the port-channel's partner %s", lag.system, chosen.system)
			}
		}
	}
	// The better system's port IDs rank the links; on a tie (two links
	// the partner ranks alike) the actor's decide.
	weDecide := !chosen.system.Less(a.cfg.System)
	slices.SortFunc(members, func(x, y *port) int {
		xa, ya := a.actorInfo(x).Port, a.actorInfo(y).Port
		if !weDecide {
			if c := comparePortID(x.partner.Port, y.partner.Port); c != 0 {
				return c
			}
		}
		return comparePortID(xa, ya)
	})
	want := make(map[*port]selection, len(members))
	for i, p := range members {
		want[p] = selected
		if i >= a.cfg.MaxActive {
			want[p] = standby
			p.why = reasonStandby
			p.whyText = fmt.Sprintf("hot standby: %d better members are active", a.cfg.MaxActive)
		}
	}
	changed := false
	for _, p := range a.ports {
		// A port that update_Selected turned UNSELECTED is left so until
		// its mux machine has detached it.
		if p.selected == unselected && p.mux != muxDetached {
			continue
		}
		if w := want[p]; w != p.selected {
			p.selected = w
			changed = true
		}
	}
	return changed
}

func comparePortID(x, y PortID) int {
	if c := cmp.Compare(x.Priority, y.Priority); c != 0 {
		return c
	}
	return cmp.Compare(x.Number, y.Number)
}
