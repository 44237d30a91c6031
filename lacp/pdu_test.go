package lacp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func testPDU() PDU {
	return PDU{
		Version: 1,
		Actor: Info{
			System: SystemID{Priority: 0x8000, MAC: MAC{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}},
			Key:    0x0102,
			Port:   PortID{Priority: 0x00ff, Number: 7},
			State:  StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing,
		},
		Partner: Info{
			System: SystemID{Priority: 1, MAC: MAC{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}},
			Key:    3,
			Port:   PortID{Priority: 2, Number: 0x1234},
			State:  StateAggregation | StateDefaulted | StateExpired,
		},
		CollectorMaxDelay: 0x0a0b,
	}
}

// testPDUHex is testPDU laid out by hand from 802.1AX-2008 figure 5-8.
const testPDUHex = "" +
	"0101" + // subtype, version
	"0114" + "8000" + "021122334455" + "0102" + "00ff" + "0007" + "3f" + "000000" + // actor
	"0214" + "0001" + "02aabbccddee" + "0003" + "0002" + "1234" + "c4" + "000000" + // partner
	"0310" + "0a0b" + "000000000000000000000000" + // collector
	"0000" // terminator; 50 reserved bytes follow

func TestMarshal(t *testing.T) {
	want, err := hex.DecodeString(testPDUHex)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, make([]byte, 50)...)
	got := testPDU().Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal =\n%x\nwant\n%x", got, want)
	}
	p, err := Unmarshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if p != testPDU() {
		t.Errorf("Unmarshal = %+v, want %+v", p, testPDU())
	}
	// Version 0 means this package's version.
	v0 := testPDU()
	v0.Version = 0
	if b := v0.Marshal(); b[1] != Version {
		t.Errorf("version 0 marshalled as %d", b[1])
	}
}

