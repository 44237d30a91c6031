package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/frame"
)

// remote is a MAC behind the uplink: the switch namespace speaks for it.
var remote = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0a, 0x01}

func TestUplinkTagsAndUntagsBySegment(t *testing.T) {
	h := newHost(t)
	vm1, vm5 := h.vms["vm1"], h.vms["vm5"]
	s1, s2, s3, s5, sw := h.sock(vm1.ns, "eth0"), h.sock(h.vms["vm2"].ns, "eth0"),
		h.sock(h.vms["vm3"].ns, "eth0"), h.sock(vm5.ns, "eth0"), h.sock(h.sw, "sw0")

	// From the uplink, tagged 100, to vm1: delivered untagged to vm1 only,
	// and the remote MAC is learned on the uplink.
	mark := marker("down")
	if err := sw.Send(frame.VLAN(vm1.mac, remote, 100, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	got := s1.Collect(200*time.Millisecond, carries(mark))
	if len(got) != 1 || got[0].Tagged {
		t.Fatalf("vm1 got %d copies (%+v), want one untagged", len(got), got)
	}
	if n := len(s3.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("vm3 (VLAN 200) got a VLAN 100 frame")
	}
	if port := entryOn(t, h.vemHost, "web", remote.String()); port != "uplink0" {
		t.Fatalf("remote MAC learned on %q, want uplink0", port)
	}

	// vm1 answers: tagged 100 on the uplink, not flooded to vm2.
	mark = marker("up")
	if err := s1.Send(frame.Ethernet(remote, vm1.mac, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	up := sw.Collect(200*time.Millisecond, carries(mark))
	if len(up) != 1 || !up[0].Tagged || up[0].VLAN != 100 {
		t.Fatalf("uplink got %+v, want one frame tagged VLAN 100", up)
	}
	if n := len(s2.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("known unicast to the uplink was flooded to vm2")
	}

	// Untagged from the uplink belongs to the flat segment mgmt.
	mark = marker("flat")
	if err := sw.Send(frame.Ethernet(broadcast, remote, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	if got := s5.Collect(200*time.Millisecond, carries(mark)); len(got) != 1 || got[0].Tagged {
		t.Fatalf("vm5 (flat) got %+v, want one untagged copy", got)
	}
	if n := len(s1.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("untagged uplink frame reached web")
	}

	// A VLAN no segment uses is dropped and counted on the uplink.
	before := h.counters("uplink0").Drops["unknown-vlan"]
	mark = marker("vlan999")
	if err := sw.Send(frame.VLAN(broadcast, remote, 999, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*frame.Socket{s1, s2, s3, s5} {
		if n := len(s.Collect(50*time.Millisecond, carries(mark))); n != 0 {
			t.Fatalf("VLAN 999 frame was delivered")
		}
	}
	if got := h.counters("uplink0").Drops["unknown-vlan"] - before; got != 1 {
		t.Fatalf("unknown-vlan drops went up by %d, want 1", got)
	}
}

func TestMACMoveRelearns(t *testing.T) {
	h := newHost(t)
	vm1, vm4 := h.vms["vm1"], h.vms["vm4"]
	s1, s4, sw := h.sock(vm1.ns, "eth0"), h.sock(vm4.ns, "eth0"), h.sock(h.sw, "sw0")

	// The remote MAC is first seen behind the uplink...
	if err := sw.Send(frame.VLAN(broadcast, remote, 100, 0x88b5, marker("learn"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "remote MAC on uplink0", func() bool { return entryOn(t, h.vemHost, "web", remote.String()) == "uplink0" })

	// ...then moves to vm4 (a VM migrated here; vm4's port has no port
	// security), which sends from it.
	if err := s4.Send(frame.Ethernet(broadcast, remote, 0x88b5, marker("moved"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "remote MAC moved to tap4", func() bool { return entryOn(t, h.vemHost, "web", remote.String()) == vm4.tap })

	// Unicast to it now goes to vm4 only, not to the uplink.
	mark := marker("after-move")
	if err := s1.Send(frame.Ethernet(remote, vm1.mac, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	if got := len(s4.Collect(200*time.Millisecond, carries(mark))); got != 1 {
		t.Fatalf("vm4 got %d copies after the move, want 1", got)
	}
	if n := len(sw.Collect(50*time.Millisecond, carries(mark))); n != 0 {
		t.Fatalf("frame to the moved MAC still went to the uplink")
	}
}
