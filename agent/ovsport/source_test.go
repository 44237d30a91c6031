package ovsport

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func row(uuid, name string, ids map[string]string) *Row {
	return &Row{UUID: uuid, Name: name, ExternalIDs: ids}
}

// vmIDs are libvirt's external_ids for VM n.
func vmIDs(n byte, extra ...string) map[string]string {
	return libvirtIDs(append([]string{KeyIfaceID, "iface-" + string('0'+n), KeyAttachedMAC, "52:54:00:00:0a:0" + string('0'+n)}, extra...)...)
}

type rig struct {
	db    *fakeDB
	agent *fakeAgent
	logs  *observer.ObservedLogs
	stop  func()
}

func startRig(t *testing.T, db *fakeDB) *rig {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	r := &rig{db: db, agent: newFakeAgent(), logs: logs}
	src := New(Config{Dialer: db, Agent: r.agent, Defaults: Defaults{Segment: "web"}, Log: zap.New(core),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Recheck: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) logged(msg, field string) bool {
	for _, e := range r.logs.FilterMessage(msg).All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, field) || (f.Interface != nil && strings.Contains(errString(f.Interface), field)) {
				return true
			}
		}
	}
	return false
}

func errString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return ""
}

func ifaces(names ...string) func(*fakeAgent) bool {
	return func(a *fakeAgent) bool { return slices.Equal(a.interfaces(), names) }
}

// The first update replaces everything: vem's good rows become ports and
// are marked; an inactive row and a bad one are not bound, and a stale
// mark on them is removed; a row that is not vem's is never written,
// even with a mark.
func TestSourceResyncBindsAndMarks(t *testing.T) {
	db := newFakeDB(
		row("u1", "tap1", vmIDs(1)),
		row("u2", "tap2", vmIDs(2, KeyIfaceStatus, "inactive", KeyInstalled, "true")),
		row("u3", "tap3", vmIDs(3, KeyAttachedMAC, "01:00:5e:00:00:01", KeyInstalled, "true")),
		row("u4", "eth0", map[string]string{"owner": "other", KeyInstalled: "true"}),
		&Row{UUID: "u5", Bad: errors.New(`interface "tap5": external_ids: key "k" given twice`)},
	)
	r := startRig(t, db)
	eventually(t, "tap1 bound", func() bool { return ifaces("tap1")(r.agent) })
	eventually(t, "tap1 marked", func() bool { return db.installed("u1") == "true" })
	eventually(t, "stale marks removed", func() bool { return db.installed("u2") == "" && db.installed("u3") == "" })
	if got := db.installed("u4"); got != "true" {
		t.Errorf("a row that is not vem's was written: ovn-installed %q", got)
	}
	if w := db.writesFor("eth0"); len(w) > 0 {
		t.Errorf("writes to eth0: %v", w)
	}
	eventually(t, "refusals logged", func() bool {
		return r.logged("OVS interface refused", "multicast") && r.logged("OVS interface refused", "given twice") &&
			r.logged("OVS interface inactive: not bound", "tap2")
	})
	// Each refusal once, however often the table changes.
	db.set(row("u6", "tap6", vmIDs(6)))
	eventually(t, "tap6 bound", func() bool { return ifaces("tap1", "tap6")(r.agent) })
	if n := len(r.logs.FilterMessage("OVS interface refused").All()); n != 2 {
		t.Errorf("%d refusals logged, want 2 (each once)", n)
	}
}

// Updates change the table: an interface plugged is bound, one made
// inactive or deleted is detached and loses its mark; a port that stops
// forwarding loses its mark and gets it back.
func TestSourceFollowsUpdates(t *testing.T) {
	db := newFakeDB(row("u1", "tap1", vmIDs(1)))
	r := startRig(t, db)
	eventually(t, "tap1 marked", func() bool { return db.installed("u1") == "true" })

	db.set(row("u2", "tap2", vmIDs(2, KeySegment, "db", KeyIPs, "192.0.2.2")))
	eventually(t, "tap2 bound and marked", func() bool { return ifaces("tap1", "tap2")(r.agent) && db.installed("u2") == "true" })
	r.agent.mu.Lock()
	p := r.agent.ports[1]
	r.agent.mu.Unlock()
	if s := p.Spec(); s.Segment != "db" || !slices.Equal(s.IPs, []string{"192.0.2.2"}) || p.VM == "" || p.UUID != "u2" {
		t.Errorf("tap2 = %+v", p)
	}

	db.set(row("u2", "tap2", vmIDs(2, KeyIfaceStatus, "inactive", KeyInstalled, "true")))
	eventually(t, "tap2 inactive: detached, unmarked", func() bool { return ifaces("tap1")(r.agent) && db.installed("u2") == "" })

	r.agent.mu.Lock()
	r.agent.down["tap1"] = true
	r.agent.mu.Unlock()
	eventually(t, "tap1 down: unmarked", func() bool { return db.installed("u1") == "" })
	r.agent.mu.Lock()
	delete(r.agent.down, "tap1")
	r.agent.mu.Unlock()
	eventually(t, "tap1 up: marked", func() bool { return db.installed("u1") == "true" })

	db.del("u1")
	eventually(t, "tap1 deleted: detached", func() bool { return ifaces()(r.agent) })
}

