package agent

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Frames of a MAC announcement: what QEMU's announce-self and Open
// vSwitch send for a VM that appeared on a new port, so that switches and
// remote VEMs move the MAC to it before the guest speaks.

const (
	etherTypeARP  = 0x0806
	etherTypeRARP = 0x8035
	etherTypeVLAN = 0x8100
	// minFrame is the shortest Ethernet frame without its FCS: shorter
	// ones are padded, as a NIC would.
	minFrame = 60
	// vxlanFlagI is the VXLAN flags word with only the I (valid VNI) bit.
	vxlanFlagI = 0x08000000
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpFrame builds a broadcast ARP-format frame of ethertype typ from mac:
// op, sender (mac, spa), target (tha, tpa).
func arpFrame(typ uint16, op uint16, mac net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	f := make([]byte, minFrame)
	copy(f[0:6], broadcastMAC)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], typ)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol: IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], mac)
	if spa.Is4() {
		s := spa.As4()
		copy(a[14:18], s[:])
	}
	copy(a[18:24], tha)
	if tpa.Is4() {
		t := tpa.As4()
		copy(a[24:28], t[:])
	}
	return f
}

// rarpFrame is QEMU's announce-self frame: a reverse ARP request (op 3)
// from mac for mac, no addresses.
func rarpFrame(mac net.HardwareAddr) []byte {
	return arpFrame(etherTypeRARP, 3, mac, netip.Addr{}, mac, netip.Addr{})
}

// garpFrame is a gratuitous ARP request for ip from mac (sender and
// target address both ip), which also refreshes hosts' ARP caches.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	return arpFrame(etherTypeARP, 1, mac, ip, make(net.HardwareAddr, 6), ip)
}

// announceFrames are the frames that announce mac with its IPv4
// addresses: one RARP, then a gratuitous ARP per address.
func announceFrames(mac net.HardwareAddr, ips []string) [][]byte {
	out := [][]byte{rarpFrame(mac)}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
			out = append(out, garpFrame(mac, ip))
		}
	}
	return out
}

// tagged returns f with an 802.1Q tag of vid after its MAC addresses.
func tagged(f []byte, vid uint16) []byte {
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, etherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, vid&0x0fff)
	return append(out, f[12:]...)
}

// vxlanPayload is the UDP payload that carries f in VNI vni (RFC 7348):
// the 8-byte VXLAN header, then the frame.
func vxlanPayload(vni uint32, f []byte) []byte {
	out := make([]byte, 8, 8+len(f))
	binary.BigEndian.PutUint32(out[0:4], vxlanFlagI)
	binary.BigEndian.PutUint32(out[4:8], vni<<8)
	return append(out, f...)
}
