package frame

import (
	"encoding/binary"
	"fmt"
	"net"
)

// IPv6 protocol numbers and ICMPv6 types the builders use.
const (
	IPProtoUDP    uint8 = 17
	IPProtoICMPv6 uint8 = 58

	ICMPv6EchoRequest   uint8 = 128
	ICMPv6RouterSolicit uint8 = 133
	ICMPv6RouterAdvert  uint8 = 134
	ICMPv6NeighSolicit  uint8 = 135
	ICMPv6NeighAdvert   uint8 = 136
	ICMPv6Redirect      uint8 = 137

	// NDOptSourceLinkAddr and NDOptTargetLinkAddr are the neighbour
	// discovery link-layer address options (RFC 4861 4.6.1).
	NDOptSourceLinkAddr uint8 = 1
	NDOptTargetLinkAddr uint8 = 2

	// NA flags (RFC 4861 4.4), in the first byte of the message body.
	NAFlagRouter    uint8 = 0x80
	NAFlagSolicited uint8 = 0x40
	NAFlagOverride  uint8 = 0x20
)

const (
	ipv6HdrLen = 40
	// ndHopLimit is the hop limit neighbour discovery must carry (RFC
	// 4861): receivers drop ND messages with any other.
	ndHopLimit = 255
)

// Well-known IPv6 addresses.
var (
	// IPv6Unspecified is ::, the source of duplicate address detection.
	IPv6Unspecified = net.IPv6unspecified
	// IPv6AllNodes is ff02::1.
	IPv6AllNodes = net.ParseIP("ff02::1")
	// IPv6AllRouters is ff02::2.
	IPv6AllRouters = net.ParseIP("ff02::2")
	// IPv6AllDHCP is ff02::1:2, all DHCPv6 relay agents and servers.
	IPv6AllDHCP = net.ParseIP("ff02::1:2")
)

// IPv6 returns an IPv6 packet (no Ethernet header) from src to dst with
// next header nextHeader, hop limit 255 and payload as is. It panics if src
// or dst is not an IPv6 address.
func IPv6(src, dst net.IP, nextHeader uint8, payload []byte) []byte {
	b := make([]byte, ipv6HdrLen, ipv6HdrLen+len(payload))
	b[0] = 0x60 // version 6, traffic class and flow label 0
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = nextHeader
	b[7] = ndHopLimit
	copy(b[8:24], ip16(src))
	copy(b[24:40], ip16(dst))
	return append(b, payload...)
}

// ICMPv6 returns an IPv6 packet carrying an ICMPv6 message of type typ and
// code with body after the 4-byte header, its checksum filled in.
func ICMPv6(src, dst net.IP, typ, code uint8, body []byte) []byte {
	m := make([]byte, 4, 4+len(body))
	m[0], m[1] = typ, code
	m = append(m, body...)
	binary.BigEndian.PutUint16(m[2:], ^onesSum(onesSum(0, pseudoHeader6(src, dst, IPProtoICMPv6, len(m))), m))
	return IPv6(src, dst, IPProtoICMPv6, m)
}

// UDP6 returns an IPv6 packet carrying a UDP datagram, its checksum filled
// in (mandatory over IPv6).
func UDP6(src, dst net.IP, srcPort, dstPort uint16, payload []byte) []byte {
	u := make([]byte, udpHdrLen, udpHdrLen+len(payload))
	binary.BigEndian.PutUint16(u[0:], srcPort)
	binary.BigEndian.PutUint16(u[2:], dstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(udpHdrLen+len(payload)))
	u = append(u, payload...)
	sum := ^onesSum(onesSum(0, pseudoHeader6(src, dst, IPProtoUDP, len(u))), u)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return IPv6(src, dst, IPProtoUDP, u)
}

// NDOption returns a neighbour discovery link-layer address option of type
// typ (NDOptSourceLinkAddr or NDOptTargetLinkAddr) carrying mac.
func NDOption(typ uint8, mac net.HardwareAddr) []byte {
	return append([]byte{typ, 1}, mac6(mac)...)
}

