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

// TestProgKnownUnicast checks that a frame to a learned MAC is redirected
// to its port, counted there, and that the sender's MAC is learned.
func TestProgKnownUnicast(t *testing.T) {
	e := newTestEnv(t)
	p0, p1 := e.local[0], e.local[1]
	e.learn(t, p1)

	before := e.counters(t, p1.slot)
	e.mustRun(t, e.dp.objs.VemVethIngress, p0.ifindex, udpFrame(p1.mac, p0.mac, 64), tcActRedirect)
	after := e.counters(t, p1.slot)
	if after.TxPackets != before.TxPackets+1 {
		t.Errorf("tx packets of the destination: %d -> %d, want one more", before.TxPackets, after.TxPackets)
	}

	macs, err := e.dp.MACs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]testPort{p0.mac.String(): p0, p1.mac.String(): p1}
	for _, m := range macs {
		p, ok := want[m.MAC.String()]
		if !ok {
			continue
		}
		delete(want, m.MAC.String())
		if m.Segment != segLocal || m.Ifindex != p.ifindex || m.Slot != p.slot || m.Remote {
			t.Errorf("MAC entry %+v, want segment %d on ifindex %d slot %d, local", m, segLocal, p.ifindex, p.slot)
		}
		if m.Seen == 0 || m.Seen > Now() {
			t.Errorf("MAC %s seen at %v, want a time up to now (%v)", m.MAC, m.Seen, Now())
		}
	}
	for mac := range want {
		t.Errorf("MAC %s not learned", mac)
	}
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
	e.learn(t, e.vlan)
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
