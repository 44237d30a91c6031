package bpf

import (
	"net/netip"
	"testing"
)

// TestProgRemoteStaticMAC: a static remote MAC (the VSM's MAC
// distribution) keeps its remote flag and VTEP in the table, and frames
// from the uplink with it as source are not dropped as looped (as a
// port-secured local VM's MAC would be).
func TestProgRemoteStaticMAC(t *testing.T) {
	e := newTestEnv(t)
	vtep := netip.MustParseAddr("198.51.100.2")
	want := MACEntry{Segment: segVLAN, MAC: remoteMAC, Ifindex: e.uplink.ifindex, Slot: e.uplink.slot, Remote: true, VTEP: vtep}
	if err := e.dp.SetStaticMAC(want); err != nil {
		t.Fatal(err)
	}
	statics, err := e.dp.StaticMACs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range statics {
		if s.Segment == segVLAN && s.MAC.String() == remoteMAC.String() {
			found = true
			if !s.Remote || s.VTEP != vtep || s.Ifindex != e.uplink.ifindex || !s.Static {
				t.Errorf("static remote MAC read back as %+v", s)
			}
		}
	}
	if !found {
		t.Fatalf("static remote MAC not in %v", statics)
	}

	shim := e.shim(t, e.dp.objs.VemUplinkIngress, vidWeb)
	before := e.counters(t, e.uplink.slot)
	if _, err := e.run(shim, e.uplink.ifindex, udpFrame(e.vlan.mac, remoteMAC, 64), 1); err != nil {
		t.Fatal(err)
	}
	if d := e.counters(t, e.uplink.slot).Drops[DropLooped] - before.Drops[DropLooped]; d != 0 {
		t.Errorf("a frame from the remote static MAC was dropped as looped (+%d)", d)
	}
	if err := e.dp.DeleteStaticMAC(segVLAN, remoteMAC); err != nil {
		t.Fatal(err)
	}
}
