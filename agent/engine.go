package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/metrics"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/portchannel"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vxlan"
)

// Engine states, as vemctl show module reports them.
const (
	// EngineCurrent: the datapath holds the last desired state applied.
	EngineCurrent = "current"
	// EngineRolledBack: a desired state failed part-way and the previous
	// one was written back; the datapath holds the previous one.
	EngineRolledBack = "rolled-back"
	// EngineRetrying: writing back failed too; the engine retries the
	// previous state with backoff until the datapath converges.
	EngineRetrying = "retrying"
)

// ErrRefused wraps every error of a desired state the engine refused
// before writing anything.
var ErrRefused = errors.New("desired state refused")

// EngineStatus is what the engine reports of itself.
type EngineStatus struct {
	State     string
	Err       error // the last failure, if any
	Attempts  int   // failed retries since the last success
	NextRetry time.Time
	// LastApplied is when the datapath last became current.
	LastApplied  time.Time
	DriftRepairs uint64 // datapath entries rewritten by resyncs
	LastResync   time.Time
}

// view is an immutable picture of what the engine applied, for readers
// that must not hold the engine's lock (map dumps for show commands).
type view struct {
	sw      *spec.Switch // the base
	plan    *plan
	orphans []orphan
	segIDs  map[string]uint32
	uplink  *uplinkChannel
}

// forwarding turns IPv4 forwarding on and off for an interface
// (bpf_fib_lookup answers only for interfaces that forward).
type forwarding interface {
	Forwarding(iface string) (bool, error)
	SetForwarding(iface string, on bool) error
}

// EngineOptions are the edges of an Engine.
type EngineOptions struct {
	Log      *zap.Logger
	Datapath datapath
	Links    Links
	Limits   spec.Limits
	// Forwarding is the sysctl edge; the real one if nil.
	Forwarding forwarding
	// NextHops keeps remote VTEPs' next hops; nil disables it (tests).
	NextHops func(p *plan, spread func(ifindex int) bool)
	// Identity is this host's persisted LACP identity.
	Identity *identity
	// Steer sets up RPS on a veth vEth; nil for none.
	Steer func(iface string) error
	// RCU expedites grace periods during bulk link changes; nil leaves
	// them alone (tests).
	RCU rcuExpediter
	// SegmentIDs are local segments' IDs from a previous run, kept so
	// that a restart renumbers nothing; Persist is told of every change.
	SegmentIDs        map[string]uint32
	PersistSegmentIDs func(map[string]uint32) error
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Clock is handed to the port-channels; the system clock if nil.
	Clock clock.Clock
	// LinkWatch is the agent's one link watcher, handed to the
	// port-channels; nil lets each start its own.
	LinkWatch portchannel.Links
	// OnReconcile is told of every apply, retry and resync, under the
	// engine's lock (so it must be quick: metrics' atomic updates); nil
	// for none.
	OnReconcile func(metrics.Reconcile)
	// OnWrite is told of every plan written after the first, with the
	// one before it, under the engine's lock (so it must be quick: the
	// MAC announcer only queues); nil for none.
	OnWrite func(prev, next *plan)
}

// Engine applies desired states to the datapath, all or nothing:
// everything that can refuse a state is decided before the first write,
// and a failure part-way is rolled back or retried until it converges.
type Engine struct {
	log     *zap.Logger
	dp      datapath
	links   Links
	lim     spec.Limits
	fwd     forwarding
	hops    func(p *plan, spread func(ifindex int) bool)
	id      *identity
	now     func() time.Time
	saveIDs func(map[string]uint32) error
	watch   portchannel.Links
	clock   clock.Clock
	observe func(metrics.Reconcile)
	onWrite func(prev, next *plan)

	// chUpdates carries port-channel states to the agent's loop.
	chUpdates chan portchannel.State

	mu     sync.Mutex // serialises every write to the datapath
	ifaces Links      // the interfaces as the running operation read them
	slots  *slots
	rec    *reconciler
	uplink *uplinkChannel
	// uplinkGen counts changes of the uplink's port-channel or of its
	// state: a plan made under another generation is made again.
	uplinkGen uint64
	runCtx    context.Context
	segIDs    map[string]uint32
	fwdIf     string // interface whose forwarding this engine turned on
	applied   *prepared
	status    EngineStatus

	cur atomic.Pointer[view]
}

