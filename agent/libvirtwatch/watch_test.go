package libvirtwatch

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
	"github.com/vem-switch/vem/spec"
)

const (
	uuidA = "aaaaaaaa-0000-4000-8000-000000000001"
	uuidB = "bbbbbbbb-0000-4000-8000-000000000002"
	macA  = "52:54:00:0a:00:01"
	macA2 = "52:54:00:0a:00:02"
	macB  = "52:54:00:0b:00:01"
)

// TestDeviceEvents: a NIC hot-plugged into a running domain is attached
// on device-added, and detached on device-removed; the other port stays.
func TestDeviceEvents(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), nil)
	h := start(t, lv, agent, nil)
	h.waitFor("a online", stateIs("a", macA, Online))
	agent.Calls()

	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}, nic{"tap-a1", macA2, "db", true}), &Event{Kind: EventDeviceAdded, Device: "net1"})
	h.waitFor("hot-plugged port online", stateIs("a", macA2, Online))
	if got := agent.Calls(); !slices.Equal(got, []string{"attach tap-a1"}) {
		t.Errorf("calls after device-added: %v, want only attach tap-a1", got)
	}
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), &Event{Kind: EventDeviceRemoved, Device: "net1"})
	h.waitFor("unplugged port gone", func(st Status) bool { _, ok := port(st, "a", macA2); return !ok })
	if got := agent.Calls(); !slices.Equal(got, []string{"detach tap-a1"}) {
		t.Errorf("calls after device-removed: %v, want only detach tap-a1", got)
	}
	if _, ok := agent.Attached()["tap-a0"]; !ok {
		t.Errorf("tap-a0 lost: %v", agent.Attached())
	}
}

// TestStopReasons: each way a domain stops gives its ports the state a
// cluster agent would give them; a migration or an operator's stop is
// never a fault.
func TestStopReasons(t *testing.T) {
	for _, tc := range []struct {
		reason StopReason
		life   Lifecycle
		want   PortState
		why    string
	}{
		{StopShutdown, LifeStopped, IntentionalOffline, "shut down"},
		{StopDestroyed, LifeStopped, IntentionalOffline, "destroyed"},
		{StopMigrated, LifeStopped, IntentionalOffline, "migrated"},
		{StopSaved, LifeStopped, IntentionalOffline, "saved"},
		{StopCrashed, LifeStopped, Faulted, "crashed"},
		{StopFailed, LifeStopped, Faulted, "failed"},
		{StopCrashed, LifeCrashed, Faulted, "crashed"},
	} {
		t.Run(tc.life.String()+"-"+tc.reason.String(), func(t *testing.T) {
			lv, agent := newFakeLibvirt(), watchtest.NewAgent()
			n := nic{"tap-a0", macA, "web", true}
			lv.set(running("a", uuidA, n), nil)
			h := start(t, lv, agent, nil)
			h.waitFor("online", stateIs("a", macA, Online))
			// libvirt's own state reason says unknown: the event's
			// detail is what sets the state.
			lv.set(stopped("a", uuidA, StopUnknown, n), &Event{Kind: EventLifecycle, Life: tc.life, Reason: tc.reason})
			st := h.waitFor(string(tc.want), stateIs("a", macA, tc.want))
			if p, _ := port(st, "a", macA); !strings.Contains(p.Reason, tc.why) || p.Attached {
				t.Errorf("port %+v: want reason with %q, not attached", p, tc.why)
			}
			if len(agent.Attached()) != 0 {
				t.Errorf("agent still has %v", agent.Attached())
			}
		})
	}
}

