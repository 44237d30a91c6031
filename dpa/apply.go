package dpa

import (
	"cmp"
	"context"
	"slices"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
)

// applyConfig hands a snapshot to the Applier: applied, it becomes the
// running configuration, its remote MACs follow, it is checkpointed and
// ACKed; refused, it is NACKed with the reason and the running state
// stays.
func (d *DPA) applyConfig(ctx context.Context, v *vsm, c *protocol.Config) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if err := d.cfg.Applier.Apply(ctx, c.Switch); err != nil {
		d.mu.Lock()
		d.counters.ConfigsRefused++
		d.mu.Unlock()
		d.log.Warn("configuration refused", zap.String("vsm", v.name), zap.Uint64("generation", c.Generation), zap.Error(err))
		d.nack(v, c, err)
		return
	}
	d.mu.Lock()
	d.generation, d.current = c.Generation, c.Switch
	d.bindings = d.bindings[:0]
	for _, b := range c.Bindings {
		d.bindings = append(d.bindings, bindingOf(b))
	}
	clear(d.macs)
	for _, m := range c.MACs {
		d.macs[macKey{m.GetVni(), m.GetMac()}] = m.GetVtep()
	}
	macs := d.macList()
	d.counters.ConfigsApplied++
	sess := v.sess
	d.mu.Unlock()
	if err := d.cfg.Applier.SetRemoteMACs(ctx, macs); err != nil {
		d.applyFailed("remote MACs of the configuration", err)
	}
	d.checkpoint()
	d.log.Info("configuration applied", zap.String("vsm", v.name), zap.Uint64("generation", c.Generation))
	if sess == nil {
		return
	}
	if err := sess.Ack(c); err != nil {
		d.log.Warn("ack not sent", zap.String("vsm", v.name), zap.Error(err))
	}
}

// nack refuses a configuration on v's session.
func (d *DPA) nack(v *vsm, c *protocol.Config, reason error) {
	d.mu.Lock()
	sess := v.sess
	d.mu.Unlock()
	if sess == nil {
		return
	}
	if err := sess.Nack(c, reason); err != nil {
		d.log.Warn("nack not sent", zap.String("vsm", v.name), zap.Error(err))
	}
}

// applyFailed counts and logs an Applier failure outside a snapshot.
func (d *DPA) applyFailed(what string, err error) {
	d.mu.Lock()
	d.counters.ApplyErrors++
	d.mu.Unlock()
	d.log.Warn("apply failed", zap.String("what", what), zap.Error(err))
}

// bindingOf is a binding as the checkpoint keeps it.
func bindingOf(b *protocol.PortBinding) headless.Binding {
	return headless.Binding{ID: b.GetId(), Interface: b.GetInterface(), VEth: b.GetVeth(),
		DynamicProfile: b.GetDynamicProfile(), Segment: b.GetSegment(), Profile: b.GetProfile(),
		MAC: b.GetMac(), Refused: b.GetRefused()}
}

// bind records a binding, replacing the port's previous one.
func (d *DPA) bind(b *protocol.PortBinding) {
	nb := bindingOf(b)
	for i, o := range d.bindings {
		if (nb.Interface != "" && o.Interface == nb.Interface) || (nb.ID != "" && o.ID == nb.ID) {
			d.bindings[i] = nb
			return
		}
	}
	d.bindings = append(d.bindings, nb)
}

// updateMACs applies a MAC distribution update to the set: removals
// first, so a MAC that moves ends at its new VTEP.
func (d *DPA) updateMACs(u *protocol.MacUpdate) {
	for _, m := range u.GetRemove() {
		delete(d.macs, macKey{m.GetVni(), m.GetMac()})
	}
	for _, m := range u.GetAdd() {
		d.macs[macKey{m.GetVni(), m.GetMac()}] = m.GetVtep()
	}
}

// macList is the remote MAC set in a stable order.
func (d *DPA) macList() []headless.RemoteMAC {
	out := make([]headless.RemoteMAC, 0, len(d.macs))
	for k, vtep := range d.macs {
		out = append(out, headless.RemoteMAC{VNI: k.vni, MAC: k.mac, VTEP: vtep})
	}
	slices.SortFunc(out, func(a, b headless.RemoteMAC) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), cmp.Compare(a.MAC, b.MAC))
	})
	return out
}

// applyMACs hands the whole remote MAC set to the Applier and
// checkpoints it.
func (d *DPA) applyMACs(ctx context.Context) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.mu.Lock()
	macs := d.macList()
	d.mu.Unlock()
	if err := d.cfg.Applier.SetRemoteMACs(ctx, macs); err != nil {
		d.applyFailed("remote MAC update", err)
	}
	d.checkpoint()
}

// checkpoint saves what is running, once there is a configuration; the
// caller holds applyMu so that saves follow applies in order.
func (d *DPA) checkpoint() {
	if d.cfg.Checkpoints == nil {
		return
	}
	d.mu.Lock()
	if d.current == nil {
		d.mu.Unlock()
		return
	}
	c := headless.Checkpoint{Switch: d.current, Generation: d.generation, Module: d.module,
		AttachedVSM: d.attachedName, Epoch: d.epoch, Bindings: slices.Clone(d.bindings),
		RemoteMACs: d.macList(), SavedAt: d.clock.Now()}
	if d.state == StateHeadless {
		since := d.headlessSince
		c.HeadlessSince = &since
	}
	for _, e := range d.queue {
		c.PortEvents = append(c.PortEvents, e.stored())
	}
	d.mu.Unlock()
	if err := d.cfg.Checkpoints.Save(c); err != nil {
		d.mu.Lock()
		d.counters.CheckpointErrors++
		d.mu.Unlock()
		d.log.Error("checkpoint not saved", zap.Uint64("generation", c.Generation), zap.Error(err))
	}
}