// prepared is a desired state that passed every check: what commit
// writes.
type prepared struct {
	d        Desired
	attached []spec.Port     // the attached ports the base serves
	ovs      map[string]bool // those of attached from the OVS source
	ovsBound map[string]bool // the base's vEths the OVS source sent (VSM mode)
	orphans  []orphan
	ids      map[string]uint32
	// plan, made by prepare on slots under uplinkGen, is written as it
	// is when nothing changed the uplink in between; used once.
	plan      *plan
	slots     *slots
	uplinkGen uint64
}

// NewEngine returns an engine over the datapath; nothing is written until
// Apply.
func NewEngine(o EngineOptions) *Engine {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Forwarding == nil {
		o.Forwarding = sysctlForwarding{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{
		log: o.Log, dp: o.Datapath, links: o.Links, lim: o.Limits, fwd: o.Forwarding,
		hops: o.NextHops, id: o.Identity, now: o.Now, saveIDs: o.PersistSegmentIDs, watch: o.LinkWatch, clock: o.Clock,
		observe:   o.OnReconcile,
		onWrite:   o.OnWrite,
		chUpdates: make(chan portchannel.State, 1),
		slots:     newSlots(),
		rec:       &reconciler{dp: o.Datapath, log: o.Log, linked: map[int]bool{}, steer: o.Steer, rcu: o.RCU},
		segIDs:    maps.Clone(o.SegmentIDs),
		status:    EngineStatus{State: EngineCurrent},
	}
	return e
}

// Adopt takes over the slots of ports a previous agent left in the
// pinned port table, so that no counter is renumbered.
func (e *Engine) Adopt(ports []bpf.Port) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range ports {
		e.slots.adopt(p.Ifindex, p.Slot)
	}
}

// Apply makes d the datapath's state. A state that cannot be applied is
// refused (ErrRefused) before anything is written. A failure while
// writing rolls back to the previous state; if that fails too, the
// engine retries the previous state (Retry) until it converges. Status
// says which.
func (e *Engine) Apply(ctx context.Context, d Desired) (err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.observed(metrics.OpApply, time.Now(), &err)
	e.readInterfaces()
	pr, err := e.prepare(d)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := e.commit(pr); err != nil {
		e.rollback(err)
		return err
	}
	e.applied = pr
	e.status = EngineStatus{State: EngineCurrent, LastApplied: e.now(),
		DriftRepairs: e.status.DriftRepairs, LastResync: e.status.LastResync}
	return nil
}

// Check reports whether d would be applied, writing nothing.
func (e *Engine) Check(d Desired) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.readInterfaces()
	_, err := e.prepare(d)
	return err
}

// rollback writes the previous state back after a failed commit.
func (e *Engine) rollback(cause error) {
	st := EngineStatus{State: EngineRolledBack, Err: cause, LastApplied: e.status.LastApplied,
		DriftRepairs: e.status.DriftRepairs, LastResync: e.status.LastResync}
	if e.applied != nil {
		if err := e.commit(e.applied); err != nil {
			st.State, st.Err = EngineRetrying, fmt.Errorf("%w; rolling back: %w", cause, err)
		}
	}
	e.status = st
}

