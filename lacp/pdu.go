package lacp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Slow-protocol constants (IEEE 802.3 Annex 57A, 802.1AX 6.4.2).
const (
	// EtherType is the slow-protocols EtherType that carries LACPDUs and
	// Marker PDUs.
	EtherType = 0x8809
	// SubtypeLACP is the slow-protocol subtype of a LACPDU.
	SubtypeLACP = 1
	// SubtypeMarker is the slow-protocol subtype of a Marker PDU.
	SubtypeMarker = 2
	// Version is the LACP version this package speaks.
	Version = 1
	// PDULen is the length of a LACPDU without the Ethernet header: the
	// payload of a full-size (128-byte with FCS) slow-protocol frame.
	PDULen = 110
)

// TLV types and lengths of a version 1 LACPDU.
const (
	tlvTerminator = 0
	tlvActor      = 1
	tlvPartner    = 2
	tlvCollector  = 3

	infoTLVLen      = 20
	collectorTLVLen = 16

	offActor      = 2
	offPartner    = offActor + infoTLVLen
	offCollector  = offPartner + infoTLVLen
	offTerminator = offCollector + collectorTLVLen
)

// ErrTruncated is wrapped by a FormatError for a PDU that ends early.
var ErrTruncated = errors.New("truncated")

// FormatError reports a malformed PDU and the field that is wrong.
type FormatError struct {
	// Field names the offending field, e.g. "subtype", "version",
	// "actor TLV length".
	Field string
	// Err says what is wrong with it; it is ErrTruncated (possibly
	// wrapped) when the PDU ends inside the field.
	Err error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("lacp: malformed PDU: %s: %v", e.Field, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(field, format string, args ...any) error {
	return &FormatError{Field: field, Err: fmt.Errorf(format, args...)}
}

func truncated(field string, got, want int) error {
	return &FormatError{Field: field, Err: fmt.Errorf("%w: %d bytes, need %d", ErrTruncated, got, want)}
}

// PortID identifies a port within a system: lower values are better.
type PortID struct {
	Priority uint16 `json:"priority"`
	Number   uint16 `json:"number"`
}

// Less reports whether p is the better (numerically lower) port ID.
func (p PortID) Less(o PortID) bool {
	if p.Priority != o.Priority {
		return p.Priority < o.Priority
	}
	return p.Number < o.Number
}

func (p PortID) String() string { return fmt.Sprintf("%d,%d", p.Priority, p.Number) }

// Info is the actor or partner information of a LACPDU.
type Info struct {
	System SystemID `json:"system"`
	Key    uint16   `json:"key"`
	Port   PortID   `json:"port"`
	State  State    `json:"state"`
}

// PDU is a LACPDU (802.1AX-2008 5.4.2).
type PDU struct {
	// Version is the LACP version; 0 is marshalled as Version (1).
	Version uint8
	Actor   Info
	Partner Info
	// CollectorMaxDelay is in tens of microseconds.
	CollectorMaxDelay uint16
}

// Marshal returns the PDULen-byte encoding of p: the Ethernet payload,
// starting at the subtype.
func (p PDU) Marshal() []byte {
	b := make([]byte, PDULen)
	b[0] = SubtypeLACP
	b[1] = p.Version
	if b[1] == 0 {
		b[1] = Version
	}
	putInfo(b[offActor:], tlvActor, p.Actor)
	putInfo(b[offPartner:], tlvPartner, p.Partner)
	b[offCollector] = tlvCollector
	b[offCollector+1] = collectorTLVLen
	binary.BigEndian.PutUint16(b[offCollector+2:], p.CollectorMaxDelay)
	// The terminator TLV and the reserved bytes are zero.
	return b
}

func putInfo(b []byte, typ byte, in Info) {
	b[0] = typ
	b[1] = infoTLVLen
	binary.BigEndian.PutUint16(b[2:], in.System.Priority)
	copy(b[4:10], in.System.MAC[:])
	binary.BigEndian.PutUint16(b[10:], in.Key)
	binary.BigEndian.PutUint16(b[12:], in.Port.Priority)
	binary.BigEndian.PutUint16(b[14:], in.Port.Number)
	b[16] = byte(in.State)
}

func getInfo(b []byte) Info {
	var in Info
	in.System.Priority = binary.BigEndian.Uint16(b[2:])
	copy(in.System.MAC[:], b[4:10])
	in.Key = binary.BigEndian.Uint16(b[10:])
	in.Port.Priority = binary.BigEndian.Uint16(b[12:])
	in.Port.Number = binary.BigEndian.Uint16(b[14:])
	in.State = State(b[16])
	return in
}

// Unmarshal decodes a LACPDU from an Ethernet payload (starting at the
// subtype). Trailing bytes beyond PDULen (Ethernet padding) are ignored, as
// are the reserved fields. A version 1 PDU must have exactly the actor,
// partner, collector and terminator TLVs; following 802.1AX-2014 6.4.2.4
// (forward compatibility), a PDU of a later version may carry further TLVs
// between the collector and the terminator, which are skipped. Errors are
// *FormatError naming the offending field.
func Unmarshal(b []byte) (PDU, error) {
	var p PDU
	if len(b) < 1 {
		return p, truncated("subtype", len(b), 1)
	}
	if b[0] != SubtypeLACP {
		return p, formatErr("subtype", "got %d, want %d", b[0], SubtypeLACP)
	}
	if len(b) < 2 {
		return p, truncated("version", len(b), 2)
	}
	p.Version = b[1]
	if p.Version == 0 {
		return p, formatErr("version", "got 0, want >= 1")
	}
	for _, t := range []struct {
		name   string
		off    int
		typ    byte
		length byte
	}{
		{"actor", offActor, tlvActor, infoTLVLen},
		{"partner", offPartner, tlvPartner, infoTLVLen},
		{"collector", offCollector, tlvCollector, collectorTLVLen},
	} {
		if err := checkTLV(b, t.name, t.off, t.typ, t.length); err != nil {
			return PDU{}, err
		}
	}
	p.Actor = getInfo(b[offActor:])
	p.Partner = getInfo(b[offPartner:])
	p.CollectorMaxDelay = binary.BigEndian.Uint16(b[offCollector+2:])

	if err := checkTerminator(b, p.Version); err != nil {
		return PDU{}, err
	}
	if len(b) < PDULen {
		// A short frame that is otherwise well formed still lacks the
		// reserved bytes every LACPDU carries.
		return PDU{}, truncated("reserved", len(b), PDULen)
	}
	return p, nil
}

func checkTLV(b []byte, name string, off int, typ, length byte) error {
	if len(b) < off+1 {
		return truncated(name+" TLV type", len(b), off+1)
	}
	if b[off] != typ {
		return formatErr(name+" TLV type", "got %d, want %d", b[off], typ)
	}
	if len(b) < off+2 {
		return truncated(name+" TLV length", len(b), off+2)
	}
	if b[off+1] != length {
		return formatErr(name+" TLV length", "got %d, want %d", b[off+1], length)
	}
	if len(b) < off+int(length) {
		return truncated(name+" TLV", len(b), off+int(length))
	}
	return nil
}

// checkTerminator checks the TLVs after the collector, up to and including
// the terminator.
func checkTerminator(b []byte, version uint8) error {
	off := offTerminator
	// Each TLV is at least 2 bytes, so this visits at most len(b)/2 TLVs.
	for {
		if len(b) < off+1 {
			return truncated("terminator TLV type", len(b), off+1)
		}
		typ := b[off]
		if typ != tlvTerminator && version == Version {
			return formatErr("terminator TLV type", "got %d, want %d", typ, tlvTerminator)
		}
		if len(b) < off+2 {
			return truncated(fmt.Sprintf("TLV %d length", typ), len(b), off+2)
		}
		length := int(b[off+1])
		if typ == tlvTerminator {
			if length != 0 {
				return formatErr("terminator TLV length", "got %d, want 0", length)
			}
			return nil
		}
		if length < 2 {
			return formatErr(fmt.Sprintf("TLV %d length", typ), "got %d, want >= 2", length)
		}
		if len(b) < off+length {
			return truncated(fmt.Sprintf("TLV %d", typ), len(b), off+length)
		}
		off += length
	}
}
