package libvirtwatch

import (
	"context"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
)

// A domain that migrates in is started on this host while the guest
// still runs on the source: its ports are attached then, by the qemu hook,
// as incoming, and the agent holds their MAC announcement. libvirt tells
// no hook when the guest runs here, but reports it as an event (an
// Arrival); the watcher then asks the agent to announce the ports, so
// switches and the other hosts move the MACs at the switchover, neither
// before (the guest unreachable while it still runs on the source) nor
// only when the guest speaks.

// announce asks the agent to announce the attached ports of d, which
// arrived: every one for a migration's end or a restore, only those
// still held for a plain resume (a domain migrated or restored paused).
// A failure is logged: the agent gives a held announcement up by itself,
// and QEMU's own announce-self and the guest's traffic move the MACs too.
// w.mu is held.
func (w *Watcher) announce(ctx context.Context, d *domRec, a Arrival) {
	if d == nil {
		return
	}
	req := api.AnnounceRequest{PendingOnly: a == ArrivalUnpaused}
	for _, p := range d.ports {
		if !p.attached || p.iface == "" {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, w.cfg.AgentTimeout)
		rep, err := w.cfg.Agent.Announce(actx, p.iface, req)
		cancel()
		fields := []zap.Field{zap.String("domain", d.name), zap.String("interface", p.iface), zap.String("mac", p.port.MAC),
			zap.Stringer("arrival", a)}
		switch {
		case err != nil:
			w.log.Warn("libvirt watcher: announce the port of a domain that arrived", append(fields, zap.Error(err))...)
		case rep.Announced:
			w.log.Info("libvirt watcher: port announced, its domain runs here", append(fields, zap.Bool("wasDeferred", rep.WasDeferred))...)
		default:
			w.log.Debug("libvirt watcher: port not announced", append(fields, zap.String("reason", rep.Reason))...)
		}
	}
}
