package frame

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

var (
	ip6A = net.ParseIP("2001:db8::a")
	ip6B = net.ParseIP("2001:db8::b")
)

func TestIPv6Addresses(t *testing.T) {
	tests := []struct {
		name string
		got  net.IP
		want string
	}{
		// RFC 4291 appendix A: flip the universal/local bit, insert ff:fe.
		{"EUI-64 link-local", LinkLocal(net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}), "fe80::5054:ff:fe12:3456"},
		{"EUI-64 of a local MAC clears the bit", LinkLocal(macA), "fe80::ff:fe00:a"},
		{"solicited-node", SolicitedNode(net.ParseIP("2001:db8::1:2345:6789")), "ff02::1:ff45:6789"},
		{"solicited-node of a link-local", SolicitedNode(LinkLocal(macB)), "ff02::1:ff00:b"},
	}
	for _, tt := range tests {
		if !tt.got.Equal(net.ParseIP(tt.want)) {
			t.Errorf("%s = %v, want %s", tt.name, tt.got, tt.want)
		}
	}
	if got := MulticastMAC(net.ParseIP("ff02::1:ff45:6789")).String(); got != "33:33:ff:45:67:89" {
		t.Errorf("MulticastMAC = %s, want 33:33:ff:45:67:89", got)
	}
	for _, bad := range []net.IP{net.ParseIP("2001:db8::1"), net.ParseIP("192.0.2.1")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MulticastMAC(%v) did not panic", bad)
				}
			}()
			MulticastMAC(bad)
		}()
	}
}

// checkIPv6 checks an IPv6 header and the upper-layer checksum, and
// returns the upper-layer message.
func checkIPv6(t *testing.T, p []byte, src, dst net.IP, nh uint8) []byte {
	t.Helper()
	if len(p) < 40 || p[0]>>4 != 6 {
		t.Fatalf("not an IPv6 packet: % x", p)
	}
	if got := int(binary.BigEndian.Uint16(p[4:])); got != len(p)-40 {
		t.Errorf("payload length %d, want %d", got, len(p)-40)
	}
	if p[6] != nh || p[7] != 255 {
		t.Errorf("next header %d hop limit %d, want %d, 255", p[6], p[7], nh)
	}
	if !net.IP(p[8:24]).Equal(src) || !net.IP(p[24:40]).Equal(dst) {
		t.Errorf("addresses %v -> %v, want %v -> %v", net.IP(p[8:24]), net.IP(p[24:40]), src, dst)
	}
	upper := p[40:]
	pseudo := append(append(append([]byte{}, src.To16()...), dst.To16()...), 0, 0, byte(len(upper)>>8), byte(len(upper)), 0, 0, 0, nh)
	if Checksum(append(pseudo, upper...)) != 0 {
		t.Errorf("upper-layer checksum does not verify: % x", upper)
	}
	return upper
}

