package vems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/store"
)

// vem is one VEM session.
type vem struct {
	m      *Manager
	s      *protocol.VEMSession
	host   string
	vtep   string
	seq    uint64 // the order of the session's coming, Manager.all's
	log    *zap.Logger
	cancel context.CancelCauseFunc

	wakeMu    sync.Mutex
	pending   bool               // a wake-up not yet acted on
	interrupt context.CancelFunc // ends the wait for a message, nil if not waiting

	mu     sync.Mutex // guards status, which Modules reads
	status sessionStatus

	// The session goroutine's own: what the VEM was last sent.
	sentNetwork  []byte
	sentBindings map[string]*protocol.PortBinding // by interface
	sentSegs     map[string]*segView              // the vxlan segments whose MACs it was sent
}

// sessionStatus is what Modules shows of a session.
type sessionStatus struct {
	module                 int
	attached               bool
	since                  time.Time
	sentGen, sentNonce     uint64
	ackedGen               uint64
	nack                   string
	nackGen                uint64
	heartbeatErr           error
	heartbeats, hbFailures uint64
}

// Serve runs one VEM session (protocol.ServerConfig.Serve): it returns
// when the session ends, when a newer session of the same host replaces
// it, or when Run ends.
//
// One goroutine, this one, serves the session: it takes the VEM's
// messages and, when woken (wake), reconciles; a wake-up interrupts its
// wait for a message. Thousands of sessions are mostly idle, and a
// goroutine's stack is memory each one holds.
func (m *Manager) Serve(ctx context.Context, s *protocol.VEMSession) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopAfter := context.AfterFunc(m.stopped, func() { cancel(errStopping) })
	defer stopAfter()
	v := &vem{m: m, s: s, host: s.Peer().Name, vtep: s.Hello().GetVtep(), cancel: cancel,
		log: m.log.With(zap.String("host", s.Peer().Name))}
	m.add(v)
	defer m.remove(v)
	v.heartbeat()

	for {
		if v.woken() {
			if err := v.reconcile(ctx); err != nil {
				if ctx.Err() != nil {
					return v.ended(ctx)
				}
				v.log.Warn("vem session failed", zap.Error(err))
				return err
			}
		}
		wait, interrupt := context.WithCancel(ctx)
		v.waiting(interrupt)
		ev, err := s.Recv(wait)
		v.waiting(nil)
		interrupt()
		switch {
		case ctx.Err() != nil:
			return v.ended(ctx)
		case err != nil && wait.Err() != nil:
			continue // woken
		case err != nil:
			v.log.Info("vem session ended", zap.Error(err))
			return err
		}
		if err := v.handle(ctx, ev); err != nil {
			v.log.Warn("vem session failed", zap.Error(err))
			return err
		}
	}
}

// errStopping ends the sessions when Run ends.
var errStopping = errors.New("the VSM is stopping")

// ended logs and returns why ctx, the session's, ended.
func (v *vem) ended(ctx context.Context) error {
	err := context.Cause(ctx)
	v.log.Info("vem session ended", zap.Error(err))
	return err
}

// wake asks the session goroutine to reconcile; it never waits.
func (v *vem) wake() {
	v.wakeMu.Lock()
	defer v.wakeMu.Unlock()
	v.pending = true
	if v.interrupt != nil {
		v.interrupt()
	}
}

// waiting records how to interrupt the session goroutine's wait for a
// message (nil: it is not waiting); a wake-up that came meanwhile
// interrupts it at once.
func (v *vem) waiting(interrupt context.CancelFunc) {
	v.wakeMu.Lock()
	defer v.wakeMu.Unlock()
	v.interrupt = interrupt
	if interrupt != nil && v.pending {
		interrupt()
	}
}

// woken reports, and clears, a wake-up.
func (v *vem) woken() bool {
	v.wakeMu.Lock()
	defer v.wakeMu.Unlock()
	p := v.pending
	v.pending = false
	return p
}

