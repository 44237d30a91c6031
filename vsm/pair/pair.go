package pair

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/store"
	"github.com/vem-switch/vem/vsm/vems"
)

// Defaults of Config.
const (
	// DefaultReplicationTimeout bounds how long a northbound write waits
	// for the stable standby to hold it.
	DefaultReplicationTimeout = 3 * time.Second
	// reconcileInterval is how often the VEM sessions' state, the
	// persisted epoch and the Node's local facts are brought in line.
	reconcileInterval = 100 * time.Millisecond
	// syncKeepalive is how long the active holds a sync request without a
	// change before it answers "unchanged": short, so that both ends see
	// a dead stream within syncDead and the standby follows again (over
	// the management path if the control path is what died).
	syncKeepalive = time.Second
	// syncDead is the silence after which either end of a sync stream
	// gives it up.
	syncDead = syncKeepalive + 2*time.Second
	// syncRetry is the pause before a standby dials its active again.
	syncRetry = 500 * time.Millisecond
)

// Config configures a Pair.
type Config struct {
	// VSM is the VSM file; its role must be primary or secondary, with a
	// control path and tls.
	VSM *config.Config
	// Store and VEMs are the supervisor's.
	Store *store.Store
	VEMs  *vems.Manager
	// Clock drives the redundancy state machine; nil is the system clock.
	Clock clock.Clock
	// ReplicationTimeout is DefaultReplicationTimeout when 0.
	ReplicationTimeout time.Duration
	// DiscoveryWindow is ha.DefaultDiscoveryWindow when 0.
	DiscoveryWindow time.Duration
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// Pair runs one VSM of an HA pair: its ha.Node, fed by the Transport's
// heartbeats; the Node's actions carried out on the VEM sessions and the
// store; and the replication of the store from the active to the standby
// over the control path.
type Pair struct {
	cfg  Config
	log  *zap.Logger
	node *ha.Node
	tr   *Transport
	work chan func()

	mu       sync.Mutex
	acked    uint64        // the generation the standby last said it holds
	streams  int           // sync streams being served
	ackCh    chan struct{} // closed and replaced when acked moves
	runCtx   context.Context
	follower context.CancelFunc // the standby's replication, while it runs
	synced   int                // which Resynchronise the follower serves
}

// New makes the pair's Node and Transport; Run starts them.
func New(cfg Config) (*Pair, error) {
	v := cfg.VSM
	if !v.Role.Paired() || v.Control == nil {
		return nil, fmt.Errorf("pair: role %s with control %v is not one of a pair", v.Role, v.Control)
	}
	if v.TLS == nil {
		return nil, errors.New("pair: a VSM of a pair needs tls: the pair authenticates with its certificates")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.ReplicationTimeout <= 0 {
		cfg.ReplicationTimeout = DefaultReplicationTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	epoch, err := cfg.Store.Epoch()
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	p := &Pair{cfg: cfg, log: log, work: make(chan func(), 64), ackCh: make(chan struct{})}
	p.tr, err = NewTransport(TransportConfig{Name: v.Name, Domain: v.Domain,
		TLS:     protocol.TLSFiles{CA: v.TLS.CA, Cert: v.TLS.Cert, Key: v.TLS.Key},
		Control: *v.Control, Management: v.Management, OnSync: p.serveSync,
		OnHeartbeat: p.heartbeat,
		Logger:      log.Named("transport")})
	if err != nil {
		return nil, err
	}
	p.node, err = ha.New(ha.Config{Name: v.Name, Domain: v.Domain, Role: v.Role, Epoch: epoch,
		HeartbeatLossInterval: time.Duration(v.HeartbeatLossInterval), DiscoveryWindow: cfg.DiscoveryWindow},
		cfg.Clock, actions{p})
	if err != nil {
		return nil, err
	}
	// Until boot negotiation says otherwise, this VSM is not the active.
	cfg.VEMs.SetState(protocol.State_STATE_STANDBY, epoch)
	return p, nil
}

// heartbeat hands the peer's heartbeat to the Node, logging the facts
// both sides compare when both are active (a split brain).
func (p *Pair) heartbeat(path ha.Path, hb ha.Heartbeat) {
	if hb.State == ha.Active && !hb.Takeover {
		if st := p.node.Status(); st.State == ha.Active {
			p.log.Info("split brain: heard another active VSM", zap.Stringer("path", path), zap.String("peer", hb.Name),
				zap.Int("peerModules", hb.Modules), zap.Time("peerLastConfig", hb.LastConfig), zap.Time("peerLastSwitch", hb.LastSwitch),
				zap.Uint64("peerEpoch", hb.Epoch), zap.Any("self", p.node.Facts()))
		}
	}
	p.node.HandleHeartbeat(path, hb)
}

// Node is the pair's redundancy state machine.
func (p *Pair) Node() *ha.Node { return p.node }

// Listen opens the control and management listeners of the VSM file.
func (p *Pair) Listen() (control, management net.Listener, err error) { return p.tr.Listen() }

// Run serves the pair on the listeners (management may be nil) until ctx
// ends.
func (p *Pair) Run(ctx context.Context, control, management net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	p.runCtx = ctx
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = p.tr.Serve(ctx, control, management) }()
	go func() { defer wg.Done(); p.worker(ctx) }()
	go func() { defer wg.Done(); p.reconcile(ctx) }()
	p.node.Start()
	<-ctx.Done()
	p.node.Stop()
	p.stopFollower()
	wg.Wait()
	return nil
}

// worker runs the Node's queued actions in order.
func (p *Pair) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-p.work:
			f()
		}
	}
}

