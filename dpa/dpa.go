package dpa

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// DPA is the VEM's Data Path Agent. Make one with New, run it with Run;
// its other methods are safe for concurrent use.
type DPA struct {
	cfg   Config
	clock clock.Clock
	log   *zap.Logger

	// applyMu serialises the Applier's calls and checkpoint saves;
	// portMu the port events sent to the VSM. Either is taken before mu,
	// never while holding it, and portMu before applyMu (a queued port
	// event is checkpointed).
	applyMu sync.Mutex
	portMu  sync.Mutex

	mu     sync.Mutex
	vsms   []*vsm // in configured order
	state  State
	target *vsm // the VSM attached to, or asked to attach to; nil: none
	// reason is why target was asked.
	reason protocol.AttachReason
	// watchSince is when the current wait for target (or for any VSM)
	// began: the headless deadline counts from it at the earliest.
	watchSince   time.Time
	timer        clock.Timer
	attachedName string
	// prev is the VSM of the last attachment, kept through headless: when
	// the VEM attaches elsewhere, that VSM is told (Detach) if its session
	// is open, so that it stops counting this VEM as its module.
	prev          *vsm
	epoch         uint64
	module        uint32
	generation    uint64
	current       *spec.Switch
	bindings      []headless.Binding
	macs          map[macKey]string // remote MAC -> VTEP
	queue         []portEvent
	headlessSince time.Time
	headlessTotal time.Duration
	// missedUntil is how far back the missed heartbeats have been counted.
	missedUntil time.Time
	// targetStandbySince is when target's heartbeats first said it is not
	// active (zero while they say active): see followActive.
	targetStandbySince time.Time
	// attachGen is the newest generation received since the last attach:
	// an older one on the same attachment is a replay, and refused.
	attachGen uint64
	counters  Counters
}

// vsm is one configured VSM.
type vsm struct {
	addr string
	// sess is the open session, nil while there is none; facts are what
	// its Hello said.
	sess  Session
	facts Facts
	name  string
	// hb is its latest heartbeat, heard when it came; heardActive is when
	// it last said it was active.
	hb          *protocol.Heartbeat
	heard       time.Time
	heardActive time.Time
	// redial, when set, is an attach to request once the session has
	// been reopened with the current facts.
	redial protocol.AttachReason
	// seq is the highest heartbeat sequence number of the session: a
	// heartbeat not above it is a replay, and ignored.
	seq uint64
	// asked is set while an attach request on the session waits for its
	// AttachAccepted: one that comes unasked (a replay) is ignored.
	asked bool
}

// macKey names a remote MAC in a bridge domain.
type macKey struct {
	vni uint32
	mac string
}

// New makes a DPA from its configuration; Run starts it.
func New(cfg Config) (*DPA, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &DPA{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, state: StateConnecting, macs: map[macKey]string{}}
	for _, a := range cfg.Addresses {
		d.vsms = append(d.vsms, &vsm{addr: a})
	}
	if r := cfg.Restored; r != nil {
		d.generation, d.module, d.epoch, d.current = r.Generation, r.Module, r.Epoch, r.Switch
		d.bindings = append(d.bindings, r.Bindings...)
		for _, m := range r.RemoteMACs {
			d.macs[macKey{m.VNI, m.MAC}] = m.VTEP
		}
		for _, e := range r.PortEvents {
			d.queue = append(d.queue, portEventOf(e))
		}
		if r.HeadlessSince != nil {
			// Headless when the agent stopped: headless again at once,
			// since the same time, until a VSM takes it.
			d.state, d.headlessSince = StateHeadless, *r.HeadlessSince
		}
	}
	return d, nil
}

// Facts are what the VEM holds now, for the next Hello.
func (d *DPA) Facts() Facts {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.factsLocked()
}

func (d *DPA) factsLocked() Facts { return Facts{LastGeneration: d.generation, Module: d.module} }

// Current is the last configuration applied (nil before any).
func (d *DPA) Current() *spec.Switch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// Serves reports whether the last configuration applied knows the
// port's segment and profile: the agent applies such a port at once,
// whatever the DPA's state, beside sending its attach.
func (d *DPA) Serves(p spec.Port) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current == nil {
		return false
	}
	if _, ok := d.current.Segment(p.Segment); !ok {
		return false
	}
	if p.Profile == "" {
		return true
	}
	_, ok := d.current.Profile(p.Profile)
	return ok
}

// Bindings are the port bindings the VSM made, as last heard.
func (d *DPA) Bindings() []headless.Binding {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]headless.Binding(nil), d.bindings...)
}

