package vems

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/store"
)

// DefaultHeartbeatInterval is how often a VSM sends its heartbeat to
// every VEM.
const DefaultHeartbeatInterval = time.Second

// Config configures a Manager.
type Config struct {
	// Name is this VSM's name, the one its certificate carries.
	Name string
	// Role is the VSM's role; the zero value is standalone.
	Role protocol.Role
	// Store is the VSM's state.
	Store *store.Store
	// Clock times the heartbeats; nil is the system clock.
	Clock clock.Clock
	// HeartbeatInterval is DefaultHeartbeatInterval when 0.
	HeartbeatInterval time.Duration
	// Logger receives session events; nil logs nothing.
	Logger *zap.Logger
}

// Manager serves a VSM's VEM sessions.
type Manager struct {
	cfg   Config
	log   *zap.Logger
	clock clock.Clock

	gen   atomic.Uint64 // the store's generation, as the watcher last saw it
	state atomic.Int32  // protocol.State of the heartbeats
	epoch atomic.Uint64

	stopped context.Context // ends when Run ends
	stop    context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*vem // by host
	nextSeq  uint64          // numbers sessions in the order they came
	vteps    map[int]string  // module → VTEP, from the store and Hellos
	vtepVer  uint64          // counts changes of vteps
	// upgrading are the hosts whose agent announced a handover to its
	// successor, until when they are shown upgrading (handover.go).
	upgrading map[string]time.Time

	viewMu sync.Mutex // serialises building views
	view   *view      // the latest view built
}

// New makes a Manager over cfg.Store, at the store's epoch, active.
func New(cfg Config) (*Manager, error) {
	if cfg.Name == "" {
		return nil, errors.New("vem sessions: no VSM name")
	}
	if cfg.Store == nil {
		return nil, errors.New("vem sessions: no store")
	}
	if cfg.Role == protocol.Role_ROLE_UNSPECIFIED {
		cfg.Role = protocol.Role_ROLE_STANDALONE
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	epoch, err := cfg.Store.Epoch()
	if err != nil {
		return nil, fmt.Errorf("vem sessions: %w", err)
	}
	recs, err := cfg.Store.ModuleRecords()
	if err != nil {
		return nil, fmt.Errorf("vem sessions: %w", err)
	}
	stopped, stop := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: log, clock: cfg.Clock, stopped: stopped, stop: stop,
		sessions: map[string]*vem{}, vteps: map[int]string{}}
	m.learnVTEPs(recs)
	m.gen.Store(cfg.Store.Generation())
	m.state.Store(int32(protocol.State_STATE_ACTIVE))
	m.epoch.Store(epoch)
	return m, nil
}

// SetState sets the state and epoch every heartbeat carries from now on
// (the HA pair's; a standalone VSM stays active at its stored epoch). It
// does not persist the epoch: store.SetEpoch does.
//
// A VSM that is not active attaches no VEM, binds no port and sends no
// configuration: it keeps its sessions open (their heartbeats say its
// state, so the VEMs know where the active is), and the sessions attached
// until now are detached here, so that they attach again, with a
// snapshot, when this VSM is active again and asks them to.
func (m *Manager) SetState(state protocol.State, epoch uint64) {
	m.epoch.Store(epoch)
	old := protocol.State(m.state.Swap(int32(state)))
	if state == protocol.State_STATE_ACTIVE && old != protocol.State_STATE_ACTIVE {
		// A standby's store was replicated after this Manager read it: the
		// hosts' VTEPs it has now must be in the first snapshots it sends,
		// before those hosts reattach, or their VXLAN is dropped as from
		// an unknown VTEP meanwhile.
		if recs, err := m.cfg.Store.ModuleRecords(); err == nil {
			m.learnVTEPs(recs)
		} else {
			m.log.Warn("read module records on becoming active", zap.Error(err))
		}
	}
	if state == protocol.State_STATE_ACTIVE || old != protocol.State_STATE_ACTIVE {
		return
	}
	for _, v := range m.all() {
		v.mu.Lock()
		v.status.attached = false
		v.mu.Unlock()
	}
	m.log.Info("not active: the VEM sessions are detached", zap.Stringer("state", state))
}

// active reports whether this VSM attaches VEMs and configures them.
func (m *Manager) active() bool { return protocol.State(m.state.Load()) == protocol.State_STATE_ACTIVE }

