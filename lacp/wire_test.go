package lacp

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
)

// end is one end of a simulated cable: a system and one of its ports.
type end struct{ sys, port string }

// testNet is a set of Aggregators joined by simulated cables that deliver
// PDUs after a latency on a shared clocktest.Fake.
type testNet struct {
	t       *testing.T
	clk     *clocktest.Fake
	latency time.Duration

	mu      sync.Mutex
	aggs    map[string]*Aggregator
	peer    map[end]end
	mute    map[end]bool // frames sent from this end are dropped
	members map[string][]string
	// history is every set OnMembers reported per system, in order.
	history map[string][][]string
	// checkpoints is every Checkpoint OnCheckpoint reported per system.
	checkpoints map[string][]Checkpoint
	events      []Event
	sent        map[end]int
	last        map[end][]byte // the last payload each end sent
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	return &testNet{
		t:           t,
		clk:         clocktest.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)),
		latency:     time.Millisecond,
		aggs:        map[string]*Aggregator{},
		peer:        map[end]end{},
		mute:        map[end]bool{},
		members:     map[string][]string{},
		history:     map[string][][]string{},
		checkpoints: map[string][]Checkpoint{},
		sent:        map[end]int{},
		last:        map[end][]byte{},
	}
}

// testConfig returns the Config of system sys (which also names its MAC)
// with n fast active ports eth1..ethn numbered 1..n.
func testConfig(sys byte, n int) Config {
	cfg := Config{
		Name:   fmt.Sprintf("po%d", sys),
		System: SystemID{Priority: DefaultSystemPriority, MAC: MAC{0x02, 0, 0, 0, 0, sys}},
		Key:    1,
		Rate:   RateFast,
	}
	for i := 1; i <= n; i++ {
		cfg.Ports = append(cfg.Ports, PortConfig{Name: fmt.Sprintf("eth%d", i), Number: uint16(i), Priority: DefaultPortPriority})
	}
	return cfg
}

// add creates system name from cfg, wired into the net.
func (n *testNet) add(name string, cfg Config) *Aggregator {
	n.t.Helper()
	cfg.Name = name
	cfg.Clock = n.clk
	cfg.Transmitter = TransmitterFunc(func(port string, payload []byte) error {
		return n.transmit(end{name, port}, payload)
	})
	cfg.OnMembers = func(m []string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.members[name] = m
		n.history[name] = append(n.history[name], slices.Clone(m))
	}
	cfg.OnCheckpoint = func(c Checkpoint) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.checkpoints[name] = append(n.checkpoints[name], c)
	}
	cfg.OnEvent = func(e Event) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.events = append(n.events, e)
	}
	a, err := NewAggregator(cfg)
	if err != nil {
		n.t.Fatalf("NewAggregator(%s): %v", name, err)
	}
	n.aggs[name] = a
	n.t.Cleanup(a.Close)
	return a
}

func (n *testNet) transmit(from end, payload []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[from]++
	n.last[from] = payload
	to, ok := n.peer[from]
	if !ok || n.mute[from] {
		return nil // into the void, as on a real cable
	}
	n.clk.AfterFunc(n.latency, func() {
		// A stopped agent (Closed, not yet replaced) loses the frame.
		if err := n.aggs[to.sys].Receive(to.port, payload); err != nil && !errors.Is(err, ErrClosed) {
			n.t.Errorf("%v -> %v: %v", from, to, err)
		}
	})
	return nil
}

// cable joins x and y; with up it also raises the carrier on both.
func (n *testNet) cable(x, y end, up bool) {
	n.t.Helper()
	n.mu.Lock()
	n.peer[x], n.peer[y] = y, x
	n.mu.Unlock()
	if up {
		n.carrier(x, true)
		n.carrier(y, true)
	}
}

