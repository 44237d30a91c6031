package bpf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// TestProgRunVLANContext pins down what the shim in testenv_test.go works
// around: test_run refuses tag metadata in the context.
func TestProgRunVLANContext(t *testing.T) {
	e := newTestEnv(t)
	p := e.local[0]
	err := withNetns(e.ns, func() error {
		ctx := skbContext{Ifindex: uint32(p.ifindex), VlanPresent: 1, VlanTCI: vidWeb}
		_, err := e.empty.Run(&ebpf.RunOptions{Data: udpFrame(broadcast, p.mac, 64), Context: ctx})
		return err
	})
	if err == nil {
		t.Skip("this kernel takes vlan_present from the test-run context: the tag shim is no longer needed")
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("test run with vlan_present in the context: %v, want EINVAL", err)
	}
}

// TestProgVerdicts runs the datapath programs on single frames and checks
// the verdict and the counter that must move.
func TestProgVerdicts(t *testing.T) {
	e := newTestEnv(t)
	veth, uplink := e.dp.objs.VemVethIngress, e.dp.objs.VemUplinkIngress
	p0, p1 := e.local[0], e.local[1]
	other := remoteMAC // any MAC that is not p0's

	tests := []struct {
		name   string
		prog   *ebpf.Program
		port   testPort
		frame  []byte
		want   uint32
		reason DropReason // counted on port's slot when want is TC_ACT_SHOT
	}{
		{"spoofed source", veth, p0, udpFrame(p1.mac, other, 64), tcActShot, DropSpoofedSource},
		{"multicast source", veth, p0, udpFrame(p1.mac, broadcast, 64), tcActShot, DropSpoofedSource},
		{"tag in data on access port", veth, p0, taggedFrame(p1.mac, p0.mac, 5, 64), tcActShot, DropTaggedOnAccess},
		{"tag in metadata on access port", e.shim(t, veth, 5), p0, udpFrame(p1.mac, p0.mac, 64), tcActShot, DropTaggedOnAccess},
		{"admin-down port", veth, e.down, udpFrame(p1.mac, e.down.mac, 64), tcActShot, DropPortDown},
		{"unknown VLAN on uplink", e.shim(t, uplink, vidNone), e.uplink, udpFrame(e.vlan.mac, remoteMAC, 64), tcActShot, DropUnknownVLAN},
		{"untagged on uplink without a flat segment", uplink, e.uplink, udpFrame(e.vlan.mac, remoteMAC, 64), tcActShot, DropUnknownVLAN},
		{"LACPDU on uplink", uplink, e.uplink, lacpFrame(remoteMAC), tcActOK, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counters(t, tt.port.slot)
			e.mustRun(t, tt.prog, tt.port.ifindex, tt.frame, tt.want)
			after := e.counters(t, tt.port.slot)
			for r := range after.Drops {
				got := after.Drops[r] - before.Drops[r]
				want := uint64(0)
				if tt.want == tcActShot && DropReason(r) == tt.reason {
					want = 1
				}
				if got != want {
					t.Errorf("%v drops on slot %d went up by %d, want %d", DropReason(r), tt.port.slot, got, want)
				}
			}
			if tt.want == tcActOK && after.RxPackets != before.RxPackets {
				t.Errorf("LACPDU counted as switched traffic: rx %d -> %d", before.RxPackets, after.RxPackets)
			}
		})
	}
}

// TestProgKnownUnicast checks that a frame to a known MAC is redirected to
// its port and counted there: a port-secured vEth's MAC is a static entry
// and never learned; an open port's source MAC is learned.
func TestProgKnownUnicast(t *testing.T) {
	e := newTestEnv(t)
	p0, p1 := e.local[0], e.local[1]

	before := e.counters(t, p1.slot)
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(p1.mac, p0.mac, 64), tcActRedirect)
	after := e.counters(t, p1.slot)
	if after.TxPackets != before.TxPackets+1 {
		t.Errorf("tx packets of the destination: %d -> %d, want one more", before.TxPackets, after.TxPackets)
	}
	if learned := learnedOn(t, e, segLocal); len(learned) != 0 {
		t.Errorf("learned %v from port-secured vEths, want them static only", learned)
	}

	// p0 opens up: its static entry goes, as the agent removes it, and its
	// source MAC is learned from the next frame.
	if err := e.dp.SetPort(Port{Ifindex: p0.ifindex, Kind: PortVEth, Segment: segLocal, Slot: p0.slot,
		MAC: p0.mac, Peer: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.DeleteStaticMAC(segLocal, p0.mac); err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(p1.mac, p0.mac, 64), tcActRedirect)
	learned := learnedOn(t, e, segLocal)
	m, ok := learned[p0.mac.String()]
	if !ok || len(learned) != 1 {
		t.Fatalf("learned %v, want %s alone", learned, p0.mac)
	}
	if m.Ifindex != p0.ifindex || m.Slot != p0.slot || m.Remote || !m.Peer || m.Static {
		t.Errorf("MAC entry %+v, want ifindex %d slot %d, local, peer, learned", m, p0.ifindex, p0.slot)
	}
	if m.Seen == 0 || m.Seen > Now() {
		t.Errorf("MAC %s seen at %v, want a time up to now (%v)", m.MAC, m.Seen, Now())
	}
	// And p1 still reaches p0: through the learned entry now.
	e.mustRun(t, e.dp.objs.VemVethIngress, p1.ifindex, udpFrame(p0.mac, p1.mac, 64), tcActRedirect)
}

