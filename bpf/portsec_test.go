package bpf

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// pairMAC is the MAC of an allowed address pair of the bound port.
var pairMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}

// portAddrs are the bound ports' own addresses, kept in the port entry.
var portAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}

// testBindings are the bindings of the bound ports in the tests: more
// addresses of their own, a pair with its own MAC, a prefix pair, and a
// binding that spells the port's MAC out.
func testBindings(own net.HardwareAddr) []AddressBinding {
	return []AddressBinding{
		{Prefix: netip.MustParsePrefix("192.0.2.8/32")},
		{Prefix: netip.MustParsePrefix("2001:db8::8/128")},
		{Prefix: netip.MustParsePrefix("192.0.2.100/32"), MAC: pairMAC},
		{Prefix: netip.MustParsePrefix("2001:db8::100/128"), MAC: pairMAC},
		{Prefix: netip.MustParsePrefix("198.51.100.0/28")},
		{Prefix: netip.MustParsePrefix("192.0.2.7/32"), MAC: own},
	}
}

// setPolicy rewrites a port-secured vEth of segLocal with policy applied.
func (e *testEnv) setPolicy(tb testing.TB, p testPort, policy func(*Port)) {
	tb.Helper()
	port := Port{Ifindex: p.ifindex, Kind: PortVEth, Segment: segLocal, Slot: p.slot, MAC: p.mac, Secure: true, Peer: true}
	policy(&port)
	if err := e.dp.SetPort(port); err != nil {
		tb.Fatal(err)
	}
}

// checkDrops runs frame on port and checks the verdict, that reason went
// up by one when want is TC_ACT_SHOT, and that no other drop moved.
func (e *testEnv) checkDrops(t *testing.T, prog *ebpf.Program, port testPort, frame []byte, want uint32, reason DropReason) {
	t.Helper()
	before := e.counters(t, port.slot)
	e.mustRun(t, prog, port.ifindex, frame, want)
	after := e.counters(t, port.slot)
	for r := range after.Drops {
		got, exp := after.Drops[r]-before.Drops[r], uint64(0)
		if want == tcActShot && DropReason(r) == reason {
			exp = 1
		}
		if got != exp {
			t.Errorf("%v drops on slot %d went up by %d, want %d", DropReason(r), port.slot, got, exp)
		}
	}
}