// Retry applies the last accepted state again while the engine is
// retrying; it reports whether the datapath is current afterwards.
func (e *Engine) Retry() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.readInterfaces()
	if e.status.State != EngineRetrying || e.applied == nil {
		return true
	}
	var err error
	defer e.observed(metrics.OpRetry, time.Now(), &err)
	if err = e.commit(e.applied); err != nil {
		e.status.Err = err
		e.status.Attempts++
		return false
	}
	e.status = EngineStatus{State: EngineCurrent, LastApplied: e.now(),
		DriftRepairs: e.status.DriftRepairs, LastResync: e.status.LastResync}
	return true
}

// SetNextRetry records when the loop retries next, for the views.
func (e *Engine) SetNextRetry(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.NextRetry = t
}

// Status returns the engine's state.
func (e *Engine) Status() EngineStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// prepare decides everything that can refuse d: validation with the
// datapath's limits, interface kinds, the underlay, a plan on a copy of
// the slots. Nothing is written.
func (e *Engine) prepare(d Desired) (*prepared, error) {
	if d.Switch == nil {
		return nil, errors.New("no switch configuration")
	}
	kept, ovs, orphans := resolve(d)
	all := merged(d.Switch, kept)
	if err := all.Validate(spec.ValidateOptions{Limits: &e.lim}); err != nil {
		return nil, relabel(err, d.Switch, kept, ovs)
	}
	if err := e.checkVEthKinds(all); err != nil {
		return nil, err
	}
	ids := segmentIDs(d.Switch, e.segIDs)
	sl := e.slots.clone()
	p, err := buildPlan(d.Switch, kept, ids, e.ifaces, sl, e.uplinkView())
	if err != nil {
		return nil, err
	}
	if err := p.addRemoteMACs(d.RemoteMACs); err != nil {
		return nil, err
	}
	if pc, ok := d.Switch.PortChannel(d.Switch.Uplink); ok {
		if _, err := e.channelConfig(pc); err != nil {
			return nil, err
		}
	}
	return &prepared{d: d, attached: kept, ovs: ovs, ovsBound: setOf(d.OVSBound), orphans: orphans, ids: ids, plan: p, slots: sl, uplinkGen: e.uplinkGen}, nil
}

// commit writes a prepared state: the port-channel, the maps, forwarding
// and next hops.
func (e *Engine) commit(pr *prepared) error {
	sw := pr.d.Switch
	vEths := make([]string, 0, len(sw.Ports)+len(pr.attached))
	for _, p := range sw.Ports {
		vEths = append(vEths, p.Interface)
	}
	for _, p := range pr.attached {
		vEths = append(vEths, p.Interface)
	}
	if err := e.syncChannel(sw, vEths); err != nil {
		return err
	}
	p, err := e.write(pr)
	if err != nil {
		return err
	}
	if err := e.syncForwarding(sw, p); err != nil {
		return err
	}
	if !maps.Equal(e.segIDs, pr.ids) {
		e.segIDs = maps.Clone(pr.ids)
		if e.saveIDs != nil {
			if err := e.saveIDs(e.segIDs); err != nil {
				e.log.Warn("save segment IDs", zap.Error(err))
			}
		}
	}
	return nil
}

// write plans pr against the interfaces as they are now and reconciles
// the maps to the plan; the new view is published once written.
func (e *Engine) write(pr *prepared) (*plan, error) {
	var p *plan
	if pr.plan != nil && pr.uplinkGen == e.uplinkGen {
		// Planned moments ago on the same interfaces and uplink state.
		p, e.slots = pr.plan, pr.slots
	} else {
		var err error
		if p, err = buildPlan(pr.d.Switch, pr.attached, pr.ids, e.ifaces, e.slots, e.uplinkView()); err != nil {
			return nil, err
		}
		if err = p.addRemoteMACs(pr.d.RemoteMACs); err != nil {
			return nil, err
		}
	}
	pr.plan, pr.slots = nil, nil
	p.markSource(pr.ovs, pr.ovsBound, sourceOVS)
	if err := e.rec.apply(p); err != nil {
		return nil, fmt.Errorf("write datapath: %w", err)
	}
	e.slots.retain(func(ifindex int) bool { _, ok := p.ports[ifindex]; return ok })
	prev := e.cur.Swap(&view{sw: pr.d.Switch, plan: p, orphans: pr.orphans, segIDs: pr.ids,
		uplink: e.uplink})
	if e.onWrite != nil && prev != nil {
		e.onWrite(prev.plan, p)
	}
	if p.settings.VTEP.IsValid() && e.hops != nil && (prev == nil || !sameUnderlay(prev, pr.d.Switch, p)) {
		e.hops(p, e.spreadFunc(pr.d.Switch, p))
	}
	return p, nil
}

