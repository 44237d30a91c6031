package dpa

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
)

// ErrQueueFull refuses a port event when MaxQueuedPortEvents wait already.
var ErrQueueFull = errors.New("dpa: port event queue full")

// portEvent is a port attach or detach for the VSM.
type portEvent struct {
	attach *protocol.PortAttach
	detach *protocol.PortDetach
}

// stored is e as the checkpoint keeps it.
func (e portEvent) stored() headless.PortEvent {
	if e.detach != nil {
		return headless.PortEvent{Detach: true, ID: e.detach.GetId(), Interface: e.detach.GetInterface()}
	}
	a := e.attach
	return headless.PortEvent{ID: a.GetId(), Interface: a.GetInterface(), MAC: a.GetMac(), VM: a.GetVm(),
		Segment: a.GetSegment(), Profile: a.GetProfile(), IPs: append([]string(nil), a.GetIps()...)}
}

// portEventOf is a port event from the checkpoint.
func portEventOf(e headless.PortEvent) portEvent {
	if e.Detach {
		return portEvent{detach: &protocol.PortDetach{Id: e.ID, Interface: e.Interface}}
	}
	return portEvent{attach: &protocol.PortAttach{Id: e.ID, Interface: e.Interface, Mac: e.MAC, Vm: e.VM,
		Segment: e.Segment, Profile: e.Profile, Ips: append([]string(nil), e.IPs...)}}
}

// send sends e on s.
func (e portEvent) send(ctx context.Context, s Session) error {
	if e.attach != nil {
		return s.AttachPort(ctx, e.attach)
	}
	return s.DetachPort(ctx, e.detach)
}

// AttachPort carries a port attach (the libvirt hook, vemctl) to the
// attached VSM, or queues it until the VEM attaches. The agent applies a
// port the running configuration already serves (Serves) itself.
func (d *DPA) AttachPort(ctx context.Context, p *protocol.PortAttach) error {
	return d.portEvent(ctx, portEvent{attach: p})
}

// DetachPort carries a port detach like AttachPort.
func (d *DPA) DetachPort(ctx context.Context, p *protocol.PortDetach) error {
	return d.portEvent(ctx, portEvent{detach: p})
}

// portEvent sends e now if attached with nothing queued before it, else
// queues it; an event whose send fails is queued for the next attach.
func (d *DPA) portEvent(ctx context.Context, e portEvent) error {
	d.portMu.Lock()
	defer d.portMu.Unlock()
	d.mu.Lock()
	var sess Session
	if d.state == StateAttached && d.target != nil && len(d.queue) == 0 {
		sess = d.target.sess
	}
	if sess == nil {
		if len(d.queue) >= MaxQueuedPortEvents {
			d.mu.Unlock()
			return fmt.Errorf("%w (%d events)", ErrQueueFull, len(d.queue))
		}
		d.queue = append(d.queue, e)
		d.mu.Unlock()
		d.saveQueue()
		return nil
	}
	d.mu.Unlock()
	if err := e.send(ctx, sess); err != nil {
		d.log.Warn("port event not sent; queued", zap.Error(err))
		d.mu.Lock()
		d.queue = append(d.queue, e)
		d.mu.Unlock()
		d.saveQueue()
	}
	return nil
}

// saveQueue checkpoints a queue that grew, so that a restarted agent
// still tells the VSM; the caller holds portMu (taken before applyMu).
func (d *DPA) saveQueue() {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.checkpoint()
}

// replay sends the queued port events in order to the attached VSM,
// stopping (and keeping the rest) at the first that fails or if the VEM
// is no longer attached.
func (d *DPA) replay(ctx context.Context) {
	d.portMu.Lock()
	defer d.portMu.Unlock()
	for n := 0; ; n++ {
		d.mu.Lock()
		if len(d.queue) == 0 || d.state != StateAttached || d.target == nil || d.target.sess == nil {
			d.mu.Unlock()
			if n > 0 {
				d.log.Info("queued port events replayed", zap.Int("events", n))
			}
			return
		}
		e, sess := d.queue[0], d.target.sess
		d.mu.Unlock()
		if err := e.send(ctx, sess); err != nil {
			d.log.Warn("port event replay stopped", zap.Error(err))
			return
		}
		d.mu.Lock()
		d.queue = d.queue[1:]
		d.mu.Unlock()
	}
}