// TestPortSecurity runs spoofed and allowed frames through vEths with
// each kind of policy: bound (local[0]: port security with address
// binding), trusted (local[1]: bound, and may serve DHCP and RAs), secure
// (local[2]: port security without binding), linkLocal (local[3]: allows
// STP and LLDP) and open (no port security).
func TestPortSecurity(t *testing.T) {
	e := newTestEnv(t)
	veth := e.dp.objs.VemVethIngress
	bound, trusted, secure, ll, open := e.local[0], e.local[1], e.local[2], e.local[3], e.open
	dst := e.local[4].mac // a known unicast destination
	e.setPolicy(t, bound, func(p *Port) { p.BindAddresses, p.Addresses = true, portAddrs })
	e.setPolicy(t, trusted, func(p *Port) { p.BindAddresses, p.Trusted, p.Addresses = true, true, portAddrs })
	e.setPolicy(t, ll, func(p *Port) { p.AllowLinkLocal = LinkLocalSTP | LinkLocalLLDP })
	for _, p := range []testPort{bound, trusted} {
		if err := e.dp.SetPortAddresses(p.slot, testBindings(p.mac)); err != nil {
			t.Fatal(err)
		}
	}
	m := bound.mac
	ll6 := eui64LL(m)
	other := net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x99}

	const (
		drop = tcActShot
		pass = tcActRedirect
	)
	tests := []struct {
		name   string
		port   testPort
		frame  []byte
		want   uint32
		reason DropReason
	}{
		// Address binding: drops.
		{"IPv4 source not bound", bound, udp4Frame(dst, m, "192.0.2.50", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"IPv4 0.0.0.0 but not DHCP", bound, udp4Frame(dst, m, "0.0.0.0", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"IPv4 of the pair from the port's MAC", bound, udp4Frame(dst, m, "192.0.2.100", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"IPv4 of the port from the pair's MAC", bound, udp4Frame(dst, pairMAC, "192.0.2.1", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"IPv4 just outside the prefix pair", bound, udp4Frame(dst, m, "198.51.100.16", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"IPv6 source not bound", bound, ip6Frame(dst, m, "2001:db8::99", "2001:db8::2", 17, udp6(5001, 5201)), drop, DropIPSpoof},
		{"IPv6 link-local not the MAC's", bound, ip6Frame(dst, m, "fe80::1234", "fe80::2", 17, udp6(5001, 5201)), drop, DropIPSpoof},
		{"IPv6 :: but not DAD or MLD", bound, ip6Frame(dst, m, "::", "2001:db8::2", 17, udp6(5001, 5201)), drop, DropIPSpoof},
		{"IPv4 mapped into IPv6", bound, ip6Frame(dst, m, "::ffff:192.0.2.1", "2001:db8::2", 17, udp6(5001, 5201)), drop, DropIPSpoof},
		{"ARP reply for another address", bound, arpFrame(dst, m, 2, m, "192.0.2.50", "192.0.2.2"), drop, DropARPSpoof},
		{"gratuitous ARP for another address", bound, arpFrame(broadcast, m, 1, m, "192.0.2.50", "192.0.2.50"), drop, DropARPSpoof},
		{"ARP sender MAC not the frame's", bound, arpFrame(broadcast, m, 1, other, "192.0.2.1", "192.0.2.2"), drop, DropARPSpoof},
		{"ARP of the pair's IP from the port's MAC", bound, arpFrame(broadcast, m, 1, m, "192.0.2.100", "192.0.2.2"), drop, DropARPSpoof},
		{"NA for another address", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 58, nd(136, "2001:db8::99", ndOpt(2, m))), drop, DropNDSpoof},
		{"NA with another target MAC", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 58, nd(136, "2001:db8::1", ndOpt(2, other))), drop, DropNDSpoof},
		{"NS with another source MAC", bound, ip6Frame(allNodesMAC, m, "2001:db8::1", "ff02::1", 58, nd(135, "2001:db8::2", ndOpt(1, other))), drop, DropNDSpoof},
		{"DAD NS with a source MAC option", bound, ip6Frame(allNodesMAC, m, "::", "ff02::1", 58, nd(135, "2001:db8::1", ndOpt(1, m))), drop, DropNDSpoof},
		{"NA option hidden behind four others", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 58,
			nd(136, "2001:db8::1", ndOpt(14, m), ndOpt(14, m), ndOpt(14, m), ndOpt(14, m), ndOpt(2, other))), drop, DropNDSpoof},
		{"source MAC of no pair", bound, udp4Frame(dst, other, "192.0.2.1", "192.0.2.2", 5001, 5201), drop, DropSpoofedSource},

		// Address binding: allowed.
		{"IPv4 bound", bound, udp4Frame(dst, m, "192.0.2.1", "192.0.2.2", 5001, 5201), pass, 0},
		{"IPv4 bound in the map", bound, udp4Frame(dst, m, "192.0.2.8", "192.0.2.2", 5001, 5201), pass, 0},
		{"IPv6 bound in the map", bound, ip6Frame(dst, m, "2001:db8::8", "2001:db8::2", 17, udp6(5001, 5201)), pass, 0},
		{"ARP for an address in the map", bound, arpFrame(broadcast, m, 1, m, "192.0.2.8", "192.0.2.2"), pass, 0},
		{"NA for an address in the map", bound, ip6Frame(dst, m, "2001:db8::8", "2001:db8::2", 58, nd(136, "2001:db8::8", ndOpt(2, m))), pass, 0},
		{"NA for ::", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 58, nd(136, "::", ndOpt(2, m))), drop, DropNDSpoof},
		{"IPv4 bound with the port's MAC spelled out", bound, udp4Frame(dst, m, "192.0.2.7", "192.0.2.2", 5001, 5201), pass, 0},
		{"IPv4 in the prefix pair", bound, udp4Frame(dst, m, "198.51.100.15", "192.0.2.2", 5001, 5201), pass, 0},
		{"pair with its own MAC", bound, udp4Frame(dst, pairMAC, "192.0.2.100", "192.0.2.2", 5001, 5201), pass, 0},
		{"pair IPv6 with its own MAC", bound, ip6Frame(dst, pairMAC, "2001:db8::100", "2001:db8::2", 17, udp6(5001, 5201)), pass, 0},
		{"pair's link-local with its own MAC", bound, ip6Frame(dst, pairMAC, eui64LL(pairMAC), "fe80::2", 17, udp6(5001, 5201)), pass, 0},
		{"DHCP discover from 0.0.0.0", bound, udp4Frame(broadcast, m, "0.0.0.0", "255.255.255.255", 68, 67), pass, 0},
		{"IPv6 bound", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 17, udp6(5001, 5201)), pass, 0},
		{"link-local from the MAC's EUI-64", bound, ip6Frame(dst, m, ll6, "fe80::2", 17, udp6(5001, 5201)), pass, 0},
		{"DAD from ::", bound, ip6Frame(allNodesMAC, m, "::", "ff02::1:ff00:1", 58, nd(135, "2001:db8::1")), pass, 0},
		{"MLDv2 report from ::", bound, ip6Frame(mldMAC, m, "::", "ff02::16", 0, hopByHop(58, icmp6(143, make([]byte, 4)))), pass, 0},
		{"NS with the port's MAC", bound, ip6Frame(allNodesMAC, m, "2001:db8::1", "ff02::1", 58, nd(135, "2001:db8::2", ndOpt(1, m))), pass, 0},
		{"NA for the port's address", bound, ip6Frame(dst, m, "2001:db8::1", "2001:db8::2", 58, nd(136, "2001:db8::1", ndOpt(2, m))), pass, 0},
		{"NA for the link-local address", bound, ip6Frame(dst, m, ll6, "fe80::2", 58, nd(136, ll6, ndOpt(2, m))), pass, 0},
		{"ARP request", bound, arpFrame(broadcast, m, 1, m, "192.0.2.1", "192.0.2.2"), pass, 0},
		{"ARP reply", bound, arpFrame(dst, m, 2, m, "192.0.2.1", "192.0.2.2"), pass, 0},
		{"ARP probe from 0.0.0.0", bound, arpFrame(broadcast, m, 1, m, "0.0.0.0", "192.0.2.1"), pass, 0},
		{"ARP of the pair with its MAC", bound, arpFrame(broadcast, pairMAC, 1, pairMAC, "192.0.2.100", "192.0.2.2"), pass, 0},

		// DHCP and RA guard.
		{"DHCP offer", bound, udp4Frame(broadcast, m, "192.0.2.1", "255.255.255.255", 67, 68), drop, DropDHCPServer},
		{"DHCP offer, port security without binding", secure, udp4Frame(broadcast, secure.mac, "192.0.2.1", "255.255.255.255", 67, 68), drop, DropDHCPServer},
		{"DHCPv6 reply", bound, ip6Frame(dst, m, ll6, "fe80::2", 17, udp6(547, 546)), drop, DropDHCPServer},
		{"router advertisement", bound, ip6Frame(allNodesMAC, m, ll6, "ff02::1", 58, icmp6(134, make([]byte, 12))), drop, DropRouterAdvert},
		{"RA behind a hop-by-hop header", bound, ip6Frame(allNodesMAC, m, ll6, "ff02::1", 0, hopByHop(58, icmp6(134, make([]byte, 12)))), drop, DropRouterAdvert},
		{"redirect", bound, ip6Frame(dst, m, ll6, "fe80::2", 58, icmp6(137, make([]byte, 36))), drop, DropRouterAdvert},
		{"trusted DHCP offer", trusted, udp4Frame(broadcast, trusted.mac, "192.0.2.1", "255.255.255.255", 67, 68), pass, 0},
		{"trusted DHCPv6 reply", trusted, ip6Frame(dst, trusted.mac, eui64LL(trusted.mac), "fe80::2", 17, udp6(547, 546)), pass, 0},
		{"trusted RA", trusted, ip6Frame(allNodesMAC, trusted.mac, eui64LL(trusted.mac), "ff02::1", 58, icmp6(134, make([]byte, 12))), pass, 0},
		{"trusted, still bound", trusted, udp4Frame(dst, trusted.mac, "192.0.2.50", "192.0.2.2", 5001, 5201), drop, DropIPSpoof},
		{"DHCP client", bound, udp4Frame(dst, m, "192.0.2.1", "192.0.2.2", 68, 67), pass, 0},
		{"port security without binding: any source IP", secure, udp4Frame(dst, secure.mac, "192.0.2.50", "192.0.2.2", 5001, 5201), pass, 0},
		{"open port: DHCP offer", open, udp4Frame(broadcast, open.mac, "192.0.2.1", "255.255.255.255", 67, 68), pass, 0},
		{"open port: RA", open, ip6Frame(allNodesMAC, open.mac, eui64LL(open.mac), "ff02::1", 58, icmp6(134, make([]byte, 12))), pass, 0},

		// Link-local destinations.
		{"BPDU", bound, bpduFrame(m), drop, DropLinkLocal},
		{"LACPDU from a VM", bound, lacpFrame(m), drop, DropLinkLocal},
		{"PAUSE", bound, pauseFrame(pauseMAC, m), drop, DropLinkLocal},
		{"PAUSE to a unicast address", bound, pauseFrame(dst, m), drop, DropLinkLocal},
		{"EAPOL", bound, ethFrame(eapolMAC, m, 0x888e, make([]byte, 8)), drop, DropLinkLocal},
		{"LLDP", bound, ethFrame(lldpMAC, m, 0x88cc, make([]byte, 8)), drop, DropLinkLocal},
		{"open port: BPDU", open, bpduFrame(open.mac), drop, DropLinkLocal},
		{"allowed BPDU", ll, bpduFrame(ll.mac), pass, 0},
		{"allowed LLDP", ll, ethFrame(lldpMAC, ll.mac, 0x88cc, make([]byte, 8)), pass, 0},
		{"LACPDU, not allowed with STP and LLDP", ll, lacpFrame(ll.mac), drop, DropLinkLocal},
		{"other multicast", bound, udp4Frame(allNodesMAC, m, "192.0.2.1", "192.0.2.2", 5001, 5201), pass, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.checkDrops(t, veth, tt.port, tt.frame, tt.want, tt.reason)
		})
	}
}