// replan rewrites the applied state against changed interfaces or a
// port-channel's new state.
func (e *Engine) replan() error {
	if e.applied == nil {
		return nil
	}
	_, err := e.write(e.applied)
	return err
}

// sameUnderlay reports whether the remote VTEPs' next hops written for
// prev serve p as they are: the same VTEPs, local VTEP, uplink and member
// slots. A port attach then does not wait for route and neighbour lookups
// that cannot change what it needs (the loop refreshes them every few
// seconds for what changes outside).
func sameUnderlay(prev *view, sw *spec.Switch, p *plan) bool {
	_, wasPC := prev.sw.PortChannel(prev.sw.Uplink)
	_, isPC := sw.PortChannel(sw.Uplink)
	u := p.settings.UnderlayIfindex
	return wasPC == isPC && prev.plan.settings == p.settings &&
		slices.Equal(prev.plan.remoteVTEPs(), p.remoteVTEPs()) &&
		prev.plan.ports[u].Entry.Slot == p.ports[u].Entry.Slot && reflect.DeepEqual(prev.plan.uplink, p.uplink)
}

func (e *Engine) spreadFunc(sw *spec.Switch, p *plan) func(int) bool {
	_, isPC := sw.PortChannel(sw.Uplink)
	return func(ifindex int) bool { return isPC && ifindex == p.settings.UnderlayIfindex }
}

// syncForwarding keeps IPv4 forwarding on the underlay interface while a
// VTEP needs it, and turns it back off when none does.
func (e *Engine) syncForwarding(sw *spec.Switch, p *plan) error {
	want := ""
	if p.settings.VTEP.IsValid() {
		want = sw.UplinkInterfaces()[0]
	}
	if e.fwdIf != "" && e.fwdIf != want {
		if err := e.fwd.SetForwarding(e.fwdIf, false); err != nil {
			e.log.Warn("turn IPv4 forwarding back off", zap.String("interface", e.fwdIf), zap.Error(err))
		}
		e.fwdIf = ""
	}
	if want == "" {
		return nil
	}
	on, err := e.fwd.Forwarding(want)
	if err != nil {
		return err
	}
	if !on {
		if err := e.fwd.SetForwarding(want, true); err != nil {
			return fmt.Errorf("enable forwarding on %s (route lookups for VXLAN need it): %w", want, err)
		}
		e.fwdIf = want
	}
	return nil
}

// checkVEthKinds refuses vEths that are host interfaces: the loopback,
// anything but a tap or a veth, or an interface that holds addresses.
// A vEth whose interface does not exist is absent, not refused.
func (e *Engine) checkVEthKinds(sw *spec.Switch) error {
	for _, p := range sw.Ports {
		l, err := e.ifaces.Lookup(p.Interface)
		if errors.Is(err, errNoInterface) {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case l.Loopback:
			return fmt.Errorf("port %s: the loopback interface cannot be a vEth", p.Interface)
		case l.Kind != "" && l.Kind != "tuntap" && l.Kind != "veth":
			return fmt.Errorf("port %s: a %s interface cannot be a vEth (a VM's tap or a veth)", p.Interface, l.Kind)
		case len(l.Addrs) > 0 || len(l.HostAddrs) > 0:
			return fmt.Errorf("port %s: the interface holds IP address %s: a host interface, not a VM's",
				p.Interface, slices.Concat(l.Addrs, l.HostAddrs)[0])
		}
	}
	return nil
}

