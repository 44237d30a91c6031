package vems_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
)

// TestNotActive: a VSM that is not active heartbeats its state, ignores
// attach requests, refuses ports and sends no configuration; one that
// stops being active detaches its sessions, and attaches them again when
// active.
func TestNotActive(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	if _, err := v.store.Apply(network()); err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	hv1.attach()
	v.m.SetState(protocol.State_STATE_STANDBY, 4)
	eventually(t, "a standby heartbeat at epoch 4", func() bool {
		hv1.mu.Lock()
		defer hv1.mu.Unlock()
		n := len(hv1.heartbeats)
		return n > 0 && hv1.heartbeats[n-1].GetState() == protocol.State_STATE_STANDBY && hv1.heartbeats[n-1].GetEpoch() == 4
	})
	if err := hv1.s.AttachPort(t.Context(), &protocol.PortAttach{Interface: "tap1", Mac: "52:54:00:00:00:01", Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	if b := next(t, hv1.bindings); !strings.Contains(b.GetRefused(), "not the active VSM") {
		t.Fatalf("a port bound by a standby: %v", b)
	}
	if err := hv1.s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
		t.Fatal(err)
	}
	if _, err := v.store.Apply(network()); err != nil { // no change, but a poke
		t.Fatal(err)
	}
	select {
	case a := <-hv1.accepted:
		t.Fatalf("a standby attached the VEM: %v", a)
	case c := <-hv1.configs:
		t.Fatalf("a standby configured the VEM: %v", c)
	case <-time.After(300 * time.Millisecond):
	}
	if m := module(t, v.m, "hv1"); m.Status == "ok" {
		t.Fatalf("module on a standby: %+v", m)
	}
	v.m.SetState(protocol.State_STATE_ACTIVE, 5)
	if err := v.m.SwitchRequest(); err != nil {
		t.Fatal(err)
	}
	if sr := next(t, hv1.switches); sr.GetEpoch() != 5 {
		t.Fatalf("switch request %v", sr)
	}
	if a, _ := hv1.attach(); a.GetEpoch() != 5 || a.GetModule() != 3 {
		t.Fatalf("attach after the switch request: %v", a)
	}
}