// heartbeat queues a heartbeat; it never waits.
func (v *vem) heartbeat() {
	err := v.s.SendHeartbeat(v.m.heartbeat())
	v.mu.Lock()
	v.status.heartbeats++
	if err != nil {
		v.status.hbFailures++
	}
	v.status.heartbeatErr = err
	v.mu.Unlock()
	if err != nil {
		v.log.Debug("heartbeat not queued", zap.Error(err))
	}
}

// handle acts on one message of the VEM.
func (v *vem) handle(ctx context.Context, ev protocol.Event) error {
	switch e := ev.(type) {
	case *protocol.AttachRequest:
		return v.attach(ctx, e)
	case *protocol.Detach:
		v.mu.Lock()
		v.status.attached = false
		v.mu.Unlock()
		if e.GetHandover() {
			v.m.handingOver(v.host)
			v.log.Info("vem handing over to its successor; shown upgrading until it attaches", zap.String("reason", e.GetReason()),
				zap.Duration("grace", HandoverGrace))
			return nil
		}
		v.log.Info("vem detached; its bindings stay", zap.String("reason", e.GetReason()))
	case *protocol.ConfigAck:
		v.mu.Lock()
		if e.GetNonce() == v.status.sentNonce {
			v.status.ackedGen = e.GetGeneration()
			v.status.nack, v.status.nackGen = "", 0
		}
		v.mu.Unlock()
		v.log.Debug("configuration acknowledged", zap.Uint64("generation", e.GetGeneration()), zap.Uint64("nonce", e.GetNonce()))
	case *protocol.ConfigNack:
		v.mu.Lock()
		current := e.GetNonce() == v.status.sentNonce
		if current {
			v.status.nack, v.status.nackGen = e.GetReason(), e.GetGeneration()
		}
		v.mu.Unlock()
		v.log.Warn("configuration refused by the vem", zap.Uint64("generation", e.GetGeneration()),
			zap.Bool("current", current), zap.String("reason", e.GetReason()))
	case *protocol.PortAttach:
		return v.attachPort(ctx, e)
	case *protocol.PortDetach:
		v.detachPort(e)
	}
	return nil
}

// attach makes the VEM a module and sends it everything.
func (v *vem) attach(ctx context.Context, r *protocol.AttachRequest) error {
	if !v.m.active() {
		v.log.Info("attach request ignored: this VSM is not active", zap.String("reason", r.GetReason().String()))
		return nil
	}
	rec, err := v.m.cfg.Store.AssignModule(v.host, int(v.s.Hello().GetModule()), v.vtep)
	if err != nil {
		return fmt.Errorf("attach %s: %w", v.host, err)
	}
	vtepChanged := v.m.setVTEP(rec.Module, v.vtep)
	v.mu.Lock()
	v.status.module, v.status.attached, v.status.since = rec.Module, true, v.m.clock.Now()
	v.mu.Unlock()
	v.m.handedOver(v.host)
	view, err := v.m.currentView()
	if err != nil {
		return fmt.Errorf("attach %s: %w", v.host, err)
	}
	snap, err := view.desired(rec.Module)
	if err != nil {
		return fmt.Errorf("attach %s: %w", v.host, err)
	}
	a := &protocol.AttachAccepted{Module: uint32(rec.Module), Name: v.m.cfg.Name, Epoch: v.m.epoch.Load()}
	nonce, err := v.s.Accept(ctx, a, snap.msg)
	if err != nil {
		return fmt.Errorf("attach %s: %w", v.host, err)
	}
	v.sent(snap, nonce)
	v.log.Info("vem attached", zap.Int("module", rec.Module), zap.String("reason", r.GetReason().String()),
		zap.String("vtep", v.vtep), zap.Uint64("generation", snap.msg.GetGeneration()))
	if vtepChanged && view.inBridgeDomain(rec.Module) {
		// Only the VEMs of its bridge domains name its VTEP.
		v.m.pokeAll()
	}
	return nil
}

// module is the session's module number, 0 before it attached.
func (v *vem) module() (int, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.status.module, v.status.attached
}

// sent records a snapshot as sent with nonce.
func (v *vem) sent(d *desired, nonce uint64) {
	v.sentNetwork, v.sentBindings, v.sentSegs = d.network, d.bindings, d.segs
	v.mu.Lock()
	v.status.sentGen, v.status.sentNonce = d.msg.GetGeneration(), nonce
	v.mu.Unlock()
}