func TestUnmarshalTolerates(t *testing.T) {
	good := testPDU().Marshal()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"ethernet padding", append(good[:PDULen:PDULen], 0, 0, 0, 0)},
		{"reserved bytes set", func() []byte {
			b := bytes.Clone(good)
			b[19], b[39], b[50], b[PDULen-1] = 0xff, 0xff, 0xff, 0xff
			return b
		}()},
		{"version 2 with an extra TLV", func() []byte {
			b := bytes.Clone(good)
			b[1] = 2
			// A 6-byte TLV of type 4 where the terminator was.
			copy(b[offTerminator:], []byte{4, 6, 1, 2, 3, 4, 0, 0})
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Unmarshal(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if p.Actor != testPDU().Actor || p.Partner != testPDU().Partner {
				t.Errorf("Unmarshal = %+v", p)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := testPDU().Marshal()
	with := func(off int, v byte) []byte {
		b := bytes.Clone(good)
		b[off] = v
		return b
	}
	for _, tc := range []struct {
		name      string
		b         []byte
		field     string
		truncated bool
	}{
		{"empty", nil, "subtype", true},
		{"marker subtype", with(0, SubtypeMarker), "subtype", false},
		{"only subtype", good[:1], "version", true},
		{"version 0", with(1, 0), "version", false},
		{"actor type", with(offActor, 9), "actor TLV type", false},
		{"actor length", with(offActor+1, 19), "actor TLV length", false},
		{"cut in actor", good[:10], "actor TLV", true},
		{"partner type", with(offPartner, tlvActor), "partner TLV type", false},
		{"partner length", with(offPartner+1, 21), "partner TLV length", false},
		{"collector type", with(offCollector, 0), "collector TLV type", false},
		{"collector length", with(offCollector+1, 20), "collector TLV length", false},
		{"cut in collector", good[:offCollector+5], "collector TLV", true},
		{"terminator type v1", with(offTerminator, 4), "terminator TLV type", false},
		{"terminator length", with(offTerminator+1, 2), "terminator TLV length", false},
		{"no reserved bytes", good[:offTerminator+2], "reserved", true},
		{"short by one", good[:PDULen-1], "reserved", true},
		{"v2 TLV length 1", func() []byte {
			b := with(1, 2)
			b[offTerminator], b[offTerminator+1] = 4, 1
			return b
		}(), "TLV 4 length", false},
		{"v2 TLV past the end", func() []byte {
			b := with(1, 2)
			b[offTerminator], b[offTerminator+1] = 4, 2
			for i := offTerminator + 2; i+1 < len(b); i += 2 {
				b[i], b[i+1] = 5, 2
			}
			b[len(b)-2], b[len(b)-1] = 6, 10
			return b
		}(), "TLV 6", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(tc.b)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Unmarshal = %v, want a FormatError", err)
			}
			if fe.Field != tc.field || errors.Is(err, ErrTruncated) != tc.truncated {
				t.Errorf("Unmarshal = %v (field %q), want field %q, truncated %v", err, fe.Field, tc.field, tc.truncated)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

func TestFrame(t *testing.T) {
	src := MAC{0x02, 0, 0, 0, 0, 1}
	frame := AppendFrame(nil, src, testPDU().Marshal())
	if len(frame) != HeaderLen+PDULen {
		t.Fatalf("frame is %d bytes", len(frame))
	}
	wantHeader, _ := hex.DecodeString("0180c2000002" + "020000000001" + "8809")
	if !bytes.Equal(frame[:HeaderLen], wantHeader) {
		t.Errorf("header %x, want %x", frame[:HeaderLen], wantHeader)
	}
	p, err := UnmarshalFrame(frame)
	if err != nil || p != testPDU() {
		t.Errorf("UnmarshalFrame = %+v, %v", p, err)
	}
	gotSrc, payload, err := ParseFrame(frame)
	if err != nil || gotSrc != src || len(payload) != PDULen {
		t.Errorf("ParseFrame = %v, %d bytes, %v", gotSrc, len(payload), err)
	}

	ip := bytes.Clone(frame)
	ip[12], ip[13] = 0x08, 0x00
	for _, tc := range []struct {
		name  string
		frame []byte
		field string
	}{
		{"short header", frame[:13], "ethernet header"},
		{"IPv4", ip, "ethertype"},
		{"bad payload", frame[:HeaderLen+20], "actor TLV"},
	} {
		var fe *FormatError
		if _, err := UnmarshalFrame(tc.frame); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: UnmarshalFrame = %v, want field %q", tc.name, err, tc.field)
		}
	}
}

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want string
	}{
		{0, "........"},
		{StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing, "ATGSCD.."},
		{StateAggregation | StateDefaulted | StateExpired, "..G...FE"},
		{0xff, "ATGSCDFE"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("State(%#x) = %q, want %q", uint8(tc.s), got, tc.want)
		}
	}
}

func TestSystemIDOrder(t *testing.T) {
	a := SystemID{Priority: 1, MAC: MAC{0xff}}
	b := SystemID{Priority: 2, MAC: MAC{0x00}}
	c := SystemID{Priority: 2, MAC: MAC{0x00, 1}}
	if !a.Less(b) || b.Less(a) || !b.Less(c) || c.Less(b) || c.Less(c) {
		t.Error("SystemID order: want priority first, then MAC")
	}
	if s := c.String(); s != "2,00:01:00:00:00:00" {
		t.Errorf("String = %q", s)
	}
	m, err := ParseMAC("02:00:00:00:00:0a")
	if err != nil || m != (MAC{2, 0, 0, 0, 0, 0xa}) {
		t.Errorf("ParseMAC = %v, %v", m, err)
	}
	if _, err := ParseMAC("02:00:00:00:00:00:00:0a"); err == nil {
		t.Error("ParseMAC accepted an EUI-64")
	}
}

// FuzzUnmarshal checks that Unmarshal never panics and that whatever it
// accepts re-marshals to a PDU that decodes the same.
func FuzzUnmarshal(f *testing.F) {
	good := testPDU().Marshal()
	f.Add(good)
	f.Add(PDU{}.Marshal())
	f.Add(good[:60])
	v2 := bytes.Clone(good)
	v2[1] = 2
	copy(v2[offTerminator:], []byte{4, 6, 1, 2, 3, 4, 0, 0})
	f.Add(v2)
	f.Add([]byte{SubtypeLACP})
	f.Add(Marker{Port: 1}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a FormatError naming a field", err)
			}
			return
		}
		out := p.Marshal()
		if len(out) != PDULen {
			t.Fatalf("Marshal gave %d bytes", len(out))
		}
		q, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-marshalled PDU rejected: %v\nPDU %+v\nbytes %x", err, p, out)
		}
		if q != p {
			t.Fatalf("round trip: %+v != %+v", q, p)
		}
		if !bytes.Equal(q.Marshal(), out) {
			t.Fatal("Marshal is not deterministic")
		}
		// The fixed fields are copied through unchanged.
		if !bytes.Equal(out[:offTerminator], b[:offTerminator]) && !reservedDiffers(b, out) {
			t.Fatalf("fields changed:\n%x\n%x", b[:offTerminator], out[:offTerminator])
		}
	})
}

// reservedDiffers reports whether a and b differ only in the reserved bytes
// of the actor, partner and collector TLVs.
func reservedDiffers(a, b []byte) bool {
	a, b = bytes.Clone(a[:offTerminator]), bytes.Clone(b[:offTerminator])
	for _, r := range [][2]int{{offActor + 17, offActor + 20}, {offPartner + 17, offPartner + 20}, {offCollector + 4, offCollector + 16}} {
		clear(a[r[0]:r[1]])
		clear(b[r[0]:r[1]])
	}
	return bytes.Equal(a, b)
}
