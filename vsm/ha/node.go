package ha

import (
	"sync"
	"time"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/vsm/config"
)

// Node is one VSM's redundancy state machine. Feed it the peer's
// heartbeats (HandleHeartbeat) and local facts (SetModules,
// SetLastConfig, Synchronised); it sends heartbeats and asks for
// switch requests, restarts and resynchronisation through its Actions,
// on its clock's timers. It is safe for concurrent use.
type Node struct {
	cfg Config
	clk clock.Clock
	act Actions

	mu  sync.Mutex
	out []func() // actions decided under mu, run after it is released

	started, stopped bool

	state      State
	stable     bool // a standby that has synchronised
	epoch      uint64
	modules    int
	lastConfig time.Time
	lastSwitch time.Time

	peer     peerView
	degraded bool

	switchPending bool // a manual switchover waits for the peer to take over
	switchBlocked bool // a switchover happened; none until a stable standby
	resetStandby  bool // ask the standby to restart as standby
	lostStandby   bool // the active declared its standby lost
	won           bool // this active won a split brain against wonAgainst
	wonAgainst    Facts
	// splitSettled is set once an active peer has been heard for
	// splitBrainSettle: only then are the facts compared (see
	// receiveActive).
	splitSettled bool
	splitWith    string // the active peer of the split brain settling

	col collisions

	tick, loss, degrade, discovery, switchover, settle timer
}

// peerView is the last heartbeat heard from the peer.
type peerView struct {
	present bool // heard within the heartbeat-loss interval
	hb      Heartbeat
}

// timer is an armed clock timer with a generation, so that a callback
// already on its way when the timer is disarmed does nothing.
type timer struct {
	t   clock.Timer
	gen uint64
}

// New returns a Node for cfg, not yet started, or an error naming the
// invalid fields of cfg.
func New(cfg Config, clk clock.Clock, act Actions) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Node{
		cfg:   cfg,
		clk:   clk,
		act:   act,
		state: Initializing,
		epoch: cfg.Epoch,
		col:   collisions{expiry: cfg.CollisionExpiry},
	}, nil
}

// Start begins boot negotiation: a standalone VSM becomes active at once;
// a primary or secondary looks for its peer.
func (n *Node) Start() {
	n.do(func() {
		if n.started || n.stopped {
			return
		}
		n.started = true
		if n.cfg.Role == config.RoleStandalone {
			n.becomeActive()
			return
		}
		n.boot()
	})
}

// Stop disarms every timer; the Node then ignores its inputs.
func (n *Node) Stop() {
	n.do(func() {
		n.stopped = true
		for _, t := range []*timer{&n.tick, &n.loss, &n.degrade, &n.discovery, &n.switchover} {
			n.disarm(t)
		}
	})
}

// SetModules records the number of modules (VEMs) attached to this VSM.
func (n *Node) SetModules(count int) { n.do(func() { n.modules = count }) }

// SetLastConfig records the time of this VSM's last configuration change.
func (n *Node) SetLastConfig(t time.Time) { n.do(func() { n.lastConfig = t }) }

// Synchronised tells a standby that its resynchronisation from the
// active is complete: it is then a stable (HA) standby.
func (n *Node) Synchronised() {
	n.do(func() {
		if n.state == Standby {
			n.stable = true
		}
	})
}

// Facts returns what this VSM compares in a split brain, for logs.
func (n *Node) Facts() Facts {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.facts()
}

// Epoch returns the current epoch, for the VSM to persist.
func (n *Node) Epoch() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.epoch
}

// do runs f under the lock, then the actions it decided, in order.
func (n *Node) do(f func()) {
	n.mu.Lock()
	f()
	out := n.out
	n.out = nil
	n.mu.Unlock()
	for _, o := range out {
		o()
	}
}

// emit queues an action until the lock is released.
func (n *Node) emit(f func()) { n.out = append(n.out, f) }

// arm (re)arms tm to run f under the lock after d.
func (n *Node) arm(tm *timer, d time.Duration, f func()) {
	n.disarm(tm)
	g := tm.gen
	tm.t = n.clk.AfterFunc(d, func() {
		n.do(func() {
			if tm.gen != g || n.stopped {
				return
			}
			tm.t = nil
			f()
		})
	})
}

// disarm stops tm; a callback already running does nothing.
func (n *Node) disarm(tm *timer) {
	if tm.t != nil {
		tm.t.Stop()
		tm.t = nil
	}
	tm.gen++
}

func (n *Node) now() time.Time { return n.clk.Now() }
