package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/guest"
)

// TestQemuAgentDownFailsStart: with the agent down, libvirt's start of a
// vem guest fails with the hook's message (the hook's default,
// on-agent-down fail: a VM must not run unplugged), and no guest runs;
// with the agent back, the same start plugs the guest.
func TestQemuAgentDownFailsStart(t *testing.T) {
	h := newVLANQemuHost(t)
	n1 := webNIC(1)
	g1 := h.defineGuest("g1", []guest.NIC{n1})
	h.stopAgent()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.lv.Virsh(ctx, "start", "g1")
	if err == nil {
		t.Fatalf("virsh start succeeded with the agent down: %s", out)
	}
	if !strings.Contains(err.Error(), "vem-hook") || !strings.Contains(err.Error(), "g1") {
		t.Errorf("virsh start's error does not carry the hook's message: %v", err)
	}
	t.Logf("refused as libvirt reports it: %v", err)
	if state := strings.TrimSpace(h.virsh("domstate", "g1")); state != "shut off" {
		t.Fatalf("g1 is %q after a refused start, want shut off", state)
	}
	// prepare checks the definition only; start needs the agent.
	if calls := h.hookCalls("g1"); !slices.Contains(calls, "prepare begin 0") || !slices.Contains(calls, "start begin 1") {
		t.Errorf("hook calls: %v, want prepare passed and start failed", calls)
	}

	h.startAgent()
	g1.start()
	h.waitPort(n1.Tap, true, 10*time.Second)
	g1.waitUp(1)
	h.probePing(ipOf(n1), 3, 30*time.Second)
}