// vsmAt is the configured VSM at addr.
func (d *DPA) vsmAt(addr string) *vsm {
	for _, v := range d.vsms {
		if v.addr == addr {
			return v
		}
	}
	return nil
}

// begin (re)starts the state machine at a start of the loop: no session
// is open, so no VSM has this VEM as a module; a headless VEM stays
// headless until it attaches.
func (d *DPA) begin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	for _, v := range d.vsms {
		v.sess, v.hb, v.redial = nil, nil, 0
	}
	if d.state == StateAttached {
		d.state = StateConnecting
	}
	d.target, d.attachedName, d.watchSince = nil, "", now
	d.armTimer(now)
}

// end stops the timer when the loop ends.
func (d *DPA) end() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// up records a session opened with v.
func (d *DPA) up(v *vsm, s Session, f Facts) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v.sess, v.facts, v.name, v.seq, v.asked = s, f, s.Name(), 0, false
	d.log.Info("session open", zap.String("vsm", v.name), zap.String("address", v.addr),
		zap.Uint64("generation", f.LastGeneration), zap.Uint32("module", f.Module))
	if d.target != v {
		return
	}
	reason := v.redial
	v.redial = 0
	if reason == 0 {
		// The session to our VSM was lost and is back: the VSM dropped
		// this VEM with it, so attach again.
		reason = protocol.AttachReason_ATTACH_REASON_INITIAL
		if d.state == StateHeadless {
			reason = protocol.AttachReason_ATTACH_REASON_HEADLESS
		}
	}
	if d.state == StateAttached {
		d.state, d.attachedName = StateConnecting, ""
	}
	d.requestAttach(v, reason, d.clock.Now())
}

// down records the end of a session.
func (d *DPA) down(v *vsm, s Session, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v.sess != s {
		return
	}
	v.sess = nil
	d.log.Info("session ended", zap.String("vsm", v.name), zap.String("address", v.addr), zap.Error(err))
}

