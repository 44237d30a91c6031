package lacp

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the length of the untagged Ethernet header of a
// slow-protocol frame.
const HeaderLen = 14

// AppendFrame appends to b an Ethernet frame from src to the slow-protocols
// multicast address that carries payload (a marshalled LACPDU or Marker PDU).
func AppendFrame(b []byte, src MAC, payload []byte) []byte {
	dst := SlowProtocolsMAC()
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	b = binary.BigEndian.AppendUint16(b, EtherType)
	return append(b, payload...)
}

// ParseFrame splits an untagged Ethernet frame of the slow-protocols
// EtherType into its source address and payload. The destination is not
// checked: 802.1AX-2014 allows addresses other than the slow-protocols one.
// The payload aliases frame.
func ParseFrame(frame []byte) (src MAC, payload []byte, err error) {
	if len(frame) < HeaderLen {
		return src, nil, truncated("ethernet header", len(frame), HeaderLen)
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != EtherType {
		return src, nil, formatErr("ethertype", "got %#04x, want %#04x", et, EtherType)
	}
	copy(src[:], frame[6:12])
	return src, frame[HeaderLen:], nil
}

// UnmarshalFrame decodes the LACPDU in a whole Ethernet frame.
func UnmarshalFrame(frame []byte) (PDU, error) {
	_, payload, err := ParseFrame(frame)
	if err != nil {
		return PDU{}, err
	}
	p, err := Unmarshal(payload)
	if err != nil {
		return PDU{}, fmt.Errorf("frame payload: %w", err)
	}
	return p, nil
}
