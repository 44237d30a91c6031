package libvirtwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/hook"
	"github.com/vem-switch/vem/spec"
)

// Agent is the part of the agent's API the watcher uses; *api.Client is
// one.
type Agent interface {
	Attach(ctx context.Context, p spec.Port) error
	// AttachIncoming attaches the port of a domain migrating in, its MAC
	// announced on Announce.
	AttachIncoming(ctx context.Context, p spec.Port) error
	Detach(ctx context.Context, iface string) error
	Ports(ctx context.Context) ([]api.Port, error)
	// Announce asks for the MAC announcement of a vEth (a domain resumed
	// here after coming in; see announce.go).
	Announce(ctx context.Context, iface string, req api.AnnounceRequest) (api.AnnounceReply, error)
}

// Config is how a Watcher runs. Zero durations take their defaults.
type Config struct {
	// URI is libvirt's connection URI (qemu:///system by default).
	URI   string
	Dial  Dialer
	Agent Agent
	Log   *zap.Logger
	// StatusPath is the JSON status file, "" for none. A file left by an
	// earlier run tells the watcher the taps of domains that stopped
	// while it was down.
	StatusPath string
	// Resync is the period of the full reconciliation (default 1 min).
	Resync time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (default 500 ms, doubling up to 30 s).
	MinBackoff, MaxBackoff time.Duration
	// AgentRetry is the wait before a full reconciliation after an agent
	// call failed on the way (default 2 s).
	AgentRetry time.Duration
	// AgentTimeout bounds each agent call (default 5 s).
	AgentTimeout time.Duration
	// ForgetAfter is how long a domain libvirt no longer knows stays in
	// the status (default 1 h).
	ForgetAfter time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// DefaultURI is the libvirt URI of a KVM host.
const DefaultURI = "qemu:///system"

func (c *Config) defaults() {
	if c.URI == "" {
		c.URI = DefaultURI
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Resync, time.Minute)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.AgentRetry, 2*time.Second)
	def(&c.AgentTimeout, 5*time.Second)
	def(&c.ForgetAfter, time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Watcher reconciles the agent's ports with libvirt's domains.
type Watcher struct {
	cfg Config
	log *zap.Logger

	mu         sync.Mutex
	doms       map[string]*domRec // by UUID
	connected  bool
	connErr    string
	lastResync time.Time
	// resyncs counts full reconciliations, for tests.
	resyncs int
}

// domRec is what the watcher knows of a domain.
type domRec struct {
	name, uuid string
	running    bool
	gone       bool
	goneAt     time.Time
	// incoming is set from a migration's start here until the guest
	// arrives (or the domain stops): ports attached meanwhile are
	// attached incoming.
	incoming bool
	ports    []*portRec // in the order of the domain's interfaces
	// unmatched is the last warning about metadata entries that match
	// no interface, so that it is logged once per change.
	unmatched string
}

// portRec is one vem port of a domain.
type portRec struct {
	key  string // MAC, else the interface's position
	port hook.Port
	// iface is the tap last known for the port: the live target dev,
	// kept after the domain stops (whose inactive XML may not name it).
	iface    string
	state    PortState
	reason   string
	since    time.Time
	attached bool
}

// New returns a Watcher; Run starts it.
func New(cfg Config) (*Watcher, error) {
	cfg.defaults()
	if cfg.Dial == nil || cfg.Agent == nil {
		return nil, errors.New("libvirt watcher: a Dialer and an Agent are required")
	}
	w := &Watcher{cfg: cfg, log: cfg.Log, doms: map[string]*domRec{}}
	if cfg.StatusPath != "" {
		st, err := readStatusIfAny(cfg.StatusPath)
		if err != nil {
			// A damaged file costs only the taps of domains that
			// stopped while the watcher was down.
			w.log.Warn("libvirt watcher: ignoring the previous status", zap.Error(err))
		}
		w.restore(st)
	}
	return w, nil
}

// restore takes the ports of an earlier run's status.
func (w *Watcher) restore(st Status) {
	now := w.cfg.Now()
	for _, p := range st.Ports {
		d := w.doms[p.UUID]
		if d == nil {
			d = &domRec{name: p.Domain, uuid: p.UUID, gone: p.Gone, goneAt: now}
			w.doms[p.UUID] = d
		}
		since, err := time.Parse(time.RFC3339Nano, p.Since)
		if err != nil {
			since = now
		}
		hp := hook.Port{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile}
		d.ports = append(d.ports, &portRec{key: portKey(hp), port: hp, iface: p.Interface, state: p.State, reason: p.Reason, since: since, attached: p.Attached})
		if p.State == Online {
			d.running = true
		}
	}
}

func portKey(p hook.Port) string {
	if p.MAC != "" {
		return p.MAC
	}
	return fmt.Sprintf("#%d", p.Index)
}

// Run connects, reconciles and follows the events until ctx ends,
// reconnecting with backoff whenever the connection fails. It returns nil
// when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := w.cfg.MinBackoff
	for ctx.Err() == nil {
		conn, err := w.cfg.Dial(w.cfg.URI)
		if err != nil {
			w.lost(fmt.Errorf("connect to %s: %w", w.cfg.URI, err))
		} else {
			start := w.cfg.Now()
			err = w.serve(ctx, conn)
			if cerr := conn.Close(); cerr != nil {
				w.log.Debug("libvirt watcher: close the connection", zap.Error(cerr))
			}
			if ctx.Err() != nil {
				break
			}
			w.lost(err)
			if w.cfg.Now().Sub(start) > w.cfg.MaxBackoff {
				backoff = w.cfg.MinBackoff // it had worked for a while
			}
		}
		w.log.Info("libvirt watcher: reconnecting", zap.String("uri", w.cfg.URI), zap.Duration("in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
	// Nobody watches from now on: the states are no longer known.
	w.mu.Lock()
	w.connected, w.connErr = false, "vem-libvirt stopped"
	for _, d := range w.doms {
		for _, p := range d.ports {
			if !d.gone {
				w.setState(d, p, Unknown, "vem-libvirt stopped")
			}
		}
	}
	w.mu.Unlock()
	w.writeStatus()
	return nil
}

// serve runs one connection: a full reconciliation, then its events. It
// returns why the connection is no longer usable (nil when ctx ended).
func (w *Watcher) serve(ctx context.Context, conn Conn) error {
	agentOK, err := w.resync(ctx, conn)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.connected, w.connErr = true, ""
	w.mu.Unlock()
	w.writeStatus()
	w.log.Info("libvirt watcher: connected", zap.String("uri", w.cfg.URI))

	tick := time.NewTicker(w.cfg.Resync)
	defer tick.Stop()
	retry := time.NewTimer(w.cfg.AgentRetry)
	defer retry.Stop()
	if agentOK {
		retry.Stop()
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-conn.Events():
			if !ok {
				return errors.New("libvirt event stream ended")
			}
			if ev.Kind == EventClosed {
				return fmt.Errorf("libvirt closed the connection: %w", ev.Err)
			}
			agentOK, err = w.event(ctx, conn, ev)
		case <-tick.C:
			agentOK, err = w.resync(ctx, conn)
		case <-retry.C:
			agentOK, err = w.resync(ctx, conn)
		}
		if err != nil {
			return err
		}
		if !agentOK {
			retry.Reset(w.cfg.AgentRetry)
		}
		w.writeStatus()
	}
}

// lost marks every port unknown: libvirt cannot be monitored.
func (w *Watcher) lost(err error) {
	w.mu.Lock()
	first := w.connected || w.connErr == ""
	w.connected, w.connErr = false, err.Error()
	for _, d := range w.doms {
		if d.gone {
			continue
		}
		for _, p := range d.ports {
			w.setState(d, p, Unknown, "libvirt unreachable: "+err.Error())
		}
	}
	w.mu.Unlock()
	if first {
		w.log.Warn("libvirt watcher: libvirt unreachable, ports unknown until it is back", zap.String("uri", w.cfg.URI), zap.Error(err))
	} else {
		w.log.Debug("libvirt watcher: still unreachable", zap.Error(err))
	}
	w.writeStatus()
}

// resync reconciles every domain. err is a libvirt failure (the
// connection is unusable); agentOK false asks for a retry.
func (w *Watcher) resync(ctx context.Context, conn Conn) (agentOK bool, err error) {
	doms, err := conn.Domains()
	if err != nil {
		return false, fmt.Errorf("list domains: %w", err)
	}
	aports, aerr := w.agentPorts(ctx)
	agentOK = aerr == nil
	w.mu.Lock()
	defer w.mu.Unlock()
	// Running domains first: their taps are known before a stopped
	// domain's port is looked for (claimed).
	slices.SortStableFunc(doms, func(a, b DomainInfo) int {
		switch {
		case a.Running == b.Running:
			return 0
		case a.Running:
			return -1
		}
		return 1
	})
	seen := map[string]bool{}
	for _, info := range doms {
		seen[info.UUID] = true
		if !w.reconcile(ctx, info, aports, aerr == nil) {
			agentOK = false
		}
	}
	now := w.cfg.Now()
	for uuid, d := range w.doms {
		switch {
		case seen[uuid]:
		case !d.gone:
			if !w.gone(ctx, d, StopUnknown, aports, aerr == nil) {
				agentOK = false
			}
		case now.Sub(d.goneAt) > w.cfg.ForgetAfter:
			delete(w.doms, uuid)
		}
	}
	w.lastResync = now
	w.resyncs++
	return agentOK, nil
}

// event reconciles the domain an event concerns, as libvirt has it now:
// a late event of a domain that has started again leaves it running.
func (w *Watcher) event(ctx context.Context, conn Conn, ev Event) (agentOK bool, err error) {
	w.log.Debug("libvirt watcher: event", zap.String("domain", ev.Domain), zap.Stringer("kind", ev.Kind),
		zap.Stringer("life", ev.Life), zap.Stringer("reason", ev.Reason), zap.String("device", ev.Device),
		zap.Stringer("arrival", ev.Arrival))
	info, err := conn.Domain(ev.UUID)
	gone := errors.Is(err, ErrNoDomain)
	if err != nil && !gone {
		return false, fmt.Errorf("domain %s: %w", ev.Domain, err)
	}
	reason := StopUnknown
	switch ev.Life {
	case LifeStopped:
		reason = ev.Reason
	case LifeCrashed:
		reason = StopCrashed
	}
	if !gone && !info.Running && (ev.Life == LifeStopped || ev.Life == LifeCrashed) {
		// The event's detail is what happened; the state reason of a
		// crashed-then-destroyed domain would say destroyed.
		info.Reason = reason
	}
	aports, aerr := w.agentPorts(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Incoming && !gone {
		d := w.doms[ev.UUID]
		if d == nil {
			d = &domRec{uuid: ev.UUID, name: ev.Domain}
			w.doms[ev.UUID] = d
		}
		d.incoming = true
	}
	if gone {
		d := w.doms[ev.UUID]
		if d == nil || d.gone {
			return true, nil
		}
		if reason == StopUnknown && !d.running {
			// Undefined after it stopped: keep the stop's state.
			d.gone, d.goneAt = true, w.cfg.Now()
			return true, nil
		}
		return w.gone(ctx, d, reason, aports, aerr == nil) && aerr == nil, nil
	}
	ok := w.reconcile(ctx, info, aports, aerr == nil) && aerr == nil
	if d := w.doms[ev.UUID]; d != nil && ev.Arrival != ArrivalNone && info.Running {
		d.incoming = false
		w.announce(ctx, d, ev.Arrival)
	}
	return ok, nil
}

func (w *Watcher) agentPorts(ctx context.Context) ([]api.Port, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.AgentTimeout)
	defer cancel()
	ps, err := w.cfg.Agent.Ports(ctx)
	if err != nil {
		w.log.Warn("libvirt watcher: list the agent's ports", zap.Error(err))
		return nil, fmt.Errorf("list the agent's ports: %w", err)
	}
	return ps, nil
}

// reconcile brings the agent's ports of one domain in line with it. It
// reports false when an agent call failed on the way (retry later).
// w.mu is held.
func (w *Watcher) reconcile(ctx context.Context, info DomainInfo, aports []api.Port, haveAgent bool) bool {
	d := w.doms[info.UUID]
	if d == nil {
		d = &domRec{uuid: info.UUID}
		w.doms[info.UUID] = d
	}
	d.name, d.gone = info.Name, false
	parsed, err := hook.ParseDomain(info.XML)
	if err != nil {
		// Keep what is known of its ports: a refused XML changes nothing.
		w.log.Warn("libvirt watcher: domain XML refused, its ports stay as they are", zap.String("domain", info.Name), zap.Error(err))
		if info.Running {
			d.running = true
			return true
		}
		parsed = &hook.Domain{}
		for _, p := range d.ports {
			parsed.Ports = append(parsed.Ports, p.port)
		}
	}
	if u := strings.Join(parsed.Unmatched, ", "); u != d.unmatched {
		d.unmatched = u
		if u != "" {
			w.log.Warn("libvirt watcher: vem metadata entries match no interface of the domain; ignored",
				zap.String("domain", info.Name), zap.Strings("entries", parsed.Unmatched))
		}
	}
	// Match the XML's ports to the known ones; ports no longer in the
	// XML were unplugged.
	var next []*portRec
	ok := true
	for _, hp := range parsed.Ports {
		key := portKey(hp)
		i := slices.IndexFunc(d.ports, func(p *portRec) bool { return p.key == key })
		var p *portRec
		if i >= 0 {
			p = d.ports[i]
			d.ports = slices.Delete(d.ports, i, i+1)
		} else {
			p = &portRec{key: key}
		}
		if hp.Interface == "" && !info.Running {
			hp.Interface = p.port.Interface // inactive XML without the tap
		}
		p.port = hp
		next = append(next, p)
	}
	for _, p := range d.ports {
		// Unplugged, or the whole domain gone from the XML's view.
		if !w.detach(ctx, d, p, aports, haveAgent) {
			ok = false
		}
		w.log.Info("libvirt watcher: port removed from the domain", zap.String("domain", d.name), zap.String("interface", p.iface), zap.String("mac", p.port.MAC))
	}
	d.ports = next
	d.running = info.Running
	if !info.Running {
		d.incoming = false
	}
	for _, p := range d.ports {
		if info.Running {
			if !w.up(ctx, d, p, aports, haveAgent) {
				ok = false
			}
			continue
		}
		if !w.detach(ctx, d, p, aports, haveAgent) {
			ok = false
		}
		st, why := info.Reason.state()
		if p.state == st && st != Offline {
			why = p.reason // keep the event's wording
		}
		w.setState(d, p, st, why)
	}
	return ok
}

// gone handles a domain libvirt no longer knows: its ports go the way of
// the stop reason and are detached. w.mu is held.
func (w *Watcher) gone(ctx context.Context, d *domRec, reason StopReason, aports []api.Port, haveAgent bool) bool {
	ok := true
	st, why := reason.state()
	for _, p := range d.ports {
		if !w.detach(ctx, d, p, aports, haveAgent) {
			ok = false
		}
		if reason == StopUnknown && (p.state == IntentionalOffline || p.state == Faulted) {
			continue // stopped earlier, for a known reason
		}
		if reason == StopUnknown {
			why = "domain no longer defined"
		}
		w.setState(d, p, st, why)
	}
	d.running, d.gone, d.goneAt = false, true, w.cfg.Now()
	return ok
}

// up attaches a running domain's port unless the agent has it as it
// should be. w.mu is held.
func (w *Watcher) up(ctx context.Context, d *domRec, p *portRec, aports []api.Port, haveAgent bool) bool {
	hp := p.port
	if err := hp.Check(true); err != nil {
		w.setState(d, p, Faulted, "cannot attach: "+err.Error())
		return true
	}
	// A tap renamed since (vnet3 then vnet5 after a restart unseen):
	// the old name's port, if still the agent's with this MAC, goes.
	if p.iface != "" && p.iface != hp.Interface && p.attached {
		old := *p
		if !w.detach(ctx, d, &old, aports, haveAgent) {
			return false
		}
	}
	p.iface = hp.Interface
	if haveAgent {
		if i := slices.IndexFunc(aports, func(a api.Port) bool { return a.Interface == hp.Interface && a.Source == "attached" }); i >= 0 {
			a := aports[i]
			// An attach without a profile gets the agent's default one.
			if a.MAC == hp.MAC && a.Segment == hp.Segment && (hp.Profile == "" || a.Profile == hp.Profile) {
				p.attached = true
				w.setState(d, p, Online, "attached")
				return true
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.AgentTimeout)
	defer cancel()
	attach := w.cfg.Agent.Attach
	if d.incoming {
		attach = w.cfg.Agent.AttachIncoming // the guest still runs on the source
	}
	err := attach(ctx, hp.Request())
	if errors.Is(err, api.ErrConflict) && haveAgent && slices.ContainsFunc(aports, func(a api.Port) bool { return a.Interface == hp.Interface && a.Source == "attached" }) {
		// Attached with another configuration: the domain's XML is the
		// truth for its own tap.
		w.log.Info("libvirt watcher: port attached with another configuration, replacing it", zap.String("domain", d.name), zap.String("interface", hp.Interface))
		if err = w.cfg.Agent.Detach(ctx, hp.Interface); err == nil || errors.Is(err, api.ErrNotFound) {
			err = attach(ctx, hp.Request())
		}
	}
	if err != nil {
		p.attached = false
		var ae *api.Error
		if errors.As(err, &ae) {
			w.setState(d, p, Faulted, "attach refused by vem-agent: "+err.Error())
			return true // retrying would be refused again
		}
		w.setState(d, p, Faulted, "vem-agent unreachable: "+err.Error())
		return false
	}
	if !p.attached || p.state != Online {
		w.log.Info("libvirt watcher: port attached", zap.String("domain", d.name), zap.String("interface", hp.Interface),
			zap.String("mac", hp.MAC), zap.String("segment", hp.Segment))
	}
	p.attached = true
	w.setState(d, p, Online, "attached")
	return true
}

// detach takes a stopped domain's port off the agent: the tap it last had,
// if the agent has it with the port's MAC (a vnetN name may be another
// domain's by now), else an attached port with the MAC whose interface is
// gone. Without the agent's port list it detaches nothing (retry).
// w.mu is held.
func (w *Watcher) detach(ctx context.Context, d *domRec, p *portRec, aports []api.Port, haveAgent bool) bool {
	if !haveAgent {
		return !p.attached
	}
	var iface string
	for _, name := range []string{p.iface, p.port.Interface} {
		if name == "" || w.claimed(d, name) {
			continue
		}
		if slices.ContainsFunc(aports, func(a api.Port) bool {
			return a.Interface == name && a.Source == "attached" && (a.MAC == p.port.MAC || p.port.MAC == "")
		}) {
			iface = name
			break
		}
	}
	if iface == "" && p.port.MAC != "" {
		if i := slices.IndexFunc(aports, func(a api.Port) bool {
			return a.MAC == p.port.MAC && a.Source == "attached" && a.State == api.PortAbsent && a.Interface != "" && !w.claimed(d, a.Interface)
		}); i >= 0 {
			iface = aports[i].Interface
		}
	}
	if iface == "" {
		p.attached = false
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.AgentTimeout)
	defer cancel()
	if err := w.cfg.Agent.Detach(ctx, iface); err != nil && !errors.Is(err, api.ErrNotFound) {
		w.log.Warn("libvirt watcher: detach", zap.String("domain", d.name), zap.String("interface", iface), zap.Error(err))
		var ae *api.Error
		return errors.As(err, &ae) // refused: retrying changes nothing
	}
	w.log.Info("libvirt watcher: port detached", zap.String("domain", d.name), zap.String("interface", iface), zap.String("mac", p.port.MAC))
	p.attached = false
	return true
}

// claimed reports whether a running domain other than d has a vem port on
// the interface. w.mu is held.
func (w *Watcher) claimed(d *domRec, iface string) bool {
	for _, o := range w.doms {
		if o == d || !o.running || o.gone {
			continue
		}
		for _, p := range o.ports {
			if p.port.Interface == iface {
				return true
			}
		}
	}
	return false
}

// setState records a port's state, logging a transition. w.mu is held.
func (w *Watcher) setState(d *domRec, p *portRec, st PortState, reason string) {
	if p.state == st && p.reason == reason {
		return
	}
	from := p.state
	p.reason = reason
	if p.state == st {
		return // same state, new wording
	}
	p.state, p.since = st, w.cfg.Now()
	fields := []zap.Field{zap.String("domain", d.name), zap.String("interface", p.iface), zap.String("mac", p.port.MAC),
		zap.String("segment", p.port.Segment), zap.String("from", string(from)), zap.String("to", string(st)), zap.String("reason", reason)}
	if st == Faulted {
		w.log.Warn("libvirt watcher: port state", fields...)
	} else {
		w.log.Info("libvirt watcher: port state", fields...)
	}
}

// Status returns the watcher's view.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Status{URI: w.cfg.URI, Connected: w.connected, Error: w.connErr, Ports: []PortStatus{}}
	if !w.lastResync.IsZero() {
		st.LastResync = w.lastResync.UTC().Format(time.RFC3339Nano)
	}
	uuids := make([]string, 0, len(w.doms))
	for u := range w.doms {
		uuids = append(uuids, u)
	}
	slices.SortFunc(uuids, func(a, b string) int {
		if c := strings.Compare(w.doms[a].name, w.doms[b].name); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, u := range uuids {
		d := w.doms[u]
		for _, p := range d.ports {
			iface := p.port.Interface
			if iface == "" {
				iface = p.iface
			}
			st.Ports = append(st.Ports, PortStatus{Domain: d.name, UUID: d.uuid, Interface: iface, MAC: p.port.MAC,
				Segment: p.port.Segment, Profile: p.port.Profile, State: p.state, Reason: p.reason,
				Since: p.since.UTC().Format(time.RFC3339Nano), Attached: p.attached, Gone: d.gone})
		}
	}
	return st
}

func (w *Watcher) writeStatus() {
	if w.cfg.StatusPath == "" {
		return
	}
	if err := writeStatus(w.cfg.StatusPath, w.Status()); err != nil {
		w.log.Warn("libvirt watcher: status file", zap.String("path", w.cfg.StatusPath), zap.Error(err))
	}
}
