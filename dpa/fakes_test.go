package dpa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// fakeSession records what the DPA sends; Recv delivers what a test
// pushes on events (a nil event panics, to test supervision).
type fakeSession struct {
	name   string
	events chan protocol.Event
	done   chan struct{}
	hbSeq  uint64 // the harness's heartbeats' sequence numbers

	mu     sync.Mutex
	calls  []string
	closed bool
}

func newFakeSession(name string) *fakeSession {
	return &fakeSession{name: name, events: make(chan protocol.Event, 64), done: make(chan struct{})}
}

func (s *fakeSession) record(c string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("closed")
	}
	s.calls = append(s.calls, c)
	return nil
}

// Calls returns the calls so far.
func (s *fakeSession) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *fakeSession) isClosed() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.closed }

func (s *fakeSession) Name() string { return s.name }

func (s *fakeSession) Recv(ctx context.Context) (protocol.Event, error) {
	select {
	case ev := <-s.events:
		if ev == nil {
			panic("injected failure")
		}
		return ev, nil
	case <-s.done:
		return nil, errors.New("session closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *fakeSession) LastHeartbeat() (*protocol.Heartbeat, time.Time) { return nil, time.Time{} }

func (s *fakeSession) RequestAttach(r protocol.AttachReason) error {
	return s.record("attach:" + strings.TrimPrefix(r.String(), "ATTACH_REASON_"))
}

func (s *fakeSession) Ack(c *protocol.Config) error {
	return s.record(fmt.Sprintf("ack:%d", c.Generation))
}

func (s *fakeSession) Nack(c *protocol.Config, err error) error {
	return s.record(fmt.Sprintf("nack:%d:%v", c.Generation, err))
}

func (s *fakeSession) AttachPort(_ context.Context, p *protocol.PortAttach) error {
	return s.record("port-attach:" + p.GetInterface())
}

func (s *fakeSession) DetachPort(_ context.Context, p *protocol.PortDetach) error {
	return s.record("port-detach:" + p.GetInterface())
}

func (s *fakeSession) Detach(_ context.Context, reason string) error { return s.record("detach") }

func (s *fakeSession) HandOver(_ context.Context) error { return s.record("handover") }

func (s *fakeSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	return nil
}

// fakeApplier records what the DPA applies; refuse makes Apply fail.
type fakeApplier struct {
	mu      sync.Mutex
	applied []*spec.Switch
	macs    [][]headless.RemoteMAC
	refuse  error
}

func (a *fakeApplier) Apply(_ context.Context, sw *spec.Switch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse != nil {
		return a.refuse
	}
	a.applied = append(a.applied, sw)
	return nil
}

func (a *fakeApplier) SetRemoteMACs(_ context.Context, m []headless.RemoteMAC) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.macs = append(a.macs, m)
	return nil
}

func (a *fakeApplier) applies() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.applied) }

// fakeCheckpoints keeps the checkpoints saved.
type fakeCheckpoints struct {
	mu    sync.Mutex
	saved []headless.Checkpoint
}

func (c *fakeCheckpoints) Save(cp headless.Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved = append(c.saved, cp)
	return nil
}

func (c *fakeCheckpoints) last() headless.Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saved[len(c.saved)-1]
}

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness drives a DPA's state machine by hand on a fake clock: the
// VSM at address "a" is named vsm-a, and so on.
type harness struct {
	t    *testing.T
	clk  *clocktest.Fake
	d    *DPA
	app  *fakeApplier
	cps  *fakeCheckpoints
	sess map[string]*fakeSession
}

func newHarness(t *testing.T, headlessAfter time.Duration, addrs ...string) *harness {
	t.Helper()
	return newHarnessFrom(t, headlessAfter, nil, nil, t0, addrs...)
}