// TestTransientMigratedAway: a transient domain migrated away is gone
// when its stopped event is handled: intentional-offline, detached, and
// still shown (gone) to the operator.
func TestTransientMigratedAway(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	d := running("a", uuidA, nic{"tap-a0", macA, "web", true})
	lv.set(d, nil)
	h := start(t, lv, agent, nil)
	h.waitFor("online", stateIs("a", macA, Online))
	lv.remove(d, Event{Kind: EventLifecycle, Life: LifeStopped, Reason: StopMigrated})
	lv.remove(d, Event{Kind: EventLifecycle, Life: LifeUndefined})
	st := h.waitFor("intentional-offline", stateIs("a", macA, IntentionalOffline))
	if p, _ := port(st, "a", macA); !p.Gone || !strings.Contains(p.Reason, "migrated") {
		t.Errorf("port %+v", p)
	}
	if len(agent.Attached()) != 0 {
		t.Errorf("agent still has %v", agent.Attached())
	}
}

// TestLateStopEvent: a stopped event handled after the domain started
// again detaches nothing: the watcher acts on libvirt's state now.
func TestLateStopEvent(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), nil)
	h := start(t, lv, agent, nil)
	h.waitFor("online", stateIs("a", macA, Online))
	agent.Calls()
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), &Event{Kind: EventLifecycle, Life: LifeStopped, Reason: StopDestroyed})
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), &Event{Kind: EventLifecycle, Life: LifeStarted})
	h.waitResync(1)
	// Both events handled once the status shows the second's no-op.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if p, _ := port(h.w.Status(), "a", macA); p.State != Online {
			t.Fatalf("port left online: %+v", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := agent.Calls(); slices.Contains(got, "detach tap-a0") {
		t.Errorf("calls %v: a running domain's port was detached", got)
	}
}

// TestReconnect: libvirtd goes away: every port becomes unknown, the
// watcher redials with growing waits, and when libvirtd is back it
// reconciles what changed meanwhile (a crash, a new domain).
func TestReconnect(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	na := nic{"tap-a0", macA, "web", true}
	lv.set(running("a", uuidA, na), nil)
	h := start(t, lv, agent, nil)
	h.waitFor("online", stateIs("a", macA, Online))

	lv.crash()
	st := h.waitFor("unknown", stateIs("a", macA, Unknown))
	if st.Connected || !strings.Contains(st.Error, "end of file") {
		t.Errorf("status while libvirtd is away: connected %v, error %q", st.Connected, st.Error)
	}
	if _, ok := agent.Attached()["tap-a0"]; !ok {
		t.Errorf("a port was detached while libvirt could not be seen")
	}
	// Let it fail a few dials, then change the world and come back.
	for len(lv.dialTimes()) < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	lv.set(stopped("a", uuidA, StopCrashed, nic{"", macA, "web", true}), nil)
	lv.set(running("b", uuidB, nic{"tap-b0", macB, "db", true}), nil)
	lv.back()
	st = h.waitFor("b online and connected", func(st Status) bool { return st.Connected && stateIs("b", macB, Online)(st) })
	if p, _ := port(st, "a", macA); p.State != Faulted || !strings.Contains(p.Reason, "crashed") || p.Interface != "tap-a0" {
		t.Errorf("a after reconnecting: %+v, want faulted (crashed) on its last tap", p)
	}
	got := agent.Attached()
	if _, ok := got["tap-a0"]; ok || got["tap-b0"].Segment != "db" {
		t.Errorf("agent after reconnecting: %v", got)
	}
	// Backoff: each wait at least the previous one, up to the maximum.
	dials := lv.dialTimes()
	var waits []time.Duration
	for i := 2; i < len(dials); i++ {
		waits = append(waits, dials[i].Sub(dials[i-1]))
	}
	if len(waits) < 3 || waits[0] < 20*time.Millisecond || slices.Max(waits) < 75*time.Millisecond || slices.Max(waits) > 500*time.Millisecond {
		t.Errorf("waits between dials %v: want a backoff from 20ms doubling up to 80ms", waits)
	}
}

