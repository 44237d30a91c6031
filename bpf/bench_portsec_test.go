package bpf

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// BenchmarkPortSecurity measures what port security adds to a packet,
// with BPF_PROG_TEST_RUN as BenchmarkTestRun does, beside the same run's
// baselines (empty program, bare MAC-lookup redirect):
//
//   - unicast-secure: known unicast from a port-secured vEth without
//     address binding (the MAC check and the DHCP guard's look at UDP);
//
//   - unicast-bound-v4, -v6: the same with the source address checked
//     against the port's own addresses (in its entry: no lookup);
//
//   - unicast-bound-v4-map: a source bound in the map (one hash lookup);
//
//   - unicast-bound-prefix: a source in an allowed pair's prefix (the
//     hash misses, the LPM trie finds it);
//
//   - arp-bound: a unicast ARP reply checked against the bindings;
//
//   - bcast-alone, -storm-pass, -storm-drop: a broadcast in a segment
//     where the sender is alone (no clones: the flood ends at once), with
//     no storm control, a bucket that conforms (atomic add), and one that
//     is dry (every packet dropped and counted).
//
//     go test -run='^$' -bench=PortSecurity -benchtime=200000x ./bpf/
func BenchmarkPortSecurity(b *testing.B) {
	e := newTestEnv(b)
	veth := e.dp.objs.VemVethIngress
	p0, p1, alone := e.local[0], e.local[1], e.local[3]
	secure := e.local[2]
	e.setPolicy(b, p0, func(p *Port) { p.BindAddresses, p.Addresses = true, portAddrs })
	if err := e.dp.SetPortAddresses(p0.slot, append(testBindings(p0.mac),
		// Other ports' worth of bindings, so the maps are not trivially small.
		AddressBinding{Prefix: netip.MustParsePrefix("203.0.113.0/24")})); err != nil {
		b.Fatal(err)
	}
	for s := uint16(100); s < 300; s++ {
		if err := e.dp.SetPortAddresses(s, []AddressBinding{
			{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(s >> 8), byte(s)}), 32)},
			{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(s >> 8), 15: byte(s)}), 128)},
		}); err != nil {
			b.Fatal(err)
		}
	}
	const segAlone = 9
	if err := e.dp.SetSegment(Segment{ID: segAlone, Type: SegmentLocal,
		Ports: []FloodPort{{Ifindex: alone.ifindex, Slot: alone.slot}}}); err != nil {
		b.Fatal(err)
	}
	setAlone := func(storm uint32) {
		if err := e.dp.SetPort(Port{Ifindex: alone.ifindex, Kind: PortVEth, Segment: segAlone, Slot: alone.slot,
			MAC: alone.mac, Secure: true, Peer: true, Storm: StormControl{Broadcast: storm}}); err != nil {
			b.Fatal(err)
		}
	}

	type path struct {
		name  string
		prog  *ebpf.Program
		port  testPort
		frame []byte
		setup func()
		want  uint32
		drop  DropReason // counted for (nearly) every packet; -1: none
	}
	const none = DropReason(-1)
	paths := []path{
		{name: "empty", prog: e.empty, port: p0, frame: udpFrame(p1.mac, p0.mac, 64), want: tcActOK, drop: none},
		{name: "bare-redirect", prog: e.bare, port: p0, frame: udpFrame(p1.mac, p0.mac, 64), want: tcActRedirect, drop: none},
		{name: "unicast-secure", prog: veth, port: secure,
			frame: udp4Frame(p1.mac, secure.mac, "192.0.2.50", "192.0.2.2", 5001, 5201), want: tcActRedirect, drop: none},
		{name: "unicast-bound-v4", prog: veth, port: p0,
			frame: udp4Frame(p1.mac, p0.mac, "192.0.2.1", "192.0.2.2", 5001, 5201), want: tcActRedirect, drop: none},
		{name: "unicast-bound-v6", prog: veth, port: p0,
			frame: ip6Frame(p1.mac, p0.mac, "2001:db8::1", "2001:db8::2", 17, udp6(5001, 5201)), want: tcActRedirect, drop: none},
		{name: "unicast-bound-v4-map", prog: veth, port: p0,
			frame: udp4Frame(p1.mac, p0.mac, "192.0.2.8", "192.0.2.2", 5001, 5201), want: tcActRedirect, drop: none},
		{name: "unicast-bound-prefix", prog: veth, port: p0,
			frame: udp4Frame(p1.mac, p0.mac, "203.0.113.9", "192.0.2.2", 5001, 5201), want: tcActRedirect, drop: none},
		{name: "unicast-spoofed-v4", prog: veth, port: p0,
			frame: udp4Frame(p1.mac, p0.mac, "192.0.2.50", "192.0.2.2", 5001, 5201), want: tcActShot, drop: DropIPSpoof},
		{name: "arp-bound", prog: veth, port: p0,
			frame: arpFrame(p1.mac, p0.mac, 2, p0.mac, "192.0.2.1", "192.0.2.2"), want: tcActRedirect, drop: none},
		{name: "bcast-alone", prog: veth, port: alone, setup: func() { setAlone(0) },
			frame: udpFrame(broadcast, alone.mac, 64), want: tcActShot, drop: none},
		// 2M packets/s is faster than test_run sends: the bucket stays
		// ahead of the clock and every packet takes the atomic add.
		{name: "bcast-alone-storm-pass", prog: veth, port: alone, setup: func() { setAlone(2_000_000) },
			frame: udpFrame(broadcast, alone.mac, 64), want: tcActShot, drop: none},
		{name: "bcast-alone-storm-drop", prog: veth, port: alone, setup: func() { setAlone(1) },
			frame: udpFrame(broadcast, alone.mac, 64), want: tcActShot, drop: DropStorm},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			if p.setup != nil {
				p.setup()
			}
			before := e.counters(b, p.port.slot)
			var ret uint32
			err := withNetns(e.ns, func() error {
				var err error
				b.ResetTimer()
				ret, err = runOn(p.prog, p.port.ifindex, p.frame, b.N)
				b.StopTimer()
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if ret != p.want {
				b.Fatalf("verdict %d, want %d", ret, p.want)
			}
			if p.prog != veth {
				return
			}
			after := e.counters(b, p.port.slot)
			if got := after.RxPackets - before.RxPackets; got < uint64(b.N) {
				b.Fatalf("slot %d received %d packets of %d", p.port.slot, got, b.N)
			}
			for r := range after.Drops {
				d := after.Drops[r] - before.Drops[r]
				if DropReason(r) != p.drop && d != 0 {
					b.Fatalf("slot %d dropped %d packets as %v", p.port.slot, d, DropReason(r))
				}
				// A dry bucket may still let its first packet or two through.
				if DropReason(r) == p.drop && int(d) < b.N-2 {
					b.Fatalf("slot %d dropped %d packets of %d as %v", p.port.slot, d, b.N, DropReason(r))
				}
			}
		})
	}
}