// newHarnessFrom is newHarness with a checkpoint store (nil: a fake), a
// restored checkpoint and the clock's start.
func newHarnessFrom(t *testing.T, headlessAfter time.Duration, store Checkpointer, restored *headless.Checkpoint, start time.Time, addrs ...string) *harness {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{"a", "b"}
	}
	h := &harness{t: t, clk: clocktest.NewFake(start), app: &fakeApplier{}, cps: &fakeCheckpoints{}, sess: map[string]*fakeSession{}}
	var cps Checkpointer = h.cps
	if store != nil {
		cps = store
	}
	d, err := New(Config{Addresses: addrs, HeadlessAfter: headlessAfter, Dialer: unusedDialer{}, Applier: h.app,
		Checkpoints: cps, Clock: h.clk, Restored: restored})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	d.begin()
	t.Cleanup(d.end)
	return h
}

type unusedDialer struct{}

func (unusedDialer) Dial(context.Context, string, Facts) (Session, error) {
	return nil, errors.New("not in this test")
}

// open opens a (new) session with the VSM at addr, its Hello carrying the
// DPA's facts of the moment.
func (h *harness) open(addr string) *fakeSession {
	s := newFakeSession("vsm-" + addr)
	h.sess[addr] = s
	h.d.up(h.d.vsmAt(addr), s, h.d.Facts())
	return s
}

// send delivers ev on addr's current session.
func (h *harness) send(addr string, ev protocol.Event) {
	h.d.handle(context.Background(), h.d.vsmAt(addr), h.sess[addr], ev)
}

func (h *harness) heartbeat(addr string, state protocol.State, epoch uint64) {
	s := h.sess[addr]
	s.hbSeq++
	h.send(addr, &protocol.Heartbeat{Name: "vsm-" + addr, Role: protocol.Role_ROLE_PRIMARY, State: state, Epoch: epoch, Seq: s.hbSeq})
}

// beat is an active heartbeat from each of addrs at the given epoch, then
// a second.
func (h *harness) beats(seconds int, epoch uint64, addrs ...string) {
	for range seconds {
		for _, a := range addrs {
			h.heartbeat(a, protocol.State_STATE_ACTIVE, epoch)
		}
		h.clk.Advance(time.Second)
	}
}

// attachTo opens sessions with every VSM and attaches to addr (module 3).
func (h *harness) attachTo(addr string, epoch uint64) {
	h.t.Helper()
	for _, v := range h.d.vsms {
		if h.sess[v.addr] == nil {
			h.open(v.addr)
		}
	}
	h.heartbeat(addr, protocol.State_STATE_ACTIVE, epoch)
	h.send(addr, &protocol.AttachAccepted{Module: 3, Name: "vsm-" + addr, Epoch: epoch})
	if st := h.d.Status(); st.State != StateAttached || st.AttachedVSM != "vsm-"+addr {
		h.t.Fatalf("not attached to vsm-%s: %+v", addr, st)
	}
}

// config sends a configuration of generation gen from addr.
func (h *harness) config(addr string, gen uint64, macs ...*protocol.MacEntry) {
	h.send(addr, &protocol.Config{Generation: gen, Nonce: gen * 10, Switch: testSwitch(h.t), MACs: macs,
		Bindings: []*protocol.PortBinding{{Interface: "tap-a", Veth: 1, Segment: "web", Profile: "default"}}})
}

func (h *harness) wantState(want State) {
	h.t.Helper()
	if st := h.d.Status(); st.State != want {
		h.t.Fatalf("state %s at +%v, want %s", st.State, h.clk.Now().Sub(t0), want)
	}
}

// redial does what the connector does for a session the DPA closed to
// reopen it with its current facts: ends it and opens a new one.
func (h *harness) redial() {
	for addr, s := range h.sess {
		v := h.d.vsmAt(addr)
		h.d.mu.Lock()
		pending := v.redial != 0
		h.d.mu.Unlock()
		if s.isClosed() && pending {
			h.d.down(v, s, errors.New("closed by the VEM"))
			h.open(addr)
		}
	}
}

func (h *harness) wantCalls(addr string, want ...string) {
	h.t.Helper()
	h.redial()
	got := h.sess[addr].Calls()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		h.t.Fatalf("calls on vsm-%s = %q, want %q", addr, got, want)
	}
}

const testYAML = `
host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}
profiles:
  - {name: default, portSecurity: true}
`

func testSwitch(t testing.TB) *spec.Switch {
	t.Helper()
	sw, err := spec.Parse([]byte(testYAML))
	if err != nil {
		t.Fatal(err)
	}
	return sw
}