func (p *Pair) queue(f func()) {
	select {
	case p.work <- f:
	default:
		p.log.Error("pair action queue full: action dropped")
	}
}

// reconcile keeps the VEM sessions' state and epoch, the persisted epoch
// and the Node's local facts in line with each other.
func (p *Pair) reconcile(ctx context.Context) {
	t := p.cfg.Clock.NewTicker(reconcileInterval)
	defer t.Stop()
	var state ha.State
	var epoch, gen uint64
	persisted, _ := p.cfg.Store.Epoch()
	for {
		st := p.node.Status()
		if st.State != state || st.Epoch != epoch {
			vs := protocol.State_STATE_STANDBY
			if st.State == ha.Active {
				vs = protocol.State_STATE_ACTIVE
			}
			p.cfg.VEMs.SetState(vs, st.Epoch)
			if st.State != state {
				p.log.Info("redundancy state", zap.String("state", string(st.State)), zap.String("internalState", st.InternalState),
					zap.Uint64("epoch", st.Epoch))
			}
			state, epoch = st.State, st.Epoch
		}
		if st.Epoch > persisted {
			if err := p.cfg.Store.SetEpoch(st.Epoch); err != nil {
				p.log.Error("epoch not persisted", zap.Error(err))
			} else {
				persisted = st.Epoch
			}
		}
		if st.State != ha.Standby {
			p.stopFollowerUnlessStandby()
		}
		if g := p.cfg.Store.Generation(); g != gen {
			gen = g
			p.node.SetLastConfig(p.lastConfig(g))
		}
		if mods, err := p.cfg.VEMs.Modules(); err == nil {
			n := 0
			for _, m := range mods {
				if m.Module != 0 && m.Status == vems.StatusOK {
					n++
				}
			}
			p.node.SetModules(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// lastConfig is the time of generation gen's change, as the change log
// (replicated with the rest of the store) holds it: the same on a
// standby as on the active that made it, and across restarts, so that a
// split brain compares when each side's configuration last changed, not
// when each last heard of it. Zero for generation 0; the time of now if
// the log no longer holds gen.
func (p *Pair) lastConfig(gen uint64) time.Time {
	if gen == 0 {
		return time.Time{}
	}
	changes, err := p.cfg.Store.Changes(gen - 1)
	if err != nil || len(changes) == 0 {
		return p.cfg.Clock.Now()
	}
	return changes[len(changes)-1].Time
}

// actions carries out the Node's decisions.
type actions struct{ p *Pair }

func (a actions) SendHeartbeat(path ha.Path, hb ha.Heartbeat) { a.p.tr.Send(path, hb) }

func (a actions) BroadcastSwitchRequest(epoch uint64) {
	p := a.p
	p.queue(func() {
		if err := p.cfg.Store.SetEpoch(epoch); err != nil {
			p.log.Error("epoch not persisted", zap.Uint64("epoch", epoch), zap.Error(err))
		}
		p.cfg.VEMs.SetState(protocol.State_STATE_ACTIVE, epoch)
		p.log.Info("active: switch request to every VEM", zap.Uint64("epoch", epoch))
		if err := p.cfg.VEMs.SwitchRequest(); err != nil {
			p.log.Warn("switch request not sent to every VEM", zap.Error(err))
		}
	})
}

func (a actions) RestartAsStandby(r ha.Reason) {
	p := a.p
	p.queue(func() {
		p.log.Warn("restarting as standby", zap.String("reason", string(r)))
		p.cfg.VEMs.SetState(protocol.State_STATE_STANDBY, p.node.Epoch())
	})
}

func (a actions) Reboot(r ha.Reason) {
	p := a.p
	p.queue(func() {
		p.log.Warn("rebooting the redundancy state", zap.String("reason", string(r)))
		p.stopFollower()
		p.cfg.VEMs.SetState(protocol.State_STATE_STANDBY, p.node.Epoch())
	})
}

func (a actions) Resynchronise() { a.p.queue(a.p.startFollower) }

func (a actions) ReportCollision(c ha.Collision) {
	a.p.log.Warn("role collision: another VSM of this domain has this role", zap.Any("collision", c))
}

// startFollower (re)starts the standby's replication from the active.
func (p *Pair) startFollower() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follower != nil {
		p.follower()
	}
	if p.runCtx == nil || p.runCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(p.runCtx)
	p.follower = cancel
	p.synced++
	go p.follow(ctx)
}

// stopFollowerUnlessStandby stops the follower of a VSM that is no longer
// a standby. The state is read again under p.mu: the reconcile loop's
// status may be older than a becomeStandby whose startFollower already
// ran, and stopping on it would leave the standby cold for good.
func (p *Pair) stopFollowerUnlessStandby() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follower == nil || p.node.Status().State == ha.Standby {
		return
	}
	p.follower()
	p.follower = nil
}

func (p *Pair) stopFollower() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follower != nil {
		p.follower()
		p.follower = nil
	}
}

// follow pulls the active's state until ctx ends: a full snapshot, then
// every later generation, acknowledging each by asking for the next. The
// first restore makes this standby stable (ha.Node.Synchronised).
func (p *Pair) follow(ctx context.Context) {
	synced := false
	for ctx.Err() == nil {
		err := p.followOnce(ctx, &synced)
		if ctx.Err() != nil {
			return
		}
		p.log.Info("replication from the active interrupted", zap.Error(err))
		wake := make(chan struct{})
		t := p.cfg.Clock.AfterFunc(syncRetry, func() { close(wake) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		}
	}
}

func (p *Pair) followOnce(ctx context.Context, synced *bool) error {
	conn, path, err := p.tr.DialSync(ctx)
	if err != nil {
		return err
	}
	if path != ha.Control {
		p.log.Info("following the active over the management path: the control path is down")
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer func() { _ = conn.Close() }()
	req := syncRequest{Version: wireVersion, Domain: p.cfg.VSM.Domain, Full: true}
	for {
		data, err := frame(req)
		if err != nil {
			return err
		}
		_ = conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := conn.Write(data); err != nil {
			return fmt.Errorf("sync request: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(syncDead))
		body, err := readFrame(conn)
		if err != nil {
			return fmt.Errorf("sync answer: %w", err)
		}
		h, err := decodeSyncHeader(body)
		if err != nil {
			return err
		}
		if h.Size == 0 {
			if req.Full {
				return fmt.Errorf("%w: an empty snapshot answers a full sync request", ErrMalformed)
			}
			continue // unchanged: ask again
		}
		snap := make([]byte, h.Size)
		if _, err := io.ReadFull(conn, snap); err != nil {
			return fmt.Errorf("sync snapshot: %w", err)
		}
		gen, err := p.cfg.Store.Restore(snap)
		if err != nil {
			return err
		}
		if e := max(h.Epoch, p.node.Epoch()); e > 0 {
			if err := p.cfg.Store.SetEpoch(e); err != nil {
				return err
			}
		}
		if !*synced {
			*synced = true
			p.node.Synchronised()
			p.log.Info("synchronised with the active", zap.Uint64("generation", gen))
		}
		req = syncRequest{Version: wireVersion, Domain: p.cfg.VSM.Domain, After: gen, Revision: h.Revision}
	}
}

// serveSync answers a standby's sync stream while this VSM is active.
func (p *Pair) serveSync(ctx context.Context, conn net.Conn, peer string) {
	// The stream ends with ctx, or when the standby goes (its reader
	// sees the connection end), even while waiting for a change.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	p.mu.Lock()
	p.streams++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.streams--
		p.wakeLocked() // a change waiting for this stream's ack stops waiting
		p.mu.Unlock()
	}()
	reqs := make(chan []byte)
	go func() {
		defer cancel()
		for {
			// The standby asks again as soon as it has an answer, and
			// answers come at least every syncKeepalive.
			_ = conn.SetReadDeadline(time.Now().Add(syncKeepalive + syncDead))
			body, err := readFrame(conn)
			if err != nil {
				return
			}
			select {
			case reqs <- body:
			case <-ctx.Done():
				return
			}
		}
	}()
	log := p.log.With(zap.String("standby", peer))
	for {
		if st := p.node.Status(); st.State != ha.Active {
			log.Info("sync stream refused: this VSM is not active")
			return
		}
		var body []byte
		select {
		case body = <-reqs:
		case <-ctx.Done():
			return
		}
		req, err := decodeSyncRequest(body)
		if err != nil {
			log.Warn("sync stream refused", zap.Error(err))
			return
		}
		if req.Domain != p.cfg.VSM.Domain {
			log.Warn("sync stream refused: another domain", zap.Int("domain", req.Domain))
			return
		}
		if req.Full {
			p.ack(0) // a standby (re)joining holds nothing of ours yet
		} else {
			if req.After <= p.cfg.Store.Generation() {
				p.ack(req.After)
			}
			if req.Revision == p.cfg.Store.Revision() {
				wctx, wcancel := context.WithTimeout(ctx, syncKeepalive)
				_, err = p.cfg.Store.WaitRevision(wctx, req.Revision)
				wcancel()
				if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil { // nothing written: keepalive
					h := syncHeader{Version: wireVersion, Generation: req.After, Revision: req.Revision, Epoch: p.node.Epoch()}
					if !p.write(conn, h, nil) {
						return
					}
					continue
				}
			}
		}
		var buf bytes.Buffer
		g, rev, err := p.cfg.Store.WriteSnapshot(&buf)
		if err != nil {
			log.Error("snapshot for the standby", zap.Error(err))
			return
		}
		h := syncHeader{Version: wireVersion, Generation: g, Revision: rev, Epoch: p.node.Epoch(), Size: int64(buf.Len())}
		if !p.write(conn, h, buf.Bytes()) {
			return
		}
		log.Debug("state sent to the standby", zap.Uint64("generation", g), zap.Int("bytes", buf.Len()))
	}
}

func (p *Pair) write(conn net.Conn, h syncHeader, data []byte) bool {
	f, err := frame(h)
	if err != nil {
		return false
	}
	_ = conn.SetWriteDeadline(time.Now().Add(syncKeepalive))
	_, err = conn.Write(append(f, data...))
	return err == nil
}

// ack records that the standby holds gen.
func (p *Pair) ack(gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acked = gen
	p.wakeLocked()
}

// wakeLocked wakes the writes waiting in Replicated; p.mu is held.
func (p *Pair) wakeLocked() {
	close(p.ackCh)
	p.ackCh = make(chan struct{})
}

// Replicated waits, at most the replication timeout, until the stable
// standby (if there is one) holds generation gen; a northbound write
// answers only then. It reports whether the standby holds it; one that
// does not in time has fallen behind and catches up by itself.
func (p *Pair) Replicated(ctx context.Context, gen uint64) bool {
	// The change is this VSM's latest configuration from now on, before
	// it is acknowledged (the reconcile loop would see it only later):
	// a split brain healed right after it compares it.
	p.node.SetLastConfig(p.lastConfig(gen))
	st := p.node.Status()
	if st.State != ha.Active || st.Peer.State != string(ha.Standby) || st.Peer.InternalState != ha.InternalHAStandby {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReplicationTimeout)
	defer cancel()
	for {
		p.mu.Lock()
		acked, ch := p.acked, p.ackCh
		p.mu.Unlock()
		if acked >= gen {
			return true
		}
		// A stable standby whose sync stream is down (the control path
		// just went) follows again within syncDead, over the management
		// path if need be: wait for it, as for its acknowledgement,
		// unless it stops being a present stable standby.
		if st := p.node.Status(); st.State != ha.Active || st.Peer.State != string(ha.Standby) ||
			st.Peer.InternalState != ha.InternalHAStandby {
			return false
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.log.Warn("the standby did not acknowledge a change in time", zap.Uint64("generation", gen),
				zap.Uint64("acked", acked))
			return false
		}
	}
}