// readInterfaces reads the host's interfaces once for the operation
// that follows: every port is looked up, and one dump beats a request
// per port.
func (e *Engine) readInterfaces() {
	e.ifaces = e.links
	if s, ok := e.links.(snapshotter); ok {
		if snap, err := s.Snapshot(); err == nil {
			e.ifaces = snap
		} else {
			e.log.Warn("read interfaces; looking them up one by one", zap.Error(err))
		}
	}
}

// view returns what the engine last wrote; nil before the first apply.
func (e *Engine) view() *view { return e.cur.Load() }

// uplinkView returns the port-channel state plans are made with.
func (e *Engine) uplinkView() *uplinkState {
	if e.uplink == nil {
		return nil
	}
	return &e.uplink.view
}

// LinkChanged replans when a vEth's interface goes away (its VM stopped:
// the port is absent until it returns) or an absent one returns. It
// reports why, or "" when the event changes nothing.
func (e *Engine) LinkChanged(name string, index int, gone bool) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.view()
	if v == nil {
		return "", nil
	}
	var why string
	if pi, ok := v.plan.ports[index]; gone && ok && pi.Kind == bpf.PortVEth {
		why = "interface gone; the port is absent until it returns"
	}
	if !gone && slices.ContainsFunc(v.plan.absent, func(pi portInfo) bool { return pi.Iface == name }) {
		why = "interface back; the port is bound again"
	}
	if why == "" {
		return "", nil // most events: read nothing (a host has thousands of taps)
	}
	e.readInterfaces()
	return why, e.replan()
}

// ChannelChanged applies a port-channel's new member state.
func (e *Engine) ChannelChanged(st portchannel.State) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.uplink == nil {
		return nil
	}
	// A failover must not wait for a dump of every interface (thousands
	// of taps): the members' state is all that changed, and interface
	// changes replan on their own events with a fresh read.
	e.uplink.view = uplinkState{State: st, Known: true}
	e.uplinkGen++
	return e.replan()
}

// ChannelUpdates delivers port-channel states for ChannelChanged.
func (e *Engine) ChannelUpdates() <-chan portchannel.State { return e.chUpdates }

// Start runs the port-channels until ctx ends.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runCtx = ctx
	if e.uplink != nil {
		e.startChannel()
	}
}

// Resync compares the datapath with the plan last written and rewrites what
// differs (an entry deleted or changed behind the agent's back). It
// returns how many writes that took.
func (e *Engine) Resync() (_ int, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.view()
	if e.applied == nil || v == nil || e.status.State == EngineRetrying {
		return 0, nil
	}
	defer e.observed(metrics.OpResync, time.Now(), &err)
	// Against the plan last written: interface changes arrive as events
	// and replan, so this reads the maps and nothing else (cheap enough
	// to run every few seconds at 4,000 ports).
	count := &countingDatapath{datapath: e.dp}
	e.rec.dp = count
	e.rec.forget()
	err = e.rec.apply(v.plan)
	e.rec.dp = e.dp
	e.status.LastResync = e.now()
	e.status.DriftRepairs += uint64(count.writes)
	return count.writes, err
}

// observed reports an operation that began at start and ended with *err
// to OnReconcile; called deferred, under the engine's lock.
func (e *Engine) observed(op string, start time.Time, err *error) {
	if e.observe != nil {
		e.observe(metrics.Reconcile{Operation: op, Took: time.Since(start), Err: *err,
			State: e.status.State, DriftRepairs: e.status.DriftRepairs})
	}
}

// sysctlForwarding is the real forwarding edge.
type sysctlForwarding struct{}

func (sysctlForwarding) Forwarding(iface string) (bool, error) { return vxlan.Forwarding(iface) }
func (sysctlForwarding) SetForwarding(iface string, on bool) error {
	return vxlan.SetForwarding(iface, on)
}
