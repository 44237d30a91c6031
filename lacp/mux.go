package lacp

import "time"

// muxState is the state of the mux machine, coupled control variant
// (802.1AX-2008 5.4.15, figure 5-15): collecting and distributing are
// switched together.
type muxState uint8

const (
	muxDetached muxState = iota
	muxWaiting
	muxAttached
	muxCollDist
)

func (s muxState) String() string {
	return [...]string{"DETACHED", "WAITING", "ATTACHED", "COLLECTING_DISTRIBUTING"}[s]
}

// ready reports the aggregator's Ready variable: every port waiting to
// attach has seen its wait_while timer expire, so they attach together.
func (a *Aggregator) ready() bool {
	for _, p := range a.ports {
		if p.mux == muxWaiting && p.selected == selected && !p.readyN {
			return false
		}
	}
	return true
}

// muxStep runs the mux machine of p until it rests, reporting whether it
// moved.
func (a *Aggregator) muxStep(p *port, now time.Time) bool {
	moved := false
	// Each state is left at most once: DETACHED to COLLECTING_DISTRIBUTING
	// takes three moves, the way down two.
	for range 4 {
		next := p.mux
		switch p.mux {
		case muxDetached:
			if p.selected != unselected {
				next = muxWaiting
			}
		case muxWaiting:
			switch {
			case p.selected == unselected:
				next = muxDetached
			case p.selected == selected && a.ready():
				next = muxAttached
			}
		case muxAttached:
			switch {
			case p.selected != selected:
				next = muxDetached
			case p.partner.State.Has(StateSynchronization):
				next = muxCollDist
			}
		case muxCollDist:
			if p.selected != selected || !p.partner.State.Has(StateSynchronization) {
				next = muxAttached
			}
		}
		if next == p.mux {
			break
		}
		a.enterMux(p, next, now)
		moved = true
	}
	return moved
}

func (a *Aggregator) enterMux(p *port, s muxState, now time.Time) {
	p.mux = s
	const attached = StateSynchronization | StateCollecting | StateDistributing
	switch s {
	case muxDetached:
		p.actorState &^= attached
		p.waitWhile = time.Time{}
		p.readyN = false
	case muxWaiting:
		p.waitWhile = now.Add(a.cfg.WaitWhile)
		p.readyN = false
		return // nothing to tell the partner yet
	case muxAttached:
		p.actorState = p.actorState&^attached | StateSynchronization
	case muxCollDist:
		p.actorState |= attached
	}
	p.ntt = true
}