// TestProgStaticBeforeLearned checks that a static entry wins over a
// learned one for the same MAC, and that a frame from the uplink cannot
// take a port-secured VM's MAC: it is dropped as looped, not learned.
func TestProgStaticBeforeLearned(t *testing.T) {
	e := newTestEnv(t)
	shim := e.shim(t, e.dp.objs.VemUplinkIngress, vidWeb)

	// A learned entry puts the VM's MAC behind the uplink (as an older
	// program could have left it); the static entry must still win.
	k := vemVemMacKey{Segment: segVLAN}
	copy(k.Mac[:], e.vlan.mac)
	v := vemVemMacEntry{Ifindex: uint32(e.uplink.ifindex), Slot: e.uplink.slot, Flags: macFlagRemote, SeenNs: uint64(Now())}
	if err := e.dp.objs.VemMacs.Put(&k, &v); err != nil {
		t.Fatal(err)
	}
	before, up := e.counters(t, e.vlan.slot), e.counters(t, e.uplink.slot)
	e.mustRun(t, shim, e.uplink.ifindex, udpFrame(e.vlan.mac, remoteMAC, 64), tcActRedirect)
	if got := e.counters(t, e.vlan.slot).TxPackets - before.TxPackets; got != 1 {
		t.Errorf("the VM's vEth sent %d frames from the uplink, want 1", got)
	}
	if got := e.counters(t, e.uplink.slot).TxPackets - up.TxPackets; got != 0 {
		t.Errorf("a frame for the VM went back out of the uplink (%d)", got)
	}
	if err := e.dp.objs.VemMacs.Delete(&k); err != nil {
		t.Fatal(err)
	}

	before = e.counters(t, e.uplink.slot)
	e.mustRun(t, shim, e.uplink.ifindex, udpFrame(broadcast, e.vlan.mac, 64), tcActShot)
	if d := e.counters(t, e.uplink.slot).Drops[DropLooped] - before.Drops[DropLooped]; d != 1 {
		t.Errorf("looped drops on the uplink +%d, want +1", d)
	}
	if _, ok := learnedOn(t, e, segVLAN)[e.vlan.mac.String()]; ok {
		t.Errorf("the VM's MAC was learned from the uplink")
	}
}

// learnedOn returns the learned (not static) MACs of segment by address.
func learnedOn(t *testing.T, e *testEnv, segment uint32) map[string]MACEntry {
	t.Helper()
	macs, err := e.dp.MACs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]MACEntry{}
	for _, m := range macs {
		if m.Segment == segment {
			out[m.MAC.String()] = m
		}
	}
	return out
}

// TestProgFlood checks that a broadcast goes to every other port of the
// segment: clones to all but the last, the original to the last.
func TestProgFlood(t *testing.T) {
	e := newTestEnv(t)
	p0 := e.local[0]
	var before []Counters
	for _, p := range e.local {
		before = append(before, e.counters(t, p.slot))
	}
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(broadcast, p0.mac, 64), tcActRedirect)
	for i, p := range e.local {
		want := before[i].TxPackets + 1
		if i == 0 {
			want = before[i].TxPackets // the sender: no hairpin
		}
		if got := e.counters(t, p.slot).TxPackets; got != want {
			t.Errorf("port %s tx packets %d, want %d", p.name, got, want)
		}
	}
}

