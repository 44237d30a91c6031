package frame

import "net"

// ARP operations.
const (
	ARPOpRequest uint16 = arpOpReq
	ARPOpReply   uint16 = arpOpReply
)

// ARP returns an Ethernet frame from src to dst carrying an ARP packet with
// operation op, sender sha/spa and target tha/tpa, each field as given: the
// sender need not be the frame's source, as in a spoofing attempt. It
// panics if spa or tpa is not an IPv4 address.
func ARP(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa net.IP, tha net.HardwareAddr, tpa net.IP) []byte {
	return Ethernet(dst, src, EtherTypeARP, arp(op, sha, spa, tha, tpa))
}

// GratuitousARP returns a broadcast ARP request from mac announcing that
// ip is at mac: sender and target address both ip (RFC 5227 3).
func GratuitousARP(mac net.HardwareAddr, ip net.IP) []byte {
	return ARPRequest(mac, ip, ip)
}

// ARPProbe returns a broadcast ARP request from mac asking whether target
// is in use, with sender address 0.0.0.0 (RFC 5227 2.1.1).
func ARPProbe(mac net.HardwareAddr, target net.IP) []byte {
	return ARPRequest(mac, net.IPv4zero, target)
}