// SwitchRequest asks the VEM of every session to attach to this VSM, as a
// VSM that has just taken over does. It never waits; it returns the
// errors of the sessions whose VEMs have stopped reading.
func (m *Manager) SwitchRequest() error {
	var errs []error
	for _, v := range m.all() {
		r := &protocol.SwitchRequest{Name: m.cfg.Name, Epoch: m.epoch.Load()}
		if err := v.s.SendSwitchRequest(r); err != nil {
			errs = append(errs, fmt.Errorf("switch request to %s: %w", v.host, err))
		}
	}
	return errors.Join(errs...)
}

// Run sends the heartbeats and follows the store until ctx ends or the
// store closes; then every session ends too.
func (m *Manager) Run(ctx context.Context) error {
	defer m.stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan error, 1)
	go func() { watched <- m.watch(ctx) }()
	t := m.clock.NewTicker(m.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watched:
			return err
		case <-t.C():
			for _, v := range m.all() {
				v.heartbeat()
			}
		}
	}
}

// watch follows the store's generation and tells every session.
func (m *Manager) watch(ctx context.Context) error {
	gen := m.gen.Load()
	for {
		g, err := m.cfg.Store.Wait(ctx, gen)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("vem sessions: follow the store: %w", err)
		}
		gen = g
		m.gen.Store(g)
		m.pokeAll()
	}
}

// heartbeat is the heartbeat of this moment.
func (m *Manager) heartbeat() *protocol.Heartbeat {
	return &protocol.Heartbeat{Name: m.cfg.Name, Role: m.cfg.Role, State: protocol.State(m.state.Load()),
		Epoch: m.epoch.Load(), Generation: m.gen.Load()}
}

// all is every session now, in the order they came: the heartbeats go
// out in the same order every interval, so that each VEM hears them a
// steady interval apart however many sessions there are.
func (m *Manager) all() []*vem {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*vem, 0, len(m.sessions))
	for _, v := range m.sessions {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *vem) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// pokeAll tells every session to compare what its VEM has with what it
// should.
func (m *Manager) pokeAll() {
	for _, v := range m.all() {
		v.wake()
	}
}

// errReplaced ends a session its host has replaced with a new one.
var errReplaced = errors.New("replaced by a newer session of the same host")

// add registers v, ending an older session of its host.
func (m *Manager) add(v *vem) {
	m.mu.Lock()
	m.nextSeq++
	v.seq = m.nextSeq
	old := m.sessions[v.host]
	m.sessions[v.host] = v
	m.mu.Unlock()
	if old != nil {
		old.cancel(errReplaced)
	}
}

// remove forgets v unless a newer session of its host replaced it.
func (m *Manager) remove(v *vem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions[v.host] == v {
		delete(m.sessions, v.host)
	}
}

// learnVTEPs records the VTEPs of the store's module records that no
// Hello has told since.
func (m *Manager) learnVTEPs(recs []store.ModuleRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if r.VTEP != "" && m.vteps[r.Module] == "" {
			m.vteps[r.Module] = r.VTEP
			m.vtepVer++
		}
	}
}

// setVTEP records module's VTEP; it reports whether it changed.
func (m *Manager) setVTEP(module int, vtep string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if vtep == "" || m.vteps[module] == vtep {
		return false
	}
	m.vteps[module] = vtep
	m.vtepVer++
	return true
}

// vtepsCopy is the VTEP of every module known.
func (m *Manager) vtepsCopy() map[int]string {
	v, _ := m.vtepsVersion()
	return v
}

// vtepsVersion is vtepsCopy with the count of the VTEPs' changes.
func (m *Manager) vtepsVersion() (map[int]string, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.vteps), m.vtepVer
}

// currentView is the view of the store's generation and the VTEPs now:
// the first session to ask after a change builds it (from one store
// snapshot), the others share it.
func (m *Manager) currentView() (*view, error) {
	m.viewMu.Lock()
	defer m.viewMu.Unlock()
	m.mu.Lock()
	ver := m.vtepVer
	m.mu.Unlock()
	if v := m.view; v != nil && v.gen == m.cfg.Store.Generation() && v.vtepVer == ver {
		return v, nil
	}
	vteps, ver := m.vtepsVersion()
	v, err := buildView(m.cfg.Store.Snapshot(), vteps, ver, m.view)
	if err != nil {
		return nil, err
	}
	m.view = v
	return v, nil
}