// TestAgentDownRetry: ports of running domains that could not be attached
// because the agent was unreachable are faulted, and attached on the
// retry once it is back.
func TestAgentDownRetry(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), nil)
	agent.SetDown(true)
	h := start(t, lv, agent, nil)
	st := h.waitFor("faulted", stateIs("a", macA, Faulted))
	if p, _ := port(st, "a", macA); !strings.Contains(p.Reason, "unreachable") {
		t.Errorf("port %+v: want agent unreachable", p)
	}
	agent.SetDown(false)
	h.waitFor("online after the agent is back", stateIs("a", macA, Online))
	if _, ok := agent.Attached()["tap-a0"]; !ok {
		t.Errorf("not attached: %v", agent.Attached())
	}
}

// TestRefusedAttach: a port the agent refuses (no such segment) is
// faulted with the agent's reason, and a port the XML cannot describe is
// faulted without an agent call.
func TestRefusedAttach(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "nosuch", true}, nic{"", macA2, "web", true}), nil)
	h := start(t, lv, agent, nil)
	st := h.waitFor("faulted", stateIs("a", macA, Faulted))
	if p, _ := port(st, "a", macA); !strings.Contains(p.Reason, "nosuch") {
		t.Errorf("refused port %+v", p)
	}
	if p, _ := port(st, "a", macA2); p.State != Faulted || !strings.Contains(p.Reason, "target dev") {
		t.Errorf("port without a tap %+v", p)
	}
	if got := agent.Calls(); !slices.Equal(got, []string{"attach tap-a0"}) {
		t.Errorf("calls %v", got)
	}
}

// TestReplaceConfiguration: a port the agent has with another segment
// than the domain's XML says is replaced: the XML is the truth.
func TestReplaceConfiguration(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	agent.Put(spec.Port{Interface: "tap-a0", MAC: macA, Segment: "db"})
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}), nil)
	h := start(t, lv, agent, nil)
	h.waitFor("online", stateIs("a", macA, Online))
	if got := agent.Calls(); !slices.Equal(got, []string{"attach tap-a0", "detach tap-a0", "attach tap-a0"}) {
		t.Errorf("calls %v", got)
	}
	if p := agent.Attached()["tap-a0"]; p.Segment != "web" {
		t.Errorf("agent has %+v", p)
	}
}

// TestRestartRenamedTaps: the watcher restarts with its status file. A
// domain that stopped meanwhile had a generated tap (vnet3) that another
// domain now uses: that port is left alone; the stopped domain's port
// the agent still has on a gone tap (found by MAC) is detached.
func TestRestartRenamedTaps(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status.json")
	if err := writeStatus(status, Status{URI: "fake:///", Ports: []PortStatus{
		{Domain: "a", UUID: uuidA, Interface: "vnet3", MAC: macA, Segment: "web", State: Online, Since: time.Now().Format(time.RFC3339Nano), Attached: true},
	}}); err != nil {
		t.Fatal(err)
	}
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	// a's port moved to vnet7 in a run the watcher did not see, then a
	// stopped; b got vnet3.
	agent.Put(spec.Port{Interface: "vnet7", MAC: macA, Segment: "web"})
	agent.SetAbsent("vnet7", true)
	agent.Put(spec.Port{Interface: "vnet3", MAC: macB, Segment: "db"})
	lv.set(stopped("a", uuidA, StopShutdown, nic{"", macA, "web", true}), nil)
	lv.set(running("b", uuidB, nic{"vnet3", macB, "db", true}), nil)
	h := start(t, lv, agent, func(c *Config) { c.StatusPath = status })
	h.waitResync(1)
	st := h.waitFor("a intentional-offline", stateIs("a", macA, IntentionalOffline))
	got := agent.Attached()
	if _, ok := got["vnet7"]; ok {
		t.Errorf("a's port on vnet7 not detached: %v", got)
	}
	if got["vnet3"].MAC != macB {
		t.Errorf("b's port on vnet3 lost: %v", got)
	}
	if p, _ := port(st, "b", macB); p.State != Online {
		t.Errorf("b %+v", p)
	}
	if calls := agent.Calls(); slices.Contains(calls, "detach vnet3") {
		t.Errorf("calls %v detach b's tap", calls)
	}
	// The status file is the operator's view.
	h.waitFor("status written", func(Status) bool {
		f, err := ReadStatus(status)
		if err != nil {
			return false
		}
		p, _ := port(f, "a", macA)
		return p.State == IntentionalOffline && f.Connected
	})
	f, err := ReadStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, f); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"libvirt fake:///: connected", "intentional-offline", "domain shut down", "vnet3", "online"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	// Stopped, the watcher leaves a file that claims nothing it no longer
	// watches.
	h.stop()
	if f, err = ReadStatus(status); err != nil {
		t.Fatal(err)
	}
	if p, _ := port(f, "b", macB); f.Connected || p.State != Unknown {
		t.Errorf("status after stopping: connected %v, b %+v", f.Connected, p)
	}
}