// TestPortAddresses checks that the bindings read back as written, that
// rewriting changes only what differs, and that bad bindings are refused.
func TestPortAddresses(t *testing.T) {
	d := openTest(t)
	own := net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x01}
	if err := d.SetPortAddresses(3, testBindings(own)); err != nil {
		t.Fatal(err)
	}
	// Another port's bindings are not touched by the rewrites below.
	other := []AddressBinding{{Prefix: netip.MustParsePrefix("192.0.2.1/32")}}
	if err := d.SetPortAddresses(4, other); err != nil {
		t.Fatal(err)
	}
	check := func(slot uint16, want []AddressBinding) {
		t.Helper()
		got, err := d.PortAddresses(slot)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("slot %d bindings\n got %v\nwant %v", slot, got, want)
		}
	}
	check(3, []AddressBinding{
		{Prefix: netip.MustParsePrefix("192.0.2.8/32")},
		{Prefix: netip.MustParsePrefix("198.51.100.0/28")},
		{Prefix: netip.MustParsePrefix("2001:db8::8/128")},
		{Prefix: netip.MustParsePrefix("192.0.2.7/32"), MAC: own},
		{Prefix: netip.MustParsePrefix("192.0.2.100/32"), MAC: pairMAC},
		{Prefix: netip.MustParsePrefix("2001:db8::100/128"), MAC: pairMAC},
	})

	next := []AddressBinding{
		{Prefix: netip.MustParsePrefix("192.0.2.1/32")},
		{Prefix: netip.MustParsePrefix("2001:db8::/64"), MAC: pairMAC},
		{Prefix: netip.MustParsePrefix("198.51.100.5/28")}, // host bits go
	}
	if err := d.SetPortAddresses(3, next); err != nil {
		t.Fatal(err)
	}
	check(3, []AddressBinding{
		{Prefix: netip.MustParsePrefix("192.0.2.1/32")},
		{Prefix: netip.MustParsePrefix("198.51.100.0/28")},
		{Prefix: netip.MustParsePrefix("2001:db8::/64"), MAC: pairMAC},
	})
	macs, err := slotKeys[vemVemPortMac](d.objs.VemPortMacs, 3, func(k vemVemPortMac) uint32 { return k.Slot })
	if err != nil {
		t.Fatal(err)
	}
	if len(macs) != 1 || !macs[vemVemPortMac{Slot: 3, Mac: [6]uint8(pairMAC)}] {
		t.Errorf("pair MACs of slot 3: %v, want %v alone", macs, pairMAC)
	}
	check(4, other)

	if err := d.SetPortAddresses(3, nil); err != nil {
		t.Fatal(err)
	}
	check(3, nil)
	if macs, _ := slotKeys[vemVemPortMac](d.objs.VemPortMacs, 3, func(k vemVemPortMac) uint32 { return k.Slot }); len(macs) != 0 {
		t.Errorf("pair MACs left after removing every binding: %v", macs)
	}
	check(4, other)

	for _, bad := range []AddressBinding{
		{},
		{Prefix: netip.MustParsePrefix("::ffff:192.0.2.1/128")},
		{Prefix: netip.MustParsePrefix("192.0.2.1/32"), MAC: net.HardwareAddr{0x01, 0, 0, 0, 0, 1}},
		{Prefix: netip.MustParsePrefix("192.0.2.1/32"), MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}},
		{Prefix: netip.MustParsePrefix("192.0.2.1/32"), MAC: net.HardwareAddr{0x52, 0, 0, 0}},
	} {
		if err := d.SetPortAddresses(3, []AddressBinding{bad}); err == nil {
			t.Errorf("binding %#v accepted", bad)
		}
	}
	if err := d.SetPortAddresses(0, nil); err == nil {
		t.Error("slot 0 accepted")
	}

	// More bindings than one batch read takes: each slot still finds its
	// own, and rewriting one leaves the others.
	many := func(s uint16) []AddressBinding {
		return []AddressBinding{
			{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(s >> 8), byte(s)}), 32)},
			{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 2, byte(s >> 8), byte(s)}), 32)},
		}
	}
	for s := uint16(10); s < 410; s++ {
		if err := d.SetPortAddresses(s, many(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetPortAddresses(200, many(1000)); err != nil {
		t.Fatal(err)
	}
	check(200, many(1000))
	check(201, many(201))
	check(409, many(409))
}

// TestPortPolicyRoundTrip checks that every policy field reads back as
// written, and that the zero value reads back as zero.
func TestPortPolicyRoundTrip(t *testing.T) {
	d := openTest(t)
	want := []Port{
		{Ifindex: 7, Kind: PortVEth, Segment: 1, Slot: 2, MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, Secure: true,
			AllowLinkLocal: LinkLocalLLDP | LinkLocalEAPOL, Trusted: true, BindAddresses: true,
			Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
				netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1")},
			Storm: StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 3000}},
		{Ifindex: 8, Kind: PortVEth, Segment: 1, Slot: 3, MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}, MaxMACs: 16},
	}
	for _, p := range want {
		if err := d.SetPort(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Ports()
	if err != nil {
		t.Fatal(err)
	}
	byIfindex := map[int]Port{}
	for _, p := range got {
		byIfindex[p.Ifindex] = p
	}
	for _, p := range want {
		if !reflect.DeepEqual(byIfindex[p.Ifindex], p) {
			t.Errorf("port read back as %+v, want %+v", byIfindex[p.Ifindex], p)
		}
	}
	for _, bad := range []Port{
		{Ifindex: 9, Kind: PortVEth, Slot: 4, MaxMACs: -1},
		{Ifindex: 9, Kind: PortVEth, Slot: 4, Addresses: []netip.Addr{{}}},
		{Ifindex: 9, Kind: PortVEth, Slot: 4, Addresses: []netip.Addr{netip.MustParseAddr("0.0.0.0")}},
		{Ifindex: 9, Kind: PortVEth, Slot: 4, Addresses: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}},
		{Ifindex: 9, Kind: PortVEth, Slot: 4, Addresses: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}},
		{Ifindex: 9, Kind: PortVEth, Slot: 4, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"),
			netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4"),
			netip.MustParseAddr("192.0.2.5")}},
	} {
		if err := d.SetPort(bad); err == nil {
			t.Errorf("port %+v accepted", bad)
		}
	}
}

