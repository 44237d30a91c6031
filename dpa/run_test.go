package dpa

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// chanDialer hands out a new fake session per dial and tells the test.
type chanDialer struct{ dialed chan *fakeSession }

func (c chanDialer) Dial(ctx context.Context, addr string, f Facts) (Session, error) {
	s := newFakeSession("vsm-" + addr)
	select {
	case c.dialed <- s:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s, nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunRestartsFailedLoopWithoutTouchingDatapath(t *testing.T) {
	dialer := chanDialer{dialed: make(chan *fakeSession)}
	app := &fakeApplier{}
	d, err := New(Config{Addresses: []string{"a"}, Dialer: dialer, Applier: app,
		RedialMin: time.Millisecond, RestartMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()

	attach := func() *fakeSession {
		s := <-dialer.dialed
		s.events <- &protocol.Heartbeat{Name: "vsm-a", State: protocol.State_STATE_ACTIVE, Epoch: 1, Seq: 1}
		eventually(t, "attach request", func() bool { return len(s.Calls()) > 0 })
		s.events <- &protocol.AttachAccepted{Module: 3, Name: "vsm-a", Epoch: 1}
		eventually(t, "attached", func() bool { return d.Status().State == StateAttached })
		return s
	}
	s := attach()
	s.events <- &protocol.Config{Generation: 4, Switch: testSwitch(t)}
	eventually(t, "ack", func() bool { return slices.Contains(s.Calls(), "ack:4") })

	s.events <- nil // a handler panics
	eventually(t, "restart", func() bool { return d.Status().Counters.Restarts == 1 })
	if !s.isClosed() {
		t.Error("the failed loop's session was not closed")
	}
	if st := d.Status(); st.Generation != 4 || st.Module != 3 {
		t.Errorf("state lost across the restart: %+v", st)
	}
	s2 := attach()
	if app.applies() != 1 || len(app.macs) != 1 {
		t.Errorf("the restart touched the datapath: %d applies, %d MAC sets", app.applies(), len(app.macs))
	}
	if got := s2.Calls(); !slices.Equal(got, []string{"attach:INITIAL"}) {
		t.Errorf("after restart: %q", got)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run = %v", err)
	}
}

func TestCheckpointSaveRestore(t *testing.T) {
	store, err := headless.Open(filepath.Join(t.TempDir(), "cp.db"), headless.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 0)
	h.d.cfg.Checkpoints = store
	h.attachTo("a", 6)
	h.config("a", 9, &protocol.MacEntry{Vni: 5001, Mac: "52:54:00:00:00:0b", Vtep: "198.51.100.2"})
	store.Close()

	store, err = headless.Open(store.Path(), headless.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cp, ok, err := store.Load()
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if cp.Generation != 9 || cp.Module != 3 || cp.AttachedVSM != "vsm-a" || cp.Epoch != 6 ||
		len(cp.Bindings) != 1 || len(cp.RemoteMACs) != 1 {
		t.Fatalf("checkpoint %+v", cp)
	}
	d, err := New(Config{Addresses: []string{"a"}, Dialer: unusedDialer{}, Applier: &fakeApplier{}, Restored: &cp})
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Facts(); f != (Facts{LastGeneration: 9, Module: 3}) {
		t.Errorf("restored facts %+v", f)
	}
	for _, tc := range []struct {
		port spec.Port
		want bool
	}{
		{spec.Port{Interface: "tap-x", Segment: "web", Profile: "default"}, true},
		{spec.Port{Interface: "tap-x", Segment: "db"}, true},
		{spec.Port{Interface: "tap-x", Segment: "web", Profile: "other"}, false},
		{spec.Port{Interface: "tap-x", Segment: "nope"}, false},
	} {
		if got := d.Serves(tc.port); got != tc.want {
			t.Errorf("Serves(%+v) = %v", tc.port, got)
		}
	}
}

func TestStatusJSONContract(t *testing.T) {
	h := newHarness(t, 0)
	h.attachTo("a", 1)
	data, err := json.Marshal(h.d.Status())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"attachedVSM", "counters", "epoch", "generation", "headlessSince", "mode", "module", "queuedPortEvents", "state", "vsms"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	vsm := m["vsms"].([]any)[0].(map[string]any)
	var vkeys []string
	for k := range vsm {
		vkeys = append(vkeys, k)
	}
	sort.Strings(vkeys)
	if want := []string{"address", "epoch", "lastHeartbeatAgeMs", "name", "role", "state"}; !reflect.DeepEqual(vkeys, want) {
		t.Errorf("vsm keys %v, want %v", vkeys, want)
	}
	if m["headlessSince"] != nil || vsm["state"] != "active" || vsm["role"] != "primary" {
		t.Errorf("status %s", data)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := Config{Addresses: []string{"a"}, Dialer: unusedDialer{}, Applier: &fakeApplier{}}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no addresses", func(c *Config) { c.Addresses = nil }},
		{"repeated address", func(c *Config) { c.Addresses = []string{"a", "a"} }},
		{"no applier", func(c *Config) { c.Applier = nil }},
		{"negative headlessAfter", func(c *Config) { c.HeadlessAfter = -time.Second }},
		{"invalid restored checkpoint", func(c *Config) { c.Restored = &headless.Checkpoint{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := New(c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// TestRestartResumesHeadlessWithQueuedPortEvents: a VEM that goes
// headless, and has a port attach queued, checkpoints both; an agent
// restarted from that checkpoint (kill -9, no VSM reachable) is headless
// at once, since the same time, and replays the attach on its next
// attach.
func TestRestartResumesHeadlessWithQueuedPortEvents(t *testing.T) {
	store, err := headless.Open(filepath.Join(t.TempDir(), "cp.db"), headless.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := newHarnessFrom(t, 0, store, nil, t0)
	h.attachTo("a", 2)
	h.config("a", 9)
	h.clk.Advance(15 * time.Second)
	h.wantState(StateHeadless)
	since := *h.d.Status().HeadlessSince
	if err := h.d.AttachPort(context.Background(), &protocol.PortAttach{Interface: "tap-n", Mac: "52:54:00:00:00:0e",
		Segment: "web", Profile: "default", Ips: []string{"192.0.2.14"}}); err != nil {
		t.Fatal(err)
	}
	h.d.end()

	cp, ok, err := store.Load()
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if cp.HeadlessSince == nil || !cp.HeadlessSince.Equal(since) || len(cp.PortEvents) != 1 || cp.PortEvents[0].Interface != "tap-n" {
		t.Fatalf("checkpoint headless since %v with port events %+v; want since %v and tap-n's attach", cp.HeadlessSince, cp.PortEvents, since)
	}
	r := newHarnessFrom(t, 0, store, &cp, t0.Add(time.Minute))
	st := r.d.Status()
	if st.State != StateHeadless || st.HeadlessSince == nil || !st.HeadlessSince.Equal(since) || st.QueuedPortEvents != 1 ||
		st.Generation != 9 || st.Module != 3 {
		t.Fatalf("restarted: %+v", st)
	}
	r.open("a")
	r.heartbeat("a", activeS, 2)
	r.wantCalls("a", "attach:HEADLESS")
	r.send("a", &protocol.AttachAccepted{Module: 3, Name: "vsm-a", Epoch: 2})
	r.wantCalls("a", "attach:HEADLESS", "port-attach:tap-n")
	if st := r.d.Status(); st.State != StateAttached || st.QueuedPortEvents != 0 || st.HeadlessSince != nil {
		t.Fatalf("reattached: %+v", st)
	}
	cp, _, err = store.Load()
	if err != nil || cp.HeadlessSince != nil || len(cp.PortEvents) != 0 {
		t.Fatalf("checkpoint after the reattach: headless since %v, port events %+v (%v)", cp.HeadlessSince, cp.PortEvents, err)
	}
}