// handle takes one event of v's session s. What must not run under the
// state lock (the Applier, sends that may wait) runs after it.
func (d *DPA) handle(ctx context.Context, v *vsm, s Session, ev protocol.Event) {
	var after []func()
	d.mu.Lock()
	if v.sess == s {
		after = d.event(ctx, v, ev)
	}
	d.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// event dispatches an event under the state lock.
func (d *DPA) event(ctx context.Context, v *vsm, ev protocol.Event) []func() {
	now := d.clock.Now()
	switch e := ev.(type) {
	case *protocol.Heartbeat:
		return d.heartbeat(ctx, v, e, now)
	case *protocol.SwitchRequest:
		return d.switchRequest(ctx, v, e, now)
	case *protocol.AttachAccepted:
		return d.attachAccepted(ctx, v, e, now)
	case *protocol.Config:
		if d.target != v || d.state != StateAttached {
			d.log.Warn("configuration from a VSM this VEM is not attached to", zap.String("vsm", v.name),
				zap.Uint64("generation", e.Generation))
			return []func(){func() { d.nack(v, e, fmt.Errorf("not attached to %s", v.name)) }}
		}
		if e.Generation < d.attachGen {
			// Generations only grow on one attachment (a VSM that rolls
			// back detaches its VEMs first): this is a replay.
			d.counters.ConfigsRefused++
			d.log.Warn("configuration refused: older than one already received", zap.String("vsm", v.name),
				zap.Uint64("generation", e.Generation), zap.Uint64("received", d.attachGen))
			err := fmt.Errorf("generation %d is older than %d, already received from %s", e.Generation, d.attachGen, v.name)
			return []func(){func() { d.nack(v, e, err) }}
		}
		d.attachGen = e.Generation
		return []func(){func() { d.applyConfig(ctx, v, e) }}
	case *protocol.PortBinding:
		if d.target != v {
			return nil
		}
		d.bind(e)
		return []func(){func() { d.applyMu.Lock(); defer d.applyMu.Unlock(); d.checkpoint() }}
	case *protocol.MacUpdate:
		if d.target != v {
			return nil
		}
		d.updateMACs(e)
		return []func(){func() { d.applyMACs(ctx) }}
	}
	return nil
}

// active reports whether a heartbeat says its VSM is active.
func active(hb *protocol.Heartbeat) bool { return hb.GetState() == protocol.State_STATE_ACTIVE }

// heartbeat records v's heartbeat. It is the only thing that keeps the
// VEM from going headless, and, with no VSM of its own, what makes it
// attach to an active one.
func (d *DPA) heartbeat(ctx context.Context, v *vsm, hb *protocol.Heartbeat, now time.Time) []func() {
	if hb.GetSeq() <= v.seq {
		d.log.Warn("heartbeat ignored: replayed (sequence number not above the last)", zap.String("vsm", v.name),
			zap.Uint64("seq", hb.GetSeq()), zap.Uint64("last", v.seq))
		return nil
	}
	v.seq = hb.GetSeq()
	if d.target == v && active(hb) {
		d.countMissed(v, now)
	}
	v.hb, v.heard = hb, now
	if active(hb) {
		v.heardActive = now
	}
	switch {
	case d.target == v:
		if !active(hb) {
			// Its epoch is the pair's, not the one this VEM attached at.
			if d.targetStandbySince.IsZero() {
				d.targetStandbySince = now
			}
			return d.followActive(ctx, now)
		}
		d.targetStandbySince = time.Time{}
		if d.state == StateAttached && hb.GetEpoch() > d.epoch {
			d.epoch = hb.GetEpoch()
		}
	case d.target == nil:
		if active(hb) {
			reason := protocol.AttachReason_ATTACH_REASON_INITIAL
			if d.state == StateHeadless {
				reason = protocol.AttachReason_ATTACH_REASON_HEADLESS
			}
			d.attachBest(reason, now)
		}
	case active(hb):
		if d.target.hb != nil && !active(d.target.hb) {
			return d.followActive(ctx, now)
		}
		// Another active VSM while this VEM's own is active too (a split
		// brain): ignored until a switch request or headless.
		d.counters.HeartbeatsIgnored++
	}
	return nil
}

// followActiveAfter is how long a VEM's own VSM must have said it is not
// active before the VEM follows the active VSM without its switch
// request: the request, sent as the new active takes over, normally
// comes first.
const followActiveAfter = 2 * HeartbeatInterval

// followActive moves an attached VEM whose own VSM has said for
// followActiveAfter that it is not active (a switchover made it standby)
// to the active VSM of a higher epoch, if one is heard: as its switch
// request would have, had the VEM not been between sessions to it when
// it was sent (a session reopened to say the VEM's new module, say). A
// standby configures no VEM, so staying would only wait for headless.
// While its own VSM is active, a VEM still follows only a switch request.
func (d *DPA) followActive(ctx context.Context, now time.Time) []func() {
	if d.state != StateAttached || d.targetStandbySince.IsZero() || now.Sub(d.targetStandbySince) < followActiveAfter {
		return nil
	}
	var best *vsm
	for _, v := range d.vsms {
		if v == d.target || v.sess == nil || v.hb == nil || !active(v.hb) || v.hb.GetEpoch() <= d.epoch ||
			now.Sub(v.heardActive) >= d.cfg.HeadlessAfter {
			continue
		}
		if best == nil || v.hb.GetEpoch() > best.hb.GetEpoch() {
			best = v
		}
	}
	if best == nil {
		return nil
	}
	d.log.Info("its VSM is no longer active: following the active VSM", zap.String("from", d.target.name),
		zap.String("vsm", best.name), zap.Uint64("epoch", best.hb.GetEpoch()))
	return d.moveTo(ctx, best, best.hb.GetEpoch(), protocol.AttachReason_ATTACH_REASON_SWITCH_REQUEST,
		"no longer active; "+best.name+" is", now)
}

// countMissed counts the heartbeat intervals target stayed silent.
func (d *DPA) countMissed(v *vsm, now time.Time) {
	last := v.heardActive
	if d.missedUntil.After(last) {
		last = d.missedUntil
	}
	if last.IsZero() {
		return
	}
	if gap := now.Sub(last); gap > HeartbeatInterval*3/2 {
		d.counters.HeartbeatsMissed += uint64((gap+HeartbeatInterval/2)/HeartbeatInterval) - 1
	}
}

// attachBest asks the reachable active VSM with the highest epoch (the
// first configured among equals) to take this VEM, reporting whether
// there was one. Reachable: a session open and an active heartbeat
// within HeadlessAfter.
func (d *DPA) attachBest(reason protocol.AttachReason, now time.Time) bool {
	var best *vsm
	for _, v := range d.vsms {
		if v.sess == nil || v.hb == nil || !active(v.hb) || now.Sub(v.heardActive) >= d.cfg.HeadlessAfter {
			continue
		}
		if best == nil || v.hb.GetEpoch() > best.hb.GetEpoch() {
			best = v
		}
	}
	if best == nil {
		return false
	}
	d.requestAttach(best, reason, now)
	return true
}

// refreshSpread is the window over which, once attached, the VEM reopens
// its sessions to the other VSMs whose Hello named another module: at
// random within it, so that thousands of VEMs attaching together do not
// all redial the standby at once, and a switchover later finds every
// session current (no handshake storm on the new active).
const refreshSpread = 5 * time.Second

// requestAttach makes v the target and asks it to attach this VEM. A
// session whose Hello named another module than the VEM holds now is
// reopened first, so that the VSM keeps the module. (The generation is
// informative only: the VSM sends a full snapshot on every attach, so a
// session is not reopened for a newer one.)
func (d *DPA) requestAttach(v *vsm, reason protocol.AttachReason, now time.Time) {
	d.target, d.reason, d.watchSince = v, reason, now
	d.targetStandbySince = time.Time{}
	d.armTimer(now)
	if v.sess == nil {
		v.redial = reason
		return
	}
	if f := d.factsLocked(); v.facts.Module != f.Module {
		d.log.Info("reopening the session to say what this VEM holds", zap.String("vsm", v.name),
			zap.Uint64("generation", f.LastGeneration), zap.Uint32("module", f.Module))
		v.redial = reason
		v.sess.Close()
		return
	}
	d.log.Info("attach requested", zap.String("vsm", v.name), zap.Stringer("reason", reason))
	if err := v.sess.RequestAttach(reason); err != nil {
		d.log.Warn("attach request not sent", zap.String("vsm", v.name), zap.Error(err))
		return
	}
	v.asked = true
}

// switchRequest follows a switch request from v if it is v's own and its
// epoch is higher than the attached VSM's; it is ignored and counted
// otherwise.
func (d *DPA) switchRequest(ctx context.Context, v *vsm, sr *protocol.SwitchRequest, now time.Time) []func() {
	if sr.GetName() != v.name {
		d.counters.SwitchRequestsIgnored++
		d.log.Warn("switch request ignored: not from its session's VSM", zap.String("session", v.name),
			zap.String("claims", sr.GetName()))
		return nil
	}
	if sr.GetEpoch() <= d.epoch {
		d.counters.SwitchRequestsIgnored++
		d.log.Warn("switch request ignored: stale epoch", zap.String("vsm", v.name),
			zap.Uint64("epoch", sr.GetEpoch()), zap.Uint64("attachedEpoch", d.epoch))
		return nil
	}
	d.counters.SwitchRequestsAccepted++
	d.log.Info("switch request accepted", zap.String("vsm", v.name), zap.Uint64("epoch", sr.GetEpoch()))
	return d.moveTo(ctx, v, sr.GetEpoch(), protocol.AttachReason_ATTACH_REASON_SWITCH_REQUEST, "switch request from "+v.name, now)
}

// moveTo detaches from the VEM's VSM (telling it why, after the lock)
// and asks v to attach it at epoch.
func (d *DPA) moveTo(ctx context.Context, v *vsm, epoch uint64, reason protocol.AttachReason, why string, now time.Time) []func() {
	var after []func()
	if old := d.target; old != nil && old != v && old.sess != nil {
		s, from := old.sess, old.name
		after = append(after, func() {
			if err := s.Detach(ctx, why); err != nil {
				d.log.Warn("detach not sent", zap.String("vsm", from), zap.Error(err))
			}
		})
	}
	if old := d.target; old == d.prev && old != v {
		d.prev = nil // told above
	}
	d.epoch = epoch
	if d.state == StateAttached {
		d.state = StateConnecting
	}
	d.attachedName = ""
	d.requestAttach(v, reason, now)
	return after
}

// attachAccepted makes the VEM v's module; queued port events follow.
func (d *DPA) attachAccepted(ctx context.Context, v *vsm, a *protocol.AttachAccepted, now time.Time) []func() {
	if d.target != v || !v.asked {
		d.log.Warn("attach accepted ignored: not asked (a replay, or from a VSM not asked)", zap.String("vsm", v.name),
			zap.Uint32("module", a.GetModule()), zap.Uint64("epoch", a.GetEpoch()))
		return nil
	}
	v.asked = false
	d.attachGen = 0
	if d.state == StateHeadless {
		d.headlessTotal += now.Sub(d.headlessSince)
		d.headlessSince = time.Time{}
		d.log.Info("headless ended", zap.String("vsm", v.name))
	}
	if d.module != 0 && a.GetModule() != d.module {
		d.log.Warn("module number changed", zap.Uint32("was", d.module), zap.Uint32("now", a.GetModule()))
	}
	d.state, d.attachedName, d.module = StateAttached, v.name, a.GetModule()
	if a.GetEpoch() > d.epoch {
		d.epoch = a.GetEpoch()
	}
	if now.After(v.heardActive) {
		v.heardActive = now
	}
	d.watchSince = now
	d.log.Info("attached", zap.String("vsm", v.name), zap.Uint32("module", d.module), zap.Uint64("epoch", d.epoch))
	var after []func()
	if p := d.prev; p != nil && p != v && p.sess != nil {
		// Attached elsewhere after headless: the VSM lost may still hold
		// this VEM as its module (its session stalled, not ended).
		s, from := p.sess, p.name
		after = append(after, func() {
			if err := s.Detach(ctx, "attached to "+v.name); err != nil {
				d.log.Warn("detach not sent", zap.String("vsm", from), zap.Error(err))
			}
		})
	}
	d.prev = v
	for _, u := range d.vsms {
		if u != v && u.sess != nil && u.facts.Module != d.module {
			s := u.sess
			after = append(after, func() {
				d.clock.AfterFunc(rand.N(refreshSpread), func() { d.refresh(u, s) })
			})
		}
	}
	return append(after,
		func() { d.replay(ctx) },
		func() { d.applyMu.Lock(); defer d.applyMu.Unlock(); d.checkpoint() },
	)
}

// refresh reopens s, u's session, if its Hello still names another
// module than the VEM's and u is not the VSM it is attaching to (that
// path reopens by itself): the connector redials with the current facts.
func (d *DPA) refresh(u *vsm, s Session) {
	d.mu.Lock()
	stale := u.sess == s && u != d.target && u.redial == 0 && u.facts.Module != d.module
	module := d.module
	d.mu.Unlock()
	if stale {
		d.log.Debug("reopening the session to say the module", zap.String("vsm", u.name), zap.Uint32("module", module))
		s.Close()
	}
}

// armTimer (re)arms the headless timer for the current deadline; none is
// needed while headless with no VSM asked.
func (d *DPA) armTimer(now time.Time) {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.state == StateHeadless && d.target == nil {
		return
	}
	d.timer = d.clock.AfterFunc(d.deadline().Sub(now), d.expire)
}

// deadline is when the VEM goes headless if target stays silent: the
// latest active heartbeat (the session's own record counts too, for a
// loop busy applying), or the start of the wait, plus HeadlessAfter.
func (d *DPA) deadline() time.Time {
	base := d.watchSince
	if t := d.target; t != nil {
		if t.heardActive.After(base) {
			base = t.heardActive
		}
		if t.sess != nil {
			// Taken off the wire but not handled yet: newer than the last
			// handled (a replay is not).
			if hb, at := t.sess.LastHeartbeat(); hb != nil && active(hb) && hb.GetSeq() > t.seq && at.After(base) {
				base = at
			}
		}
	}
	return base.Add(d.cfg.HeadlessAfter)
}

// expire is the headless timer: headless if the deadline has passed,
// else armed again for it.
func (d *DPA) expire() {
	d.mu.Lock()
	d.timer = nil
	now := d.clock.Now()
	if now.Before(d.deadline()) {
		d.armTimer(now)
		d.mu.Unlock()
		return
	}
	entered := d.goHeadless(now)
	d.mu.Unlock()
	if entered {
		// A restart from now on resumes headless.
		d.applyMu.Lock()
		defer d.applyMu.Unlock()
		d.checkpoint()
	}
}

// goHeadless enters (or stays in) headless mode: the datapath keeps the
// last configuration, and the VEM attaches to the best reachable active
// VSM if there is one. It reports whether the VEM entered it now.
func (d *DPA) goHeadless(now time.Time) bool {
	if lost := d.target; lost != nil {
		last := lost.heardActive
		if d.missedUntil.After(last) {
			last = d.missedUntil
		}
		if !last.IsZero() {
			d.counters.HeartbeatsMissed += uint64(now.Sub(last) / HeartbeatInterval)
		}
		d.missedUntil = now
	}
	entered := d.state != StateHeadless
	if entered {
		d.state, d.headlessSince = StateHeadless, now
		d.counters.HeadlessEntries++
		d.log.Warn("headless: no heartbeat from the VSM", zap.String("vsm", d.attachedName),
			zap.Duration("after", d.cfg.HeadlessAfter), zap.Uint64("generation", d.generation))
	}
	d.target, d.attachedName = nil, ""
	if !d.attachBest(protocol.AttachReason_ATTACH_REASON_HEADLESS, now) {
		d.armTimer(now)
	}
	return entered
}