// A lost server leaves the ports as they are; the source redials with
// backoff and the first update of the new session replaces the table:
// what changed meanwhile is caught up.
func TestSourceReconnectResyncs(t *testing.T) {
	db := newFakeDB(row("u1", "tap1", vmIDs(1)), row("u2", "tap2", vmIDs(2)))
	r := startRig(t, db)
	eventually(t, "both bound", func() bool { return ifaces("tap1", "tap2")(r.agent) })
	calls := r.agent.callCount()

	db.stop()
	eventually(t, "redials while down", func() bool { db.mu.Lock(); defer db.mu.Unlock(); return db.dials >= 3 })
	if got := r.agent.callCount(); got != calls || !ifaces("tap1", "tap2")(r.agent) {
		t.Fatalf("ports changed while ovsdb-server was down: %d calls (was %d), %v", got, calls, r.agent.interfaces())
	}
	db.mu.Lock()
	delete(db.rows, "u2")
	db.rows["u3"] = row("u3", "tap3", vmIDs(3))
	db.mu.Unlock()
	db.up()
	eventually(t, "resynced", func() bool { return ifaces("tap1", "tap3")(r.agent) })
	eventually(t, "tap3 marked", func() bool { return db.installed("u3") == "true" })
	if !r.logged("ovsdb-server connection lost; the OVS ports stay as they are, reconnecting", "EOF") {
		t.Errorf("the lost connection was not logged")
	}
	if n := len(r.logs.FilterMessage("ovsdb-server unreachable; the OVS ports stay as they are, retrying").All()); n != 0 {
		t.Errorf("unreachable logged %d times after the loss, want the outage logged once", n)
	}
}

// A server down at start is logged once, and followed when it comes up.
func TestSourceStartsWhileServerDown(t *testing.T) {
	db := newFakeDB(row("u1", "tap1", vmIDs(1)))
	db.down = true
	r := startRig(t, db)
	eventually(t, "redials", func() bool { db.mu.Lock(); defer db.mu.Unlock(); return db.dials >= 3 })
	if r.agent.callCount() != 0 {
		t.Fatal("ports handed over before any session")
	}
	db.up()
	eventually(t, "tap1 bound", func() bool { return ifaces("tap1")(r.agent) })
	if n := len(r.logs.FilterMessage("ovsdb-server unreachable; the OVS ports stay as they are, retrying").All()); n != 1 {
		t.Errorf("unreachable logged %d times, want once", n)
	}
}

// A port the agent refuses is logged with the agent's reason and never
// marked; a snapshot the agent failed to apply is handed again.
func TestSourceAgentRefusesAndFails(t *testing.T) {
	db := newFakeDB(row("u1", "tap1", vmIDs(1)), row("u2", "tap2", vmIDs(2)))
	core, logs := observer.New(zap.InfoLevel)
	agent := newFakeAgent()
	agent.refuse["tap2"] = errors.New("port tap2: MAC 52:54:00:00:0a:02 is already port tap9's in segment web")
	agent.fail = 2
	src := New(Config{Dialer: db, Agent: agent, Defaults: Defaults{Segment: "web"}, Log: zap.New(core),
		MinBackoff: 5 * time.Millisecond, Recheck: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	eventually(t, "tap1 bound after the failures", func() bool { return ifaces("tap1")(agent) })
	if n := len(logs.FilterMessage("OVS ports not applied; retrying").All()); n != 2 {
		t.Errorf("%d failures logged, want 2", n)
	}
	eventually(t, "tap1 marked", func() bool { return db.installed("u1") == "true" })
	eventually(t, "the refusal logged", func() bool {
		for _, e := range logs.FilterMessage("OVS interface refused").All() {
			if err, ok := e.ContextMap()["error"].(string); ok && strings.Contains(err, "refused by the agent") && strings.Contains(err, "tap9") {
				return true
			}
		}
		return false
	})
	time.Sleep(50 * time.Millisecond) // a few rechecks
	if w := db.writesFor("tap2"); len(w) > 0 || db.installed("u2") != "" {
		t.Errorf("the refused port was marked: %v", w)
	}
}

// A mark that cannot be written is logged and retried at the next
// recheck.
func TestSourceRetriesMarks(t *testing.T) {
	db := newFakeDB(row("u1", "tap1", vmIDs(1)))
	db.failWrites = true
	r := startRig(t, db)
	eventually(t, "the failed write logged", func() bool { return r.logged("OVS mark not written", "transaction failed") })
	db.mu.Lock()
	db.failWrites = false
	db.mu.Unlock()
	eventually(t, "tap1 marked", func() bool { return db.installed("u1") == "true" })
}
