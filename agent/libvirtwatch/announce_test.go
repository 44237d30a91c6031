package libvirtwatch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
)

// TestArrivalAnnounces: a domain migrating in is started here (STARTED
// with detail MIGRATED, at the migration's prepare phase) with no
// announcement asked for; its resume after the migration (or a restore's
// start) asks the agent to announce each of its attached ports; a plain
// resume asks only for a pending one; a port the agent refuses is logged
// and the others still asked for.
func TestArrivalAnnounces(t *testing.T) {
	for _, c := range []struct {
		name    string
		ev      Event
		want    []string
		refused bool // tap-a1 not attached at the agent when asked
	}{
		{name: "started migrated", ev: Event{Kind: EventLifecycle, Life: LifeStarted}},
		{name: "resumed migrated", ev: Event{Kind: EventLifecycle, Life: LifeResumed, Arrival: ArrivalResumed},
			want: []string{"announce tap-a0", "announce tap-a1"}},
		{name: "started restored", ev: Event{Kind: EventLifecycle, Life: LifeStarted, Arrival: ArrivalResumed},
			want: []string{"announce tap-a0", "announce tap-a1"}},
		{name: "resumed unpaused", ev: Event{Kind: EventLifecycle, Life: LifeResumed, Arrival: ArrivalUnpaused},
			want: []string{"announce-pending tap-a0", "announce-pending tap-a1"}},
		{name: "one refused", ev: Event{Kind: EventLifecycle, Life: LifeResumed, Arrival: ArrivalResumed},
			want: []string{"announce tap-a0", "announce tap-a1"}, refused: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			lv, agent := newFakeLibvirt(), watchtest.NewAgent()
			dom := running("a", uuidA, nic{"tap-a0", macA, "web", true}, nic{"tap-a1", macA2, "db", true})
			lv.set(dom, nil)
			h := start(t, lv, agent, nil)
			h.waitFor("a online", func(st Status) bool {
				return stateIs("a", macA, Online)(st) && stateIs("a", macA2, Online)(st)
			})
			agent.Calls()
			if c.refused {
				agent.SetAbsent("tap-a1", true)
			}
			ev := c.ev
			lv.set(dom, &ev)
			// Another domain started after it: once its attach shows,
			// the first event's calls are all in.
			lv.set(running("b", uuidB, nic{"tap-b0", macB, "web", true}), &Event{Kind: EventLifecycle, Life: LifeStarted})
			var got []string
			deadline := time.Now().Add(5 * time.Second)
			for !slices.Contains(got, "attach tap-b0") {
				if time.Now().After(deadline) {
					t.Fatalf("events not handled within 5 s: calls %v", got)
				}
				time.Sleep(5 * time.Millisecond)
				got = append(got, agent.Calls()...)
			}
			var ann []string
			for _, call := range got {
				if strings.HasPrefix(call, "announce") {
					ann = append(ann, call)
				}
			}
			if !slices.Equal(ann, c.want) {
				t.Fatalf("announce calls %v, want %v (all calls %v)", ann, c.want, got)
			}
		})
	}
}

// TestIncomingStartAttachesIncoming: a domain migrating in whose ports
// the hook did not attach (no hook installed, or the agent was down) has
// them attached incoming by the watcher at STARTED MIGRATED, so that they
// are not announced while the guest still runs on the source; after its
// arrival, a NIC hot-plugged is attached as any.
func TestIncomingStartAttachesIncoming(t *testing.T) {
	lv, agent := newFakeLibvirt(), watchtest.NewAgent()
	h := start(t, lv, agent, nil)
	h.waitResync(1)
	dom := running("a", uuidA, nic{"tap-a0", macA, "web", true})
	lv.set(dom, &Event{Kind: EventLifecycle, Life: LifeStarted, Incoming: true})
	h.waitFor("a online", stateIs("a", macA, Online))
	if got := agent.Calls(); !slices.Equal(got, []string{"attach-incoming tap-a0"}) {
		t.Fatalf("calls at the migration's start: %v, want an incoming attach", got)
	}
	lv.set(dom, &Event{Kind: EventLifecycle, Life: LifeResumed, Arrival: ArrivalResumed})
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(got, "announce tap-a0") {
		if time.Now().After(deadline) {
			t.Fatalf("no announce within 5 s of the arrival: calls %v", got)
		}
		time.Sleep(2 * time.Millisecond)
		got = append(got, agent.Calls()...)
	}
	if !slices.Equal(got, []string{"announce tap-a0"}) {
		t.Fatalf("calls at the arrival: %v, want the announce only", got)
	}
	lv.set(running("a", uuidA, nic{"tap-a0", macA, "web", true}, nic{"tap-a1", macA2, "db", true}), &Event{Kind: EventDeviceAdded, Device: "net1"})
	h.waitFor("hot-plugged port online", stateIs("a", macA2, Online))
	if got := agent.Calls(); !slices.Equal(got, []string{"attach tap-a1"}) {
		t.Fatalf("calls after the hot-plug: %v, want a plain attach of the new NIC", got)
	}
}
