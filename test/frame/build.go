package frame

import (
	"encoding/binary"
	"fmt"
	"net"
)

// EtherTypes the builders and tests use.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeLACP uint16 = 0x8809 // IEEE slow protocols
)

const (
	// MinLen is the minimum Ethernet frame length without FCS; builders pad
	// to it.
	MinLen = 60

	headerLen   = 14
	vlanTagLen  = 4
	ipv4HdrLen  = 20
	udpHdrLen   = 8
	arpLen      = 28
	ipProtoUDP  = 17
	ipv4TTL     = 64
	arpOpReq    = 1
	arpOpReply  = 2
	arpHTypeEth = 1
)

// Ethernet returns an Ethernet II frame, zero-padded to MinLen.
func Ethernet(dst, src net.HardwareAddr, etherType uint16, payload []byte) []byte {
	b := make([]byte, 0, max(MinLen, headerLen+len(payload)))
	b = append(b, mac6(dst)...)
	b = append(b, mac6(src)...)
	b = binary.BigEndian.AppendUint16(b, etherType)
	b = append(b, payload...)
	return pad(b)
}

// VLAN returns an 802.1Q-tagged frame with VLAN ID vid (priority 0) and inner
// EtherType innerType, zero-padded to MinLen.
func VLAN(dst, src net.HardwareAddr, vid uint16, innerType uint16, payload []byte) []byte {
	b := make([]byte, 0, max(MinLen, headerLen+vlanTagLen+len(payload)))
	b = append(b, mac6(dst)...)
	b = append(b, mac6(src)...)
	b = binary.BigEndian.AppendUint16(b, EtherTypeVLAN)
	b = binary.BigEndian.AppendUint16(b, vid&0x0fff)
	b = binary.BigEndian.AppendUint16(b, innerType)
	b = append(b, payload...)
	return pad(b)
}

// IPv4UDP returns an IPv4 packet (no Ethernet header) carrying a UDP datagram,
// with valid IPv4 header and UDP checksums, TTL 64 and don't-fragment set.
// It panics if srcIP or dstIP is not an IPv4 address.
func IPv4UDP(srcIP, dstIP net.IP, srcPort, dstPort uint16, payload []byte) []byte {
	src, dst := ip4(srcIP), ip4(dstIP)
	udpLen := udpHdrLen + len(payload)
	b := make([]byte, ipv4HdrLen+udpLen)

	ip := b[:ipv4HdrLen]
	ip[0] = 0x45 // version 4, 5 words of header
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8] = ipv4TTL
	ip[9] = ipProtoUDP
	copy(ip[12:16], src)
	copy(ip[16:20], dst)
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip))

	udp := b[ipv4HdrLen:]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	copy(udp[udpHdrLen:], payload)
	sum := ^onesSum(onesSum(0, pseudoHeader(src, dst, uint16(udpLen))), udp)
	if sum == 0 {
		sum = 0xffff // 0 means "no checksum" in UDP over IPv4
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return b
}

// ARPRequest returns a broadcast ARP request from srcMAC/srcIP asking who has
// targetIP. It panics if srcIP or targetIP is not an IPv4 address.
func ARPRequest(srcMAC net.HardwareAddr, srcIP, targetIP net.IP) []byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	return Ethernet(bcast, srcMAC, EtherTypeARP, arp(arpOpReq, srcMAC, srcIP, make(net.HardwareAddr, 6), targetIP))
}

// ARPReply returns an ARP reply telling dstMAC/dstIP that srcIP is at srcMAC.
// It panics if srcIP or dstIP is not an IPv4 address.
func ARPReply(srcMAC net.HardwareAddr, srcIP net.IP, dstMAC net.HardwareAddr, dstIP net.IP) []byte {
	return Ethernet(dstMAC, srcMAC, EtherTypeARP, arp(arpOpReply, srcMAC, srcIP, dstMAC, dstIP))
}

// arp returns an Ethernet/IPv4 ARP packet.
func arp(op uint16, sha net.HardwareAddr, spa net.IP, tha net.HardwareAddr, tpa net.IP) []byte {
	b := make([]byte, 0, arpLen)
	b = binary.BigEndian.AppendUint16(b, arpHTypeEth)
	b = binary.BigEndian.AppendUint16(b, EtherTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(b, mac6(sha)...)
	b = append(b, ip4(spa)...)
	b = append(b, mac6(tha)...)
	b = append(b, ip4(tpa)...)
	return b
}

// Checksum returns the Internet checksum (RFC 1071) of b. Over a header whose
// checksum field is filled in, it returns 0 when the checksum is valid.
func Checksum(b []byte) uint16 {
	return ^onesSum(0, b)
}

// onesSum adds b to the folded ones'-complement sum acc.
func onesSum(acc uint16, b []byte) uint16 {
	sum := uint32(acc)
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// pseudoHeader returns the IPv4 pseudo-header the UDP checksum covers.
func pseudoHeader(src, dst net.IP, udpLen uint16) []byte {
	b := make([]byte, 0, 12)
	b = append(b, src...)
	b = append(b, dst...)
	b = append(b, 0, ipProtoUDP)
	return binary.BigEndian.AppendUint16(b, udpLen)
}

func pad(b []byte) []byte {
	for len(b) < MinLen {
		b = append(b, 0)
	}
	return b
}

// mac6 returns mac as 6 bytes, panicking on anything else: a malformed
// address in a test frame is a bug in the test.
func mac6(mac net.HardwareAddr) []byte {
	if len(mac) != 6 {
		panic(fmt.Sprintf("frame: hardware address %v is not 6 bytes", mac))
	}
	return mac
}

// ip4 returns ip in 4-byte form, panicking if it is not IPv4.
func ip4(ip net.IP) net.IP {
	v4 := ip.To4()
	if v4 == nil {
		panic(fmt.Sprintf("frame: %v is not an IPv4 address", ip))
	}
	return v4
}
