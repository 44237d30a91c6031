package frame

import (
	"encoding/binary"
	"net"
)

// Frame is an Ethernet frame received on a Socket.
type Frame struct {
	// Data is the frame as the kernel delivered it. A VLAN tag the kernel
	// stripped into metadata is not in Data; see Tagged and WithTag.
	Data []byte
	// Tagged reports that the frame carried a VLAN tag the kernel stripped.
	Tagged bool
	// VLAN is the stripped tag's VLAN ID (the low 12 bits of TCI).
	VLAN uint16
	// TCI is the stripped tag's whole tag control information: priority,
	// drop eligibility and VLAN ID.
	TCI uint16
	// TPID is the stripped tag's protocol ID, 0x8100 for 802.1Q or 0x88a8
	// for 802.1ad; 0 if the kernel did not report it.
	TPID uint16
	// Outgoing reports a frame this host transmitted on the interface
	// (PACKET_OUTGOING) rather than one it received.
	Outgoing bool
}

// Dst returns the destination MAC address, or nil if Data is too short.
func (f Frame) Dst() net.HardwareAddr {
	if len(f.Data) < headerLen {
		return nil
	}
	return net.HardwareAddr(f.Data[0:6])
}

// Src returns the source MAC address, or nil if Data is too short.
func (f Frame) Src() net.HardwareAddr {
	if len(f.Data) < headerLen {
		return nil
	}
	return net.HardwareAddr(f.Data[6:12])
}

// EtherType returns the EtherType field of Data, or 0 if Data is too short.
// For a frame whose tag the kernel stripped it is the inner type; for one
// still carrying its tag in Data (e.g. an Outgoing one) it is the tag's TPID.
func (f Frame) EtherType() uint16 {
	if len(f.Data) < headerLen {
		return 0
	}
	return binary.BigEndian.Uint16(f.Data[12:14])
}

// Payload returns what follows the Ethernet header in Data, padding
// included, or nil if Data is too short.
func (f Frame) Payload() []byte {
	if len(f.Data) < headerLen {
		return nil
	}
	return f.Data[headerLen:]
}

// WithTag returns the frame as it was on the wire: a copy of Data with the
// stripped VLAN header put back after the source MAC when Tagged.
func (f Frame) WithTag() []byte {
	if !f.Tagged || len(f.Data) < 12 {
		return append([]byte(nil), f.Data...)
	}
	tpid := f.TPID
	if tpid == 0 {
		tpid = EtherTypeVLAN
	}
	b := make([]byte, 0, len(f.Data)+vlanTagLen)
	b = append(b, f.Data[:12]...)
	b = binary.BigEndian.AppendUint16(b, tpid)
	b = binary.BigEndian.AppendUint16(b, f.TCI)
	return append(b, f.Data[12:]...)
}
