package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/test/guest"
)

// TestQemuRestarts: with two guests running, libvirtd restarts (the hook
// runs "reconnect begin", vem-libvirt redials) and then the agent is
// killed with SIGKILL and started again; the guests' ports stay attached
// and the guests keep answering through both, a ping stream running
// throughout.
func TestQemuRestarts(t *testing.T) {
	h := newVLANQemuHost(t)
	h.startWatcher(buildWatcher(t))
	n1, n2 := webNIC(1), webNIC(2)
	g1 := h.defineGuest("g1", []guest.NIC{n1})
	g2 := h.defineGuest("g2", []guest.NIC{n2})
	g1.start()
	g2.start()
	g1.waitUp(1)
	g2.waitUp(1)
	h.probePing(ipOf(n1), 3, 30*time.Second)
	h.probePing(ipOf(n2), 3, 30*time.Second)
	waitFor(t, 10*time.Second, "vem-libvirt: both online", func() bool {
		return h.watcherState("g1", n1.MAC) == libvirtwatch.Online && h.watcherState("g2", n2.MAC) == libvirtwatch.Online
	})

	// A ping stream from the probe to g1 through both restarts: 5/s.
	stop := qemuPingStream(t, h.probe.ns, ipOf(n1))

	// libvirtd restarts: guests run on; vem-libvirt sees it gone (ports
	// unknown, nothing detached) and back.
	if err := h.lv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "vem-libvirt: g1 unknown with libvirtd gone", func() bool { return h.watcherState("g1", n1.MAC) == libvirtwatch.Unknown })
	if _, ok := h.port(n1.Tap); !ok {
		t.Fatal("g1's port detached while libvirtd was down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.lv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "vem-libvirt: both online again", func() bool {
		return h.watcherState("g1", n1.MAC) == libvirtwatch.Online && h.watcherState("g2", n2.MAC) == libvirtwatch.Online
	})
	for _, g := range []string{"g1", "g2"} {
		if calls := h.hookCalls(g); !slices.Contains(calls, "reconnect begin 0") {
			t.Errorf("hook calls of %s after libvirtd's restart: %v, want reconnect begin", g, calls)
		}
	}
	h.waitPort(n1.Tap, true, 5*time.Second)
	h.waitPort(n2.Tap, true, 5*time.Second)
	g1.ping(ipOf(n2), 3, true)

	// The agent killed and started again: its pins kept forwarding, and
	// the new agent has the attached ports back.
	if err := h.agent.Kill(); err != nil {
		t.Fatal(err)
	}
	h.probePing(ipOf(n2), 3, 10*time.Second) // forwarding without an agent
	back := time.Now()
	h.startAgent()
	h.waitPort(n1.Tap, true, 70*time.Second)
	h.waitPort(n2.Tap, true, 70*time.Second)
	t.Logf("ports attached %v after the agent started again", time.Since(back).Round(time.Millisecond))
	h.probePing(ipOf(n2), 3, 10*time.Second)
	g2.ping(ipOf(n1), 3, true)

	// A guest shut off now is detached by the new agent as by the old.
	h.virsh("destroy", "g2")
	h.waitPort(n2.Tap, false, 10*time.Second)
	h.probeNoReply(ipOf(n2))
	// Stopped by its operator: not a fault.
	waitFor(t, 10*time.Second, "vem-libvirt: g2 intentional-offline", func() bool {
		return h.watcherState("g2", n2.MAC) == libvirtwatch.IntentionalOffline
	})
	// Here: the agent restarted, g2 gone; g1 kept answering.

	got, sent := stop()
	t.Logf("ping stream to g1 across both restarts: %d of %d answered", got, sent)
	if sent < 20 || got < sent*9/10 {
		t.Errorf("ping stream to g1: %d of %d answered", got, sent)
	}
}