// TestProgVLAN checks the tag push towards the uplink and the tag pop
// from it, through the shim that puts the tag where the stack would.
func TestProgVLAN(t *testing.T) {
	e := newTestEnv(t)
	e.learnRemote(t)

	macs, err := e.dp.MACs()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range macs {
		if bytes.Equal(m.MAC, remoteMAC) {
			found = true
			if !m.Remote || m.Segment != segVLAN || m.Ifindex != e.uplink.ifindex {
				t.Errorf("remote MAC entry %+v, want remote in segment %d on ifindex %d", m, segVLAN, e.uplink.ifindex)
			}
		}
	}
	if !found {
		t.Errorf("remote MAC %s not learned from the uplink", remoteMAC)
	}

	t.Run("push", func(t *testing.T) {
		before := e.counters(t, e.uplink.slot)
		e.mustRun(t, e.dp.objs.VemVethIngress, e.vlan.ifindex, udpFrame(remoteMAC, e.vlan.mac, 64), tcActRedirect)
		if got := e.counters(t, e.uplink.slot).TxPackets; got != before.TxPackets+1 {
			t.Errorf("uplink tx packets %d, want %d", got, before.TxPackets+1)
		}
	})
	t.Run("pop", func(t *testing.T) {
		before := e.counters(t, e.vlan.slot)
		shim := e.shim(t, e.dp.objs.VemUplinkIngress, vidWeb)
		e.mustRun(t, shim, e.uplink.ifindex, udpFrame(e.vlan.mac, remoteMAC, 64), tcActRedirect)
		if got := e.counters(t, e.vlan.slot).TxPackets; got != before.TxPackets+1 {
			t.Errorf("vEth tx packets %d, want %d", got, before.TxPackets+1)
		}
	})
	t.Run("no pop of a tag in the data", func(t *testing.T) {
		// What test_run alone would measure: the tag stays in the data, the
		// program sees an untagged frame of an unmapped VLAN 0.
		before := e.counters(t, e.uplink.slot)
		e.mustRun(t, e.dp.objs.VemUplinkIngress, e.uplink.ifindex, taggedFrame(e.vlan.mac, remoteMAC, vidWeb, 64), tcActShot)
		if got := e.counters(t, e.uplink.slot).Drops[DropUnknownVLAN]; got != before.Drops[DropUnknownVLAN]+1 {
			t.Errorf("unknown-vlan drops %d, want %d", got, before.Drops[DropUnknownVLAN]+1)
		}
	})
}

// TestProgFullMACTable fills the learned MAC table to its bound with
// entries of a remote host and checks that switching goes on: a new MAC is
// still learned (the LRU evicts an old one), a frame to it is sent to its
// port alone, and a port-secured VM, whose MAC is static, stays reachable.
func TestProgFullMACTable(t *testing.T) {
	e := newTestEnv(t)
	p0, p1 := e.local[0], e.local[1]
	bound := int(e.dp.objs.VemMacs.MaxEntries())
	now := uint64(Now())
	for i := range bound {
		k := vemVemMacKey{Segment: segLocal, Mac: [6]uint8{0x02, 0xee, byte(i >> 16), byte(i >> 8), byte(i), 0}}
		v := vemVemMacEntry{Ifindex: uint32(e.uplink.ifindex), Slot: e.uplink.slot, Flags: macFlagRemote, SeenNs: now}
		if err := e.dp.objs.VemMacs.Put(&k, &v); err != nil {
			t.Fatalf("fill entry %d of %d: %v", i, bound, err)
		}
	}
	if n := len(learnedOn(t, e, segLocal)); n < bound*9/10 {
		t.Fatalf("table holds %d entries after filling %d", n, bound)
	}

	// The open port's MAC is learned into the full table...
	e.mustRun(t, e.dp.objs.VemVethIngress, e.open.ifindex, udpFrame(p1.mac, e.open.mac, 64), tcActRedirect)
	if _, ok := learnedOn(t, e, segLocal)[e.open.mac.String()]; !ok {
		t.Fatalf("%s not learned into a full table", e.open.mac)
	}
	// ...and a frame to it goes to it alone, not flooded.
	before, others := e.counters(t, e.open.slot), e.counters(t, e.local[2].slot)
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(e.open.mac, p0.mac, 64), tcActRedirect)
	if got := e.counters(t, e.open.slot).TxPackets - before.TxPackets; got != 1 {
		t.Errorf("the open port sent %d frames, want 1", got)
	}
	if got := e.counters(t, e.local[2].slot).TxPackets - others.TxPackets; got != 0 {
		t.Errorf("a frame to a learned MAC was flooded (%d copies to another port)", got)
	}
	// A static MAC does not depend on the learned table at all.
	before = e.counters(t, p1.slot)
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(p1.mac, p0.mac, 64), tcActRedirect)
	if got := e.counters(t, p1.slot).TxPackets - before.TxPackets; got != 1 {
		t.Errorf("p1 sent %d frames, want 1", got)
	}
}