// unplug removes the cable at x, dropping both carriers.
func (n *testNet) unplug(x end) {
	n.t.Helper()
	n.mu.Lock()
	y, ok := n.peer[x]
	delete(n.peer, x)
	delete(n.peer, y)
	n.mu.Unlock()
	n.carrier(x, false)
	if ok {
		n.carrier(y, false)
	}
}

// bundle cables port ethi of x to ethi of y for i in 1..count.
func (n *testNet) bundle(x, y string, count int) {
	n.t.Helper()
	for i := 1; i <= count; i++ {
		p := fmt.Sprintf("eth%d", i)
		n.cable(end{x, p}, end{y, p}, true)
	}
}

func (n *testNet) carrier(e end, up bool) {
	n.t.Helper()
	if err := n.aggs[e.sys].SetCarrier(e.port, up); err != nil {
		n.t.Fatalf("SetCarrier(%v, %v): %v", e, up, err)
	}
}

func (n *testNet) setMute(e end, mute bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mute[e] = mute
}

// membersOf returns the last set OnMembers reported for sys.
func (n *testNet) membersOf(sys string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.members[sys])
}

func (n *testNet) wantMembers(sys string, want ...string) {
	n.t.Helper()
	got := n.membersOf(sys)
	if !slices.Equal(got, want) {
		n.t.Fatalf("at %v %s members = %q, want %q\n%s", n.elapsed(), sys, got, want, n.describe(sys))
	}
	if a := n.aggs[sys].Members(); !slices.Equal(a, want) {
		n.t.Fatalf("%s Members() = %q, want %q", sys, a, want)
	}
}

func (n *testNet) elapsed() time.Duration {
	return n.clk.Now().Sub(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
}

func (n *testNet) describe(sys string) string {
	var s string
	for _, p := range n.aggs[sys].Status().Ports {
		s += fmt.Sprintf("  %s %s (%s) rx=%s mux=%s sel=%s actor=%s partner=%s\n",
			p.Name, p.State, p.Reason, p.Receive, p.Mux, p.Selected, p.Actor.State, p.Partner.State)
	}
	return s
}

// eventsOf returns the events of kind reported for sys and port.
func (n *testNet) eventsOf(sys, port string, kind EventKind) []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Event
	for _, e := range n.events {
		if e.PortChannel == sys && e.Port == port && e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (n *testNet) portStatus(sys, port string) PortStatus {
	n.t.Helper()
	for _, p := range n.aggs[sys].Status().Ports {
		if p.Name == port {
			return p
		}
	}
	n.t.Fatalf("%s has no port %s", sys, port)
	return PortStatus{}
}

func ethRange(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("eth%d", i))
	}
	return s
}

// stop closes system name's Aggregator, as an agent that exits: its
// cables and carriers stay, frames sent to it are lost.
func (n *testNet) stop(name string) {
	n.aggs[name].Close()
}

// restart replaces the stopped system name with a new Aggregator of cfg,
// forgetting what the old one reported. Carriers are the caller's to
// raise (raiseCabled), as a Runner does once its sockets are open.
func (n *testNet) restart(name string, cfg Config) *Aggregator {
	n.t.Helper()
	n.mu.Lock()
	delete(n.members, name)
	delete(n.history, name)
	delete(n.checkpoints, name)
	n.mu.Unlock()
	return n.add(name, cfg)
}

// raiseCabled raises the carrier of every cabled port of system name.
func (n *testNet) raiseCabled(name string) {
	n.t.Helper()
	for _, p := range n.aggs[name].cfg.Ports {
		n.mu.Lock()
		_, cabled := n.peer[end{name, p.Name}]
		n.mu.Unlock()
		if cabled {
			n.carrier(end{name, p.Name}, true)
		}
	}
}

// historyOf returns every member set sys reported, in order.
func (n *testNet) historyOf(sys string) [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.history[sys])
}

// checkpointsOf returns every Checkpoint sys reported, in order.
func (n *testNet) checkpointsOf(sys string) []Checkpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.checkpoints[sys])
}
