package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/frame"
)

func TestSpoofedSourceIsDroppedAndCounted(t *testing.T) {
	h := newHost(t)
	vm1 := h.vms["vm1"]
	s1, s2, sw := h.sock(vm1.ns, "eth0"), h.sock(h.vms["vm2"].ns, "eth0"), h.sock(h.sw, "sw0")
	before := h.counters(vm1.tap).Drops["spoofed-source"]

	spoofed := net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x02} // vm2's MAC
	mark := marker("spoof")
	for i := 0; i < 3; i++ {
		if err := s1.Send(frame.Ethernet(broadcast, spoofed, 0x88b5, mark)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s2.Collect(200*time.Millisecond, carries(mark))) + len(sw.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("%d spoofed frames were forwarded", n)
	}
	if got := h.counters(vm1.tap).Drops["spoofed-source"] - before; got != 3 {
		t.Fatalf("spoofed-source drops on %s went up by %d, want 3", vm1.tap, got)
	}
	// The spoofed MAC was not learned on vm1's port.
	if out, err := h.vemctl("show", "mac-table", "--segment", "web"); err != nil {
		t.Fatal(err)
	} else if entryOn(t, h.vemHost, "web", spoofed.String()) == vm1.tap {
		t.Fatalf("spoofed MAC learned on %s:\n%s", vm1.tap, out)
	}
}

func TestTaggedFrameFromVMIsDropped(t *testing.T) {
	h := newHost(t)
	vm1 := h.vms["vm1"]
	s1, s3, sw := h.sock(vm1.ns, "eth0"), h.sock(h.vms["vm3"].ns, "eth0"), h.sock(h.sw, "sw0")
	before := h.counters(vm1.tap).Drops["tagged-on-access"]

	// VLAN hopping: vm1 (web) tags a broadcast with db's VLAN, 200.
	mark := marker("hop")
	if err := s1.Send(frame.VLAN(broadcast, vm1.mac, 200, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	if n := len(s3.Collect(200*time.Millisecond, carries(mark))) + len(sw.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("tagged frame from an access port was forwarded %d times", n)
	}
	if got := h.counters(vm1.tap).Drops["tagged-on-access"] - before; got != 1 {
		t.Fatalf("tagged-on-access drops went up by %d, want 1", got)
	}
}

func TestAdminDownPortDropsBothWays(t *testing.T) {
	h := newHost(t)
	h.ping("vm1", "192.0.2.2", 2, true)
	// Shut vm2 by profile: reload the file with vm2 on "shut".
	for i := range standardVMs {
		if standardVMs[i].name == "vm2" {
			h.vms["vm2"].prof = "shut"
		}
	}
	h.writeConfig()
	waitFor(t, 5*time.Second, "vm2 reported down", func() bool {
		out, err := h.vemctl("show", "ports", "-o", "json")
		return err == nil && portState(t, out, h.vms["vm2"].tap) == "down"
	})
	h.ping("vm1", "192.0.2.2", 2, false)
	h.ping("vm2", "192.0.2.1", 2, false)
	if c := h.counters(h.vms["vm2"].tap); c.Drops["port-down"] == 0 {
		t.Fatalf("vm2's frames should be dropped as port-down: %+v", c)
	}
	// Unchanged ports kept forwarding through the reload.
	h.ping("vm1", "192.0.2.4", 2, true)
}