// TestMACLimit floods an open port with new source MACs: it learns up to
// its limit, drops and counts frames from further new sources, goes on
// passing the known ones, and leaves other ports' entries alone; a sweep
// that deletes some of its entries lets it learn again.
func TestMACLimit(t *testing.T) {
	e := newTestEnv(t)
	veth := e.dp.objs.VemVethIngress
	const limit, flood = 8, 500
	neighbour := e.local[4]
	// neighbour opens up too (no limit) and is learned.
	if err := e.dp.SetPort(Port{Ifindex: neighbour.ifindex, Kind: PortVEth, Segment: segLocal, Slot: neighbour.slot,
		MAC: neighbour.mac, Peer: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.DeleteStaticMAC(segLocal, neighbour.mac); err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, veth, neighbour.ifindex, udpFrame(e.local[1].mac, neighbour.mac, 64), tcActRedirect)
	if err := e.dp.SetPort(Port{Ifindex: e.open.ifindex, Kind: PortVEth, Segment: segLocal, Slot: e.open.slot,
		MAC: e.open.mac, Peer: true, MaxMACs: limit}); err != nil {
		t.Fatal(err)
	}

	src := func(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0xaa, 0, 0, byte(i >> 8), byte(i)} }
	before := e.counters(t, e.open.slot)
	err := withNetns(e.ns, func() error {
		for i := range flood {
			want := uint32(tcActRedirect)
			if i >= limit {
				want = tcActShot
			}
			ret, err := runOn(veth, e.open.ifindex, udpFrame(e.local[1].mac, src(i), 64), 1)
			if err != nil {
				return err
			}
			if ret != want {
				return fmt.Errorf("frame from new source %d: verdict %d, want %d", i, ret, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.counters(t, e.open.slot).Drops[DropMACLimit] - before.Drops[DropMACLimit]; d != flood-limit {
		t.Errorf("mac-limit drops +%d, want +%d", d, flood-limit)
	}
	if n, err := e.dp.LearnedMACs(e.open.slot); err != nil || n != limit {
		t.Errorf("learned MACs of the flooder: %d (%v), want %d", n, err, limit)
	}
	learned := learnedOn(t, e, segLocal)
	if _, ok := learned[neighbour.mac.String()]; !ok {
		t.Errorf("the neighbour's MAC is gone after the flood")
	}
	if len(learned) != limit+1 {
		t.Errorf("%d MACs learned, want the flooder's %d and the neighbour's", len(learned), limit)
	}
	// Known sources still pass.
	for i := range limit {
		e.mustRun(t, veth, e.open.ifindex, udpFrame(e.local[1].mac, src(i), 64), tcActRedirect)
	}

	// A sweep deletes two of the flooder's MACs and recounts: two new
	// sources are learned, the third is refused again.
	n, err := e.dp.DeleteMACs(func(m MACEntry) bool { return m.MAC.String() == src(0).String() || m.MAC.String() == src(1).String() })
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want 2", n, err)
	}
	if n, _ := e.dp.LearnedMACs(e.open.slot); n != limit-2 {
		t.Errorf("learned MACs after the sweep: %d, want %d", n, limit-2)
	}
	for i, want := range []uint32{tcActRedirect, tcActRedirect, tcActShot} {
		e.mustRun(t, veth, e.open.ifindex, udpFrame(e.local[1].mac, src(flood+i), 64), want)
	}
	// A counter that drifted (an eviction the program cannot see) is set
	// right by the next sweep.
	if err := e.dp.objs.VemLearned.Put(uint32(e.open.slot), int32(1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.DeleteMACs(func(MACEntry) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.dp.LearnedMACs(e.open.slot); n != limit {
		t.Errorf("learned MACs after a recount: %d, want %d", n, limit)
	}
	if n, _ := e.dp.LearnedMACs(neighbour.slot); n != 1 {
		t.Errorf("learned MACs of the neighbour: %d, want 1", n)
	}
}

// TestStormControl checks the bucket of one class: a second's worth of
// the rate passes back to back, the rest of a burst is dropped and
// counted, other classes are untouched, and the bucket refills with time.
// Bounds allow for the time the runs take, measured; nothing depends on
// how fast the machine is.
func TestStormControl(t *testing.T) {
	e := newTestEnv(t)
	veth := e.dp.objs.VemVethIngress
	p := e.local[0]
	const rate, burst = 200, 600
	e.setPolicy(t, p, func(port *Port) { port.Storm = StormControl{Broadcast: rate} })

	runBurst := func(frame []byte, n int) (passed int, elapsed time.Duration) {
		t.Helper()
		before := e.counters(t, p.slot).Drops[DropStorm]
		start := time.Now()
		if _, err := e.run(veth, p.ifindex, frame, n); err != nil {
			t.Fatal(err)
		}
		elapsed = time.Since(start)
		return n - int(e.counters(t, p.slot).Drops[DropStorm]-before), elapsed
	}
	bcast := udpFrame(broadcast, p.mac, 64)
	passed, elapsed := runBurst(bcast, burst)
	// GCRA with a one-second tolerance: rate+1 back to back, then one
	// per 1/rate s of the time the run took, on a clock that moves in
	// ticks of up to 10 ms.
	most := rate + 1 + int((elapsed+10*time.Millisecond).Seconds()*rate) + 1
	if passed < rate || passed > most {
		t.Errorf("%d of %d broadcasts passed in %v, want %d..%d", passed, burst, elapsed, rate, most)
	}

	// Multicast and unknown unicast have buckets of their own (no limit).
	e.checkDrops(t, veth, p, udpFrame(allNodesMAC, p.mac, 64), tcActRedirect, 0)
	e.checkDrops(t, veth, p, udpFrame(remoteMAC, p.mac, 64), tcActRedirect, 0)

	// The bucket refills at the rate: after 100 ms (90 ms at least on
	// the coarse clock), at least 18 pass.
	time.Sleep(100 * time.Millisecond)
	if passed, _ := runBurst(bcast, 40); passed < 18 {
		t.Errorf("%d broadcasts passed 100 ms after the bucket ran dry, want about 20", passed)
	}

	// A port that takes the slot over starts with a full bucket.
	if err := e.dp.ResetCounters(p.slot); err != nil {
		t.Fatal(err)
	}
	if passed, _ := runBurst(bcast, rate); passed != rate {
		t.Errorf("%d of %d broadcasts passed after a reset, want all", passed, rate)
	}

	// Rate 0 is no limit.
	e.setPolicy(t, p, func(*Port) {})
	if passed, _ := runBurst(bcast, 300); passed != 300 {
		t.Errorf("%d of 300 broadcasts passed without a limit", passed)
	}
}

func TestLinkLocalNames(t *testing.T) {
	tests := []struct {
		in   string
		want LinkLocal
		str  string
	}{
		{"none", 0, "none"},
		{"all", LinkLocalAll, "all"},
		{"stp", LinkLocalSTP, "stp"},
		{"lldp, STP", LinkLocalSTP | LinkLocalLLDP, "stp,lldp"},
		{"slow", LinkLocalSlow, "lacp"},
		{"lacp,pause,eapol", LinkLocalSlow | LinkLocalPause | LinkLocalEAPOL, "pause,lacp,eapol"},
		{"01:80:c2:00:00:0d,lldp", 1<<0xd | LinkLocalLLDP, "lldp,01:80:c2:00:00:0d"},
	}
	for _, tt := range tests {
		got, err := ParseLinkLocal(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLinkLocal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("%q reads back as %q, want %q", tt.in, s, tt.str)
		}
	}
	for _, bad := range []string{"", "bpdu", "01:80:c2:00:00:10", "01:80:c2:00:00:0", "stp,,lldp"} {
		if l, err := ParseLinkLocal(bad); err == nil {
			t.Errorf("ParseLinkLocal(%q) = %v, want an error", bad, l)
		}
	}
}

func FuzzParseLinkLocal(f *testing.F) {
	for _, s := range []string{"stp", "all", "none", "lldp,01:80:c2:00:00:0d", "lacp, pause"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLinkLocal(s)
		if err != nil {
			return
		}
		again, err := ParseLinkLocal(l.String())
		if err != nil || again != l {
			t.Fatalf("%q parsed to %v, which reads back as %v (%v)", s, l, again, err)
		}
	})
}