// TestUnreachableAtStart: no libvirtd at all: known ports are unknown,
// nothing is detached, and the watcher keeps trying.
func TestUnreachableAtStart(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status.json")
	if err := writeStatus(status, Status{Ports: []PortStatus{{Domain: "a", UUID: uuidA, Interface: "tap-a0", MAC: macA, Segment: "web", State: Online, Attached: true}}}); err != nil {
		t.Fatal(err)
	}
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	agent.Put(spec.Port{Interface: "tap-a0", MAC: macA, Segment: "web"})
	lv.down = true
	h := start(t, lv, agent, func(c *Config) { c.StatusPath = status })
	st := h.waitFor("unknown", stateIs("a", macA, Unknown))
	if st.Connected || !strings.Contains(st.Error, "no libvirtd") {
		t.Errorf("status %+v", st)
	}
	for len(lv.dialTimes()) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if calls := agent.Calls(); len(calls) != 0 {
		t.Errorf("agent calls while blind: %v", calls)
	}
}

// TestRefusedXMLKeepsPorts: a running domain whose XML turns refusable
// (a vem entry matching no NIC, as while an operator edits the metadata
// before the hot-plug) keeps its attached ports as they are.
func TestRefusedXMLKeepsPorts(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	d := running("a", uuidA, nic{"tap-a0", macA, "web", true})
	lv.set(d, nil)
	core, logs := observer.New(zap.WarnLevel)
	h := start(t, lv, agent, func(c *Config) { c.Log = zap.New(core) })
	h.waitFor("online", stateIs("a", macA, Online))
	agent.Calls()
	// An entry that matches no NIC (one unplugged) is ignored with a
	// warning, not refused.
	stale := d
	stale.XML = bytes.Replace(d.XML, []byte("</vem:ports>"), []byte(`<vem:port mac="52:54:00:0a:00:09" segment="web"/></vem:ports>`), 1)
	lv.set(stale, &Event{Kind: EventMetadata})
	h.waitFor("the unmatched entry logged", func(Status) bool {
		return logs.FilterMessageSnippet("match no interface").Len() > 0
	})
	if p, _ := port(h.w.Status(), "a", macA); p.State != Online {
		t.Errorf("first port beside an unmatched entry: %+v", p)
	}
	// Two entries for one MAC: the XML is refused.
	bad := d
	bad.XML = bytes.Replace(d.XML, []byte("</vem:ports>"), []byte(`<vem:port mac="`+macA+`" segment="web"/></vem:ports>`), 1)
	lv.set(bad, &Event{Kind: EventMetadata})
	h.waitFor("the refusal logged", func(Status) bool {
		return logs.FilterMessageSnippet("XML refused").Len() > 0
	})
	if p, _ := port(h.w.Status(), "a", macA); p.State != Online {
		t.Errorf("first port after a refused XML: %+v", p)
	}
	// Then a valid change.
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}, nic{"tap-a1", macA2, "web", true}), &Event{Kind: EventDeviceAdded})
	st := h.waitFor("second port online", stateIs("a", macA2, Online))
	if p, _ := port(st, "a", macA); p.State != Online {
		t.Errorf("first port after a refused XML: %+v", p)
	}
	if got := agent.Calls(); !slices.Equal(got, []string{"attach tap-a1"}) {
		t.Errorf("calls %v, want only the second port's attach", got)
	}
}
