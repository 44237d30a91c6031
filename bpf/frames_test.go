package bpf

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Frame builders for the port security tests. Checksums are left zero:
// the datapath reads none, and nothing delivers these frames to a socket.

// IEEE 802.1 link-local destinations.
var (
	bridgeGroupMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}
	pauseMAC       = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x01}
	eapolMAC       = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x03}
	lldpMAC        = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}
	// allNodesMAC is 33:33:00:00:00:01, IPv6 ff02::1; mldMAC ff02::16.
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
	mldMAC      = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x16}
)

// ethFrame returns an Ethernet frame of payload, padded to 60 bytes.
func ethFrame(dst, src net.HardwareAddr, etype uint16, payload []byte) []byte {
	b := make([]byte, 14, max(60, 14+len(payload)))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], etype)
	b = append(b, payload...)
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// udp4Frame returns an IPv4/UDP frame from sip:sport to dip:dport.
func udp4Frame(dst, src net.HardwareAddr, sip, dip string, sport, dport uint16) []byte {
	ip := make([]byte, 20+8+32)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8] = 64
	ip[9] = 17
	s, d := netip.MustParseAddr(sip).As4(), netip.MustParseAddr(dip).As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], uint16(len(ip)-20))
	return ethFrame(dst, src, 0x0800, ip)
}

// arpFrame returns an ARP packet (op 1 request, 2 reply) with sender sha
// and spa, target tpa, from the frame source src to dst.
func arpFrame(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa, tpa string) []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], sha)
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(a[14:18], s[:])
	copy(a[24:28], t[:])
	return ethFrame(dst, src, 0x0806, a)
}

// ip6Frame returns an IPv6 packet with next header nh and payload.
func ip6Frame(dst, src net.HardwareAddr, sip, dip string, nh uint8, payload []byte) []byte {
	ip := make([]byte, 40, 40+len(payload))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(payload)))
	ip[6] = nh
	ip[7] = 255
	s, d := netip.MustParseAddr(sip).As16(), netip.MustParseAddr(dip).As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	return ethFrame(dst, src, 0x86dd, append(ip, payload...))
}

// icmp6 returns an ICMPv6 message of type typ with body after the
// 4-byte header.
func icmp6(typ uint8, body []byte) []byte {
	return append([]byte{typ, 0, 0, 0}, body...)
}

// ndOpt is a neighbour discovery link-layer address option (1 source,
// 2 target).
func ndOpt(typ uint8, mac net.HardwareAddr) []byte {
	return append([]byte{typ, 1}, mac...)
}

// nd returns a neighbour solicitation (135) or advertisement (136) body
// for target with options.
func nd(typ uint8, target string, opts ...[]byte) []byte {
	body := make([]byte, 4, 20)
	if typ == 136 {
		body[0] = 0x60 // solicited, override
	}
	t := netip.MustParseAddr(target).As16()
	body = append(body, t[:]...)
	for _, o := range opts {
		body = append(body, o...)
	}
	return icmp6(typ, body)
}

// udp6 returns a UDP header and a little payload from sport to dport.
func udp6(sport, dport uint16) []byte {
	u := make([]byte, 8+16)
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	return u
}

// hopByHop puts payload (of protocol nh) behind a hop-by-hop options
// header with PadN only.
func hopByHop(nh uint8, payload []byte) []byte {
	return append([]byte{nh, 0, 1, 4, 0, 0, 0, 0}, payload...)
}

// eui64LL returns the link-local address SLAAC derives from mac.
func eui64LL(mac net.HardwareAddr) string {
	a := [16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe,
		13: mac[3], 14: mac[4], 15: mac[5]}
	return netip.AddrFrom16(a).String()
}

// bpduFrame returns an 802.3/LLC configuration BPDU.
func bpduFrame(src net.HardwareAddr) []byte {
	llc := append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...)
	return ethFrame(bridgeGroupMAC, src, uint16(len(llc)), llc)
}

// pauseFrame returns a MAC control PAUSE frame to dst.
func pauseFrame(dst, src net.HardwareAddr) []byte {
	return ethFrame(dst, src, 0x8808, []byte{0x00, 0x01, 0xff, 0xff})
}
