package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/guest"
)

// TestQemuGuestsVLAN: two real guests on one host, segment web (VLAN
// 100). libvirt's hook plugs their taps into vem at start; they ping each
// other and the probe VM; a guest shut off loses its port and is
// isolated, and started again it is plugged and answers again.
func TestQemuGuestsVLAN(t *testing.T) {
	h := newVLANQemuHost(t)
	n1, n2 := webNIC(1), webNIC(2)
	g1 := h.defineGuest("g1", []guest.NIC{n1})
	g2 := h.defineGuest("g2", []guest.NIC{n2})
	for _, tap := range []string{n1.Tap, n2.Tap} {
		if _, ok := h.port(tap); ok {
			t.Fatalf("port %s before its guest started", tap)
		}
	}
	start := time.Now()
	g1.start()
	g2.start()
	// The hook ran inside virsh start: the ports are there before the
	// guests have booted.
	for _, n := range []guest.NIC{n1, n2} {
		p, ok := h.port(n.Tap)
		if !ok || p.Source != "attached" || p.Segment != "web" || p.MAC != n.MAC {
			t.Fatalf("port %s right after virsh start: %+v (present %v)", n.Tap, p, ok)
		}
	}
	g1.waitUp(1)
	g2.waitUp(1)
	t.Logf("both guests up %v after virsh start (%s)", time.Since(start).Round(time.Millisecond), h.img.Accel)
	h.probePing(ipOf(n1), 3, 30*time.Second)
	h.probePing(ipOf(n2), 3, 30*time.Second)
	g1.ping(ipOf(n2), 3, true)
	g2.ping(ipOf(n1), 3, true)
	if e := entryOn(t, h.vemHost, "web", n1.MAC); e != n1.Tap {
		t.Errorf("MAC %s learned on %q, want %s", n1.MAC, e, n1.Tap)
	}
	for _, g := range []string{"g1", "g2"} {
		if calls := h.hookCalls(g); !slices.Contains(calls, "start begin 0") || !slices.Contains(calls, "prepare begin 0") {
			t.Errorf("hook calls of %s: %v", g, calls)
		}
	}

	// Shut off: the hook detaches g2's port at "stopped end"; g2's tap is
	// gone with QEMU, its address answers no more.
	h.virsh("destroy", "g2")
	h.waitPort(n2.Tap, false, 10*time.Second)
	if calls := h.hookCalls("g2"); !slices.Contains(calls, "stopped end 0") || !slices.Contains(calls, "release end 0") {
		t.Errorf("hook calls of g2 after destroy: %v", calls)
	}
	g1.ping(ipOf(n2), 3, false)
	h.probeNoReply(ipOf(n2))
	if p, ok := h.port(n1.Tap); !ok || p.State != api.PortUp {
		t.Fatalf("g1's port after g2 stopped: %+v (present %v)", p, ok)
	}

	// Started again: plugged again, answers again.
	restart := time.Now()
	g2.start()
	h.waitPort(n2.Tap, true, 10*time.Second)
	g2.waitUp(1)
	h.probePing(ipOf(n2), 3, 30*time.Second)
	t.Logf("g2 answering %v after virsh start", time.Since(restart).Round(time.Millisecond))
	g2.ping(ipOf(n1), 3, true)
}
