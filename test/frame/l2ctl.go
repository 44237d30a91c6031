package frame

import (
	"encoding/binary"
	"net"
)

// EtherTypes of link-local control protocols.
const (
	EtherTypeMACControl uint16 = 0x8808 // PAUSE, PFC
	EtherTypeEAPOL      uint16 = 0x888e // 802.1X
	EtherTypeLLDP       uint16 = 0x88cc
)

// IEEE 802.1 reserved link-local destinations (01:80:C2:00:00:0X), which
// bridges never forward.
var (
	// BridgeGroupMAC is where STP, RSTP and MSTP BPDUs go.
	BridgeGroupMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}
	// PauseMAC is where MAC control PAUSE frames go.
	PauseMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x01}
	// SlowProtocolsMAC is where LACP and marker PDUs go.
	SlowProtocolsMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}
	// EAPOLMAC is the port access entity group address of 802.1X.
	EAPOLMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x03}
	// LLDPMAC is the nearest-bridge address LLDP goes to.
	LLDPMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}
)

const (
	bpduLen   = 35  // configuration BPDU (802.1D 9.3.1)
	lacpduLen = 110 // LACPDU after the EtherType (802.1AX 6.4.2.3)
)

// BPDU returns an 802.3 frame with an LLC header (DSAP and SSAP 0x42, UI)
// carrying a configuration BPDU from src that claims to be the root bridge
// with priority 0, as a VM running a bridge with STP on would send.
func BPDU(src net.HardwareAddr) []byte {
	llc := []byte{0x42, 0x42, 0x03}
	b := make([]byte, bpduLen)
	// Protocol ID 0, version 0, type 0 (configuration), flags 0.
	bridgeID := append([]byte{0x00, 0x00}, mac6(src)...) // priority 0: the best root
	copy(b[5:13], bridgeID)                              // root ID
	copy(b[17:25], bridgeID)                             // bridge ID; root path cost 0
	binary.BigEndian.PutUint16(b[25:], 0x8001)           // port ID
	binary.BigEndian.PutUint16(b[29:], 20*256)           // max age 20 s
	binary.BigEndian.PutUint16(b[31:], 2*256)            // hello time 2 s
	binary.BigEndian.PutUint16(b[33:], 15*256)           // forward delay 15 s
	pdu := append(llc, b...)
	// 802.3: the length/type field holds the LLC payload's length.
	return Ethernet(BridgeGroupMAC, src, uint16(len(pdu)), pdu)
}

// LACPDU returns a slow-protocols frame from src carrying an LACPDU whose
// actor is system (priority 32768) with key and port port, active, short
// timeout, aggregatable, in sync, collecting and distributing; the partner
// information is empty.
func LACPDU(src, system net.HardwareAddr, key, port uint16) []byte {
	b := make([]byte, lacpduLen)
	b[0], b[1] = 0x01, 0x01 // subtype LACP, version 1
	// Actor information TLV.
	b[2], b[3] = 0x01, 20
	binary.BigEndian.PutUint16(b[4:], 32768)
	copy(b[6:12], mac6(system))
	binary.BigEndian.PutUint16(b[12:], key)
	binary.BigEndian.PutUint16(b[14:], 32768)
	binary.BigEndian.PutUint16(b[16:], port)
	b[18] = 0x3f // activity, timeout, aggregation, sync, collecting, distributing
	// Partner information TLV, empty.
	b[22], b[23] = 0x02, 20
	// Collector information TLV: max delay 0.
	b[42], b[43] = 0x03, 16
	// Terminator TLV (0, 0) and reserved bytes stay zero.
	return Ethernet(SlowProtocolsMAC, src, EtherTypeLACP, b)
}

// Pause returns a MAC control PAUSE frame (opcode 1) from src to dst asking
// the receiver to stop sending for quanta times 512 bit times. The standard
// destination is PauseMAC; a unicast one is allowed too.
func Pause(dst, src net.HardwareAddr, quanta uint16) []byte {
	b := make([]byte, 4, 46)
	binary.BigEndian.PutUint16(b[0:], 0x0001)
	binary.BigEndian.PutUint16(b[2:], quanta)
	return Ethernet(dst, src, EtherTypeMACControl, b)
}

// LLDP returns an LLDPDU from src to LLDPMAC with the chassis ID and port
// ID given as MAC address and interface name, and a TTL of 120 s.
func LLDP(src net.HardwareAddr, port string) []byte {
	var b []byte
	tlv := func(typ uint8, v []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(typ)<<9|uint16(len(v)))
		b = append(b, v...)
	}
	tlv(1, append([]byte{4}, mac6(src)...)) // chassis ID, subtype MAC address
	tlv(2, append([]byte{5}, port...))      // port ID, subtype interface name
	tlv(3, []byte{0, 120})                  // TTL
	tlv(0, nil)                             // end of LLDPDU
	return Ethernet(LLDPMAC, src, EtherTypeLLDP, b)
}

// EAPOLStart returns an 802.1X EAPOL-Start frame from src to EAPOLMAC.
func EAPOLStart(src net.HardwareAddr) []byte {
	return Ethernet(EAPOLMAC, src, EtherTypeEAPOL, []byte{0x02, 0x01, 0x00, 0x00}) // version 2, Start, length 0
}