func TestIPv6Builders(t *testing.T) {
	ll := LinkLocal(macA)
	tests := []struct {
		name     string
		pkt      []byte
		src, dst net.IP
		nh       uint8
		// want is the expected upper-layer message with a zero checksum.
		want []byte
	}{
		{
			name: "UDP", pkt: UDP6(ip6A, ip6B, 546, 547, []byte("hello")), src: ip6A, dst: ip6B, nh: 17,
			want: append([]byte{0x02, 0x22, 0x02, 0x23, 0, 13, 0, 0}, "hello"...),
		},
		{
			name: "DAD: NS from :: without options", pkt: NeighborSolicitation(IPv6Unspecified, ip6A),
			src: IPv6Unspecified, dst: net.ParseIP("ff02::1:ff00:a"), nh: 58,
			want: append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, ip6A...),
		},
		{
			name: "NS with source link-layer address", pkt: NeighborSolicitation(ip6A, ip6B, NDOption(NDOptSourceLinkAddr, macA)),
			src: ip6A, dst: net.ParseIP("ff02::1:ff00:b"), nh: 58,
			want: append(append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, ip6B...), 1, 1, 0x02, 0, 0, 0, 0, 0x0a),
		},
		{
			name: "unsolicited NA with target link-layer address",
			pkt:  NeighborAdvertisement(ll, IPv6AllNodes, ip6A, NAFlagOverride, NDOption(NDOptTargetLinkAddr, macA)),
			src:  ll, dst: IPv6AllNodes, nh: 58,
			want: append(append([]byte{136, 0, 0, 0, 0x20, 0, 0, 0}, ip6A...), 2, 1, 0x02, 0, 0, 0, 0, 0x0a),
		},
		{
			name: "RA", pkt: RouterAdvertisement(ll, macA), src: ll, dst: IPv6AllNodes, nh: 58,
			want: []byte{134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x02, 0, 0, 0, 0, 0x0a},
		},
		{
			name: "redirect", pkt: Redirect(ll, ip6B, LinkLocal(macB), ip6A), src: ll, dst: ip6B, nh: 58,
			want: append(append([]byte{137, 0, 0, 0, 0, 0, 0, 0}, LinkLocal(macB)...), ip6A...),
		},
		{
			name: "ICMPv6 echo", pkt: ICMPv6(ip6A, ip6B, ICMPv6EchoRequest, 0, []byte{0, 1, 0, 2}), src: ip6A, dst: ip6B, nh: 58,
			want: []byte{128, 0, 0, 0, 0, 1, 0, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upper := checkIPv6(t, tt.pkt, tt.src, tt.dst, tt.nh)
			sumAt := 2 // ICMPv6
			if tt.nh == 17 {
				sumAt = 6
			}
			got := append([]byte{}, upper...)
			got[sumAt], got[sumAt+1] = 0, 0
			if !bytes.Equal(got, tt.want) {
				t.Errorf("message = % x\nwant      % x", got, tt.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("IPv6 with an IPv4 source did not panic")
		}
	}()
	IPv6(net.ParseIP("192.0.2.1"), ip6B, 17, nil)
}

// The peer's kernel answers a neighbour solicitation and an echo request
// and delivers a UDP datagram only if their checksums are valid.
func TestKernelAcceptsIPv6(t *testing.T) {
	_, _, b, sa, _ := link(t)
	if err := b.AddAddr("eth0", "2001:db8::b/64"); err != nil {
		t.Fatal(err)
	}
	icmp := func(typ uint8) func(Frame) bool {
		return func(f Frame) bool {
			p := f.Payload()
			return !f.Outgoing && f.EtherType() == EtherTypeIPv6 && len(p) > 40 && p[6] == 58 && p[40] == typ
		}
	}

	// NS from a global address: the kernel answers with a solicited NA
	// for the target, and records a's link-layer address. The first may
	// come before b's IPv6 is up on the new link: ask again, boundedly.
	ns := NeighborSolicitation(ip6A, ip6B, NDOption(NDOptSourceLinkAddr, macA))
	nas := untilAnswered(t, sa, Ethernet(MulticastMAC(SolicitedNode(ip6B)), macA, EtherTypeIPv6, ns), icmp(ICMPv6NeighAdvert))
	na := nas.Payload()
	if !net.IP(na[48:64]).Equal(ip6B) || na[44]&NAFlagSolicited == 0 {
		t.Errorf("NA target %v flags %#x, want %v solicited", net.IP(na[48:64]), na[44], ip6B)
	}

	// Echo: answered (the NS left a's address in the cache).
	echo := ICMPv6(ip6A, ip6B, ICMPv6EchoRequest, 0, []byte{0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'})
	untilAnswered(t, sa, Ethernet(macB, macA, EtherTypeIPv6, echo), icmp(129))

	var conn net.PacketConn
	if err := b.Do(func() (err error) {
		conn, err = net.ListenPacket("udp6", "[2001:db8::b]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	for _, payload := range [][]byte{[]byte("odd"), []byte("even"), bytes.Repeat([]byte{0xff}, 300)} {
		// A trailer after the packet, as the e2e tests add, is trimmed.
		f := append(Ethernet(macB, macA, EtherTypeIPv6, UDP6(ip6A, ip6B, 40000, port, payload)), "trailer"...)
		if err := sa.Send(f); err != nil {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram with %d-byte payload not delivered: %v", len(payload), err)
		}
		if !bytes.Equal(buf[:n], payload) || from.(*net.UDPAddr).Port != 40000 {
			t.Errorf("delivered % x from %v, want % x from port 40000", buf[:n], from, payload)
		}
	}
}

// untilAnswered sends out on s every 200 ms until a frame matching answer
// comes back, at most 25 times, and returns the first answer.
func untilAnswered(t *testing.T, s *Socket, out []byte, answer func(Frame) bool) Frame {
	t.Helper()
	for range 25 {
		if err := s.Send(out); err != nil {
			t.Fatal(err)
		}
		if got := s.Collect(200*time.Millisecond, answer); len(got) > 0 {
			return got[0]
		}
	}
	t.Fatalf("no answer to % x", out)
	return Frame{}
}