// NeighborSolicitation returns an IPv6 packet soliciting target from src
// to target's solicited-node multicast address, with the options opts (see
// NDOption). Duplicate address detection is src :: with no option.
func NeighborSolicitation(src, target net.IP, opts ...[]byte) []byte {
	body := make([]byte, 4, 20)
	body = append(body, ip16(target)...)
	for _, o := range opts {
		body = append(body, o...)
	}
	return ICMPv6(src, SolicitedNode(target), ICMPv6NeighSolicit, 0, body)
}

// NeighborAdvertisement returns an IPv6 packet advertising target from
// src to dst, with flags (NAFlag*) and the options opts (see NDOption).
func NeighborAdvertisement(src, dst, target net.IP, flags uint8, opts ...[]byte) []byte {
	body := make([]byte, 4, 20)
	body[0] = flags
	body = append(body, ip16(target)...)
	for _, o := range opts {
		body = append(body, o...)
	}
	return ICMPv6(src, dst, ICMPv6NeighAdvert, 0, body)
}

// RouterAdvertisement returns an IPv6 packet from src to all nodes
// advertising a default router (lifetime 1800 s) at the link-layer address
// sll, as a rogue router would.
func RouterAdvertisement(src net.IP, sll net.HardwareAddr) []byte {
	body := []byte{
		64,         // current hop limit
		0,          // flags
		0x07, 0x08, // router lifetime 1800 s
		0, 0, 0, 0, // reachable time
		0, 0, 0, 0, // retransmission timer
	}
	body = append(body, NDOption(NDOptSourceLinkAddr, sll)...)
	return ICMPv6(src, IPv6AllNodes, ICMPv6RouterAdvert, 0, body)
}

// Redirect returns an IPv6 packet from src to dst telling it that target
// is a better first hop for destination (RFC 4861 4.5), with no options.
func Redirect(src, dst, target, destination net.IP) []byte {
	body := make([]byte, 4, 36)
	body = append(body, ip16(target)...)
	body = append(body, ip16(destination)...)
	return ICMPv6(src, dst, ICMPv6Redirect, 0, body)
}

// LinkLocal returns the IPv6 link-local address that stateless address
// autoconfiguration derives from mac: fe80::/64 with the modified EUI-64
// interface identifier (RFC 4291 appendix A).
func LinkLocal(mac net.HardwareAddr) net.IP {
	m := mac6(mac)
	return net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]}
}

// SolicitedNode returns the solicited-node multicast address of ip,
// ff02::1:ffXX:XXXX with its low 24 bits.
func SolicitedNode(ip net.IP) net.IP {
	a := ip16(ip)
	return net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a[13], a[14], a[15]}
}

// MulticastMAC returns the Ethernet destination of an IPv6 multicast
// address: 33:33 and its low 32 bits (RFC 2464 7). It panics if ip is not
// an IPv6 multicast address.
func MulticastMAC(ip net.IP) net.HardwareAddr {
	a := ip16(ip)
	if a[0] != 0xff {
		panic(fmt.Sprintf("frame: %v is not an IPv6 multicast address", ip))
	}
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// pseudoHeader6 returns the IPv6 pseudo-header upper-layer checksums cover
// (RFC 8200 8.1).
func pseudoHeader6(src, dst net.IP, nextHeader uint8, length int) []byte {
	b := make([]byte, 0, 40)
	b = append(b, ip16(src)...)
	b = append(b, ip16(dst)...)
	b = binary.BigEndian.AppendUint32(b, uint32(length))
	return append(b, 0, 0, 0, nextHeader)
}

// ip16 returns ip in 16-byte form, panicking if it is an IPv4 address or
// malformed: IPv6 packets carry IPv6 addresses.
func ip16(ip net.IP) net.IP {
	if len(ip) != net.IPv6len || ip.To4() != nil {
		panic(fmt.Sprintf("frame: %v is not an IPv6 address", ip))
	}
	return ip
}
