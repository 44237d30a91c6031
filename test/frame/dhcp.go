package frame

import (
	"encoding/binary"
	"net"
)

// DHCP ports and message types.
const (
	DHCPv4ServerPort uint16 = 67
	DHCPv4ClientPort uint16 = 68
	DHCPv6ClientPort uint16 = 546
	DHCPv6ServerPort uint16 = 547

	// DHCPv4 message types (RFC 2132 9.6).
	DHCPDiscover uint8 = 1
	DHCPOffer    uint8 = 2
	DHCPRequest  uint8 = 3
	DHCPAck      uint8 = 5

	// DHCPv6 message types (RFC 8415 7.3).
	DHCPv6Solicit   uint8 = 1
	DHCPv6Advertise uint8 = 2
	DHCPv6Reply     uint8 = 7
)

const (
	bootpLen    = 236
	dhcpCookie  = 0x63825363
	bootRequest = 1
	bootReply   = 2
)

// DHCPv4 returns a DHCP message (the UDP payload) of type msgType with
// transaction ID xid for the client chaddr; yiaddr is the address offered
// (nil for none). Offers and acks are BOOTREPLYs, the rest BOOTREQUESTs.
func DHCPv4(msgType uint8, xid uint32, chaddr net.HardwareAddr, yiaddr net.IP) []byte {
	b := make([]byte, bootpLen, bootpLen+8)
	b[0] = bootRequest
	if msgType == DHCPOffer || msgType == DHCPAck {
		b[0] = bootReply
	}
	b[1], b[2] = 1, 6 // Ethernet, 6-byte addresses
	binary.BigEndian.PutUint32(b[4:], xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000) // broadcast flag
	if yiaddr != nil {
		copy(b[16:20], ip4(yiaddr))
	}
	copy(b[28:34], mac6(chaddr))
	b = binary.BigEndian.AppendUint32(b, dhcpCookie)
	return append(b, 53, 1, msgType, 255) // message type option, end
}

// DHCPv4Discover returns a broadcast DHCPDISCOVER frame from a client at
// mac with no address yet: 0.0.0.0:68 to 255.255.255.255:67.
func DHCPv4Discover(mac net.HardwareAddr, xid uint32) []byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	udp := IPv4UDP(net.IPv4zero, net.IPv4bcast, DHCPv4ClientPort, DHCPv4ServerPort, DHCPv4(DHCPDiscover, xid, mac, nil))
	return Ethernet(bcast, mac, EtherTypeIPv4, udp)
}

// DHCPv4Offer returns a broadcast DHCPOFFER frame from the server at
// serverMAC/serverIP offering yiaddr to the client chaddr: serverIP:67 to
// 255.255.255.255:68.
func DHCPv4Offer(serverMAC net.HardwareAddr, serverIP net.IP, xid uint32, chaddr net.HardwareAddr, yiaddr net.IP) []byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	udp := IPv4UDP(serverIP, net.IPv4bcast, DHCPv4ServerPort, DHCPv4ClientPort, DHCPv4(DHCPOffer, xid, chaddr, yiaddr))
	return Ethernet(bcast, serverMAC, EtherTypeIPv4, udp)
}

// DHCPv6 returns a DHCPv6 message (the UDP payload) of type msgType with
// the 24-bit transaction ID xid and no options.
func DHCPv6(msgType uint8, xid uint32) []byte {
	return []byte{msgType, byte(xid >> 16), byte(xid >> 8), byte(xid)}
}
