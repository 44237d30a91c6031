package lacp

import "encoding/binary"

// Marker TLV types (802.1AX-2008 5.5.3).
const (
	tlvMarkerInfo     = 1
	tlvMarkerResponse = 2
	markerTLVLen      = 16
	offMarkerTerm     = 2 + markerTLVLen
)

// Marker is a Marker PDU (802.1AX-2008 5.5.3): a request by a partner to
// confirm that frames sent before it have been delivered. A Marker Responder
// (which the Aggregator implements) answers each Marker Information PDU with
// a Marker Response carrying the same fields.
type Marker struct {
	// Response is false for Marker Information, true for Marker Response.
	Response      bool
	Port          uint16
	System        MAC
	TransactionID uint32
}

// Marshal returns the PDULen-byte encoding of m, starting at the subtype.
func (m Marker) Marshal() []byte {
	b := make([]byte, PDULen)
	b[0] = SubtypeMarker
	b[1] = Version
	b[2] = tlvMarkerInfo
	if m.Response {
		b[2] = tlvMarkerResponse
	}
	b[3] = markerTLVLen
	binary.BigEndian.PutUint16(b[4:], m.Port)
	copy(b[6:12], m.System[:])
	binary.BigEndian.PutUint32(b[12:], m.TransactionID)
	// Pad, terminator and reserved bytes are zero.
	return b
}

// UnmarshalMarker decodes a Marker PDU from an Ethernet payload. Reserved
// and pad bytes are ignored; any version but 0 is accepted, since the fields
// this package reads are the same in every version. Errors are *FormatError.
func UnmarshalMarker(b []byte) (Marker, error) {
	var m Marker
	if len(b) < 1 {
		return m, truncated("subtype", len(b), 1)
	}
	if b[0] != SubtypeMarker {
		return m, formatErr("subtype", "got %d, want %d", b[0], SubtypeMarker)
	}
	if len(b) < 2 {
		return m, truncated("version", len(b), 2)
	}
	if b[1] == 0 {
		return m, formatErr("version", "got 0, want >= 1")
	}
	if len(b) < 3 {
		return m, truncated("marker TLV type", len(b), 3)
	}
	switch b[2] {
	case tlvMarkerInfo:
	case tlvMarkerResponse:
		m.Response = true
	default:
		return m, formatErr("marker TLV type", "got %d, want %d or %d", b[2], tlvMarkerInfo, tlvMarkerResponse)
	}
	if len(b) < 4 {
		return m, truncated("marker TLV length", len(b), 4)
	}
	if b[3] != markerTLVLen {
		return m, formatErr("marker TLV length", "got %d, want %d", b[3], markerTLVLen)
	}
	if len(b) < offMarkerTerm+2 {
		return m, truncated("marker TLV", len(b), offMarkerTerm+2)
	}
	if b[offMarkerTerm] != tlvTerminator {
		return m, formatErr("terminator TLV type", "got %d, want %d", b[offMarkerTerm], tlvTerminator)
	}
	if b[offMarkerTerm+1] != 0 {
		return m, formatErr("terminator TLV length", "got %d, want 0", b[offMarkerTerm+1])
	}
	if len(b) < PDULen {
		return m, truncated("reserved", len(b), PDULen)
	}
	m.Port = binary.BigEndian.Uint16(b[4:])
	copy(m.System[:], b[6:12])
	m.TransactionID = binary.BigEndian.Uint32(b[12:])
	return m, nil
}
