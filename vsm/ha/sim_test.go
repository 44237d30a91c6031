package ha

import (
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/vsm/config"
)

// The simulation: Nodes wired through a fake network whose control and
// management links can be cut per direction, on one fake clock.

const (
	simLatency   = time.Millisecond
	simSyncDelay = 2 * time.Second
)

// event is an action a simulated VSM took.
type event struct {
	at        time.Duration // since the simulation's start
	kind      string
	epoch     uint64
	reason    Reason
	collision Collision
}

// Event kinds.
const (
	evSwitch    = "switch"
	evRestartSB = "restartAsStandby"
	evReboot    = "reboot"
	evResync    = "resync"
	evCollision = "collision"
)

// simNode is one VSM of the simulation and its Actions.
type simNode struct {
	net       *simNet
	cfg       Config
	node      *Node
	events    []event
	noSync    bool // never finish resynchronising
	down      bool // crashed: hears and sends nothing
	lastHeard time.Duration
	heardOn   map[Path]time.Duration
	sent      map[Path]int
}

func (s *simNode) SendHeartbeat(p Path, hb Heartbeat) {
	s.sent[p]++
	s.net.send(s.cfg.Name, p, hb)
}

func (s *simNode) BroadcastSwitchRequest(epoch uint64) {
	s.record(event{kind: evSwitch, epoch: epoch})
}

func (s *simNode) RestartAsStandby(r Reason) { s.record(event{kind: evRestartSB, reason: r}) }

func (s *simNode) Reboot(r Reason) { s.record(event{kind: evReboot, reason: r}) }

func (s *simNode) Resynchronise() {
	s.record(event{kind: evResync})
	if s.noSync {
		return
	}
	node := s.node
	s.net.clk.AfterFunc(simSyncDelay, node.Synchronised)
}

func (s *simNode) ReportCollision(c Collision) {
	s.record(event{kind: evCollision, collision: c})
}

func (s *simNode) record(e event) {
	e.at = s.net.since()
	s.events = append(s.events, e)
}

// of returns the events of a kind.
func (s *simNode) of(kind string) []event {
	var out []event
	for _, e := range s.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// linkKey is one direction of one path.
type linkKey struct {
	from, to string
	path     Path
}

// simNet is the fake network and clock.
type simNet struct {
	t     *testing.T
	clk   *clocktest.Fake
	start time.Time
	nodes map[string]*simNode
	cut   map[linkKey]bool
}

func newSim(t *testing.T) *simNet {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &simNet{t: t, clk: clocktest.NewFake(start), start: start,
		nodes: map[string]*simNode{}, cut: map[linkKey]bool{}}
}

func (s *simNet) since() time.Duration { return s.clk.Now().Sub(s.start) }

// add creates a VSM (domain 100 unless set) without starting it.
func (s *simNet) add(cfg Config) *simNode {
	s.t.Helper()
	if cfg.Domain == 0 {
		cfg.Domain = 100
	}
	sn := &simNode{net: s, cfg: cfg, sent: map[Path]int{}, heardOn: map[Path]time.Duration{}}
	n, err := New(cfg, s.clk, sn)
	if err != nil {
		s.t.Fatal(err)
	}
	sn.node = n
	s.nodes[cfg.Name] = sn
	return sn
}

// pair adds and starts a primary "a" and a secondary "b", lets them
// settle with b a stable standby, and returns them.
func (s *simNet) pair(loss time.Duration) (a, b *simNode) {
	s.t.Helper()
	a = s.add(Config{Name: "a", Role: config.RolePrimary, HeartbeatLossInterval: loss})
	b = s.add(Config{Name: "b", Role: config.RoleSecondary, HeartbeatLossInterval: loss})
	a.node.Start()
	b.node.Start()
	s.advance(5 * time.Second)
	s.wantState(a, Active, InternalActiveHAStandby)
	s.wantState(b, Standby, InternalHAStandby)
	return a, b
}

// crash powers a VSM off.
func (s *simNet) crash(sn *simNode) {
	sn.node.Stop()
	sn.down = true
}

// restart powers a crashed VSM on again with its persisted epoch.
func (s *simNet) restart(sn *simNode) {
	s.t.Helper()
	sn.cfg.Epoch = sn.node.Epoch()
	n, err := New(sn.cfg, s.clk, sn)
	if err != nil {
		s.t.Fatal(err)
	}
	sn.node, sn.down = n, false
	n.Start()
}

// setPath cuts or heals path in both directions between every VSM.
func (s *simNet) setPath(p Path, up bool) {
	for a := range s.nodes {
		for b := range s.nodes {
			s.cut[linkKey{a, b, p}] = !up
		}
	}
}

func (s *simNet) send(from string, p Path, hb Heartbeat) {
	names := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		to := s.nodes[name]
		if name == from || to.down || s.nodes[from].down || s.cut[linkKey{from, name, p}] {
			continue
		}
		s.clk.AfterFunc(simLatency, func() {
			if to.down {
				return
			}
			to.lastHeard = s.since()
			to.heardOn[p] = s.since()
			to.node.HandleHeartbeat(p, hb)
		})
	}
}

func (s *simNet) advance(d time.Duration) { s.clk.Advance(d) }

func (s *simNet) wantState(sn *simNode, st State, internal string) {
	s.t.Helper()
	got := sn.node.Status()
	if got.State != st || got.InternalState != internal {
		s.t.Fatalf("%s at %v: %s / %q, want %s / %q", sn.cfg.Name, s.since(), got.State, got.InternalState, st, internal)
	}
}