// reconcile sends the VEM what changed since it was last sent anything: a
// new snapshot when its network or its bindings differ, else the MAC
// distribution's difference, computed for the segments that changed.
func (v *vem) reconcile(ctx context.Context) error {
	module, attached := v.module()
	if !attached || !v.m.active() {
		return nil
	}
	view, err := v.m.currentView()
	if err != nil {
		return fmt.Errorf("configuration for %s: %w", v.host, err)
	}
	network, err := view.network(module)
	if err != nil {
		return fmt.Errorf("configuration for %s: %w", v.host, err)
	}
	if !bytes.Equal(network, v.sentNetwork) || !sameBindings(view.bindings(module), v.sentBindings) {
		d, err := view.desired(module)
		if err != nil {
			return fmt.Errorf("configuration for %s: %w", v.host, err)
		}
		nonce, err := v.s.SendConfig(ctx, d.msg)
		if err != nil {
			return fmt.Errorf("configuration for %s: %w", v.host, err)
		}
		v.sent(d, nonce)
		v.log.Debug("configuration sent", zap.Uint64("generation", d.msg.GetGeneration()), zap.Uint64("nonce", nonce))
		return nil
	}
	u := view.macUpdate(module, v.sentSegs)
	if len(u.GetAdd())+len(u.GetRemove()) > 0 {
		if err := v.s.SendMACs(ctx, u); err != nil {
			return fmt.Errorf("MACs for %s: %w", v.host, err)
		}
	}
	v.sentSegs = view.macSegs(module)
	return nil
}

// attachPort binds a port and answers with its binding or the refusal.
// The binding also changes the VEM's network (its ports), so the
// generation change that follows sends it a snapshot with the port.
func (v *vem) attachPort(ctx context.Context, p *protocol.PortAttach) error {
	pb := &protocol.PortBinding{Id: p.GetId(), Interface: p.GetInterface(), Mac: p.GetMac(),
		Segment: p.GetSegment(), Profile: p.GetProfile()}
	module, attached := v.module()
	if !v.m.active() {
		pb.Refused = v.m.cfg.Name + " is not the active VSM"
		return v.s.SendBinding(ctx, pb)
	}
	if !attached {
		pb.Refused = "this VEM is not attached to " + v.m.cfg.Name + ": attach first"
		return v.s.SendBinding(ctx, pb)
	}
	b, err := v.m.cfg.Store.Bind(v.host, module, p.GetInterface(), store.BindRequest{
		ID: p.GetId(), MAC: p.GetMac(), Segment: p.GetSegment(), Profile: p.GetProfile(), IPs: p.GetIps(), VM: p.GetVm()})
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return fmt.Errorf("bind %s: %w", p.GetInterface(), err)
		}
		pb.Refused = truncate(err.Error(), protocol.MaxReasonLen)
		v.log.Info("port refused", zap.String("interface", p.GetInterface()), zap.Error(err))
		return v.s.SendBinding(ctx, pb)
	}
	pb = bindingMsg(&b)
	if err := v.s.SendBinding(ctx, pb); err != nil {
		return err
	}
	v.log.Info("port bound", zap.String("interface", b.Interface), zap.Int("vethernet", b.Vethernet),
		zap.String("segment", b.Segment), zap.String("portProfile", b.PortProfile))
	return nil
}

// detachPort releases a port's binding.
func (v *vem) detachPort(p *protocol.PortDetach) {
	module, attached := v.module()
	if !attached || !v.m.active() {
		return
	}
	if _, err := v.m.cfg.Store.Unbind(module, p.GetInterface()); err != nil && !errors.Is(err, store.ErrNotFound) {
		v.log.Warn("port not unbound", zap.String("interface", p.GetInterface()), zap.Error(err))
		return
	}
	v.log.Info("port unbound", zap.String("interface", p.GetInterface()))
}

// sameBindings reports whether a and b hold equal bindings.
func sameBindings(a, b map[string]*protocol.PortBinding) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		if y, ok := b[k]; !ok || !proto.Equal(x, y) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
