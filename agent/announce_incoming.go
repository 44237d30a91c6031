package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// A domain migrating in is started on the destination (libvirt's start
// hook attaches its ports) when the migration begins, while the guest
// still runs on the source; libvirt has no hook at the switchover. An
// announcement then would move the VM's MACs to the destination too early,
// and a guest that only answers would be unreachable from the other hosts
// until the switchover. So the hook attaches such a port as incoming: it
// forwards at once, but its announcement is held until the agent is told
// the domain resumed here (vem-libvirt on libvirt's resumed-after-migration
// event, or an operator's vemctl port announce). A hold ends unannounced
// after a bound: a migration that never resumed leaves nothing pending,
// and with no word that the guest runs here, announcing late could still
// be announcing early; QEMU's own announce-self at the switchover and the
// guest's first frame move the MAC anyway.

var (
	_ api.Announcer        = (*Agent)(nil)
	_ api.IncomingAttacher = (*Agent)(nil)
)

// defaultIncomingHold bounds how long an incoming port's announcement
// waits for the word that its domain resumed here.
const defaultIncomingHold = 5 * time.Minute

// Why an announce request finds nothing to announce.
var (
	errNoVEth   = errors.New("no vEth up on this interface")
	errVEthDown = errors.New("the port is admin down: nothing to announce")
)

// incomingHold is the held announcement of one incoming port.
type incomingHold struct {
	until time.Time
	// held is set once the port came up and its announcement was held.
	held  bool
	since time.Time
}

// holdIncoming holds the announcement of the port about to be attached on
// iface: its domain is migrating (or being restored) in.
func (a *announcer) holdIncoming(iface string) {
	a.mu.Lock()
	a.holds[iface] = &incomingHold{until: a.clock.Now().Add(a.hold)}
	a.mu.Unlock()
	a.poke() // the run loop times the hold's end
}

// unhold drops the hold of iface (its attach failed).
func (a *announcer) unhold(iface string) {
	a.mu.Lock()
	delete(a.holds, iface)
	a.mu.Unlock()
}

// heldLocked reports whether pi's announcement is held, and counts it
// deferred the first time. a.mu is held.
func (a *announcer) heldLocked(pi portInfo, now time.Time) bool {
	h := a.holds[pi.Iface]
	if h == nil || !now.Before(h.until) {
		return false
	}
	if !h.held {
		h.held, h.since = true, now
		a.deferred.Add(1)
		a.log.Info("MAC announcement deferred until the incoming domain resumes here", zap.String("interface", pi.Iface),
			zap.Stringer("mac", macOf(pi.Entry.MAC)), zap.Duration("bound", h.until.Sub(now)))
	}
	return true
}

// expireLocked ends the holds whose bound has passed and returns when the
// next one ends (zero for none). a.mu is held.
func (a *announcer) expireLocked(now time.Time) time.Time {
	var next time.Time
	for iface, h := range a.holds {
		if now.Before(h.until) {
			if next.IsZero() || h.until.Before(next) {
				next = h.until
			}
			continue
		}
		delete(a.holds, iface)
		if h.held {
			a.expired.Add(1)
			a.log.Warn("MAC announcement of an incoming port given up: its domain was not reported resumed here in time",
				zap.String("interface", iface), zap.Duration("held", now.Sub(h.since)))
		}
	}
	return next
}

// announceNow starts the announcement of the vEth on iface, ending any
// hold of it. With pendingOnly it announces only a held port.
func (a *announcer) announceNow(iface string, pendingOnly bool) (api.AnnounceReply, error) {
	reply := api.AnnounceReply{Interface: iface}
	var p *plan
	if a.plan != nil {
		p = a.plan()
	}
	var pi portInfo
	found := false
	if p != nil {
		for _, cand := range p.ports {
			if cand.Iface == iface && cand.Kind == bpf.PortVEth {
				pi, found = cand, true
				break
			}
		}
	}
	now := a.clock.Now()
	a.mu.Lock()
	h := a.holds[iface]
	reply.WasDeferred = h != nil && h.held
	switch {
	case pendingOnly && !reply.WasDeferred:
		a.mu.Unlock()
		reply.Reason = "no announcement pending"
		return reply, nil
	case !found:
		a.mu.Unlock()
		return reply, errNoVEth
	}
	delete(a.holds, iface)
	switch {
	case pi.Entry.Down:
		a.mu.Unlock()
		return reply, errVEthDown
	case p.segments[pi.Entry.Segment].Type == bpf.SegmentLocal:
		a.mu.Unlock()
		reply.Reason = "local segment: nobody beyond this host to tell"
		return reply, nil
	}
	a.jobs[pi.Entry.Ifindex] = &announceJob{due: now, started: now, ifindex: pi.Entry.Ifindex, iface: iface,
		mac: macOf(pi.Entry.MAC), segment: pi.Entry.Segment}
	a.mu.Unlock()
	a.poke()
	reply.Announced = true
	fields := []zap.Field{zap.String("interface", iface), zap.Stringer("mac", macOf(pi.Entry.MAC))}
	if reply.WasDeferred {
		fields = append(fields, zap.Duration("deferred", now.Sub(h.since)))
	}
	a.log.Info("MAC announcement requested", fields...)
	return reply, nil
}

// AttachIncoming implements api.IncomingAttacher: it attaches the port of
// a domain migrating (or being restored) in, holding its announcement
// until Announce (or the bound).
func (a *Agent) AttachIncoming(ctx context.Context, p spec.Port) error {
	if a.announce == nil {
		return a.Attach(ctx, p)
	}
	a.announce.holdIncoming(p.Interface)
	if err := a.Attach(ctx, p); err != nil {
		a.announce.unhold(p.Interface)
		return err
	}
	return nil
}

// Announce implements api.Announcer.
func (a *Agent) Announce(_ context.Context, iface string, req api.AnnounceRequest) (api.AnnounceReply, error) {
	if a.announce == nil {
		return api.AnnounceReply{}, fmt.Errorf("%w: this agent has no MAC announcer", api.ErrNotFound)
	}
	reply, err := a.announce.announceNow(iface, req.PendingOnly)
	switch {
	case errors.Is(err, errNoVEth):
		return reply, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, errVEthDown):
		return reply, fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return reply, err
}
