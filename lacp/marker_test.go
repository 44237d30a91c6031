package lacp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestMarkerCodec(t *testing.T) {
	m := Marker{Port: 0x0102, System: MAC{2, 0x11, 0x22, 0x33, 0x44, 0x55}, TransactionID: 0xa0b0c0d0}
	want, _ := hex.DecodeString("0201" + "0110" + "0102" + "021122334455" + "a0b0c0d0" + "0000" + "0000")
	want = append(want, make([]byte, 90)...)
	b := m.Marshal()
	if !bytes.Equal(b, want) {
		t.Fatalf("Marshal =\n%x\nwant\n%x", b, want)
	}
	got, err := UnmarshalMarker(b)
	if err != nil || got != m {
		t.Fatalf("UnmarshalMarker = %+v, %v", got, err)
	}
	m.Response = true
	if b := m.Marshal(); b[2] != tlvMarkerResponse {
		t.Errorf("response TLV type %d", b[2])
	}

	for _, tc := range []struct {
		name  string
		b     []byte
		field string
	}{
		{"empty", nil, "subtype"},
		{"lacp", testPDU().Marshal(), "subtype"},
		{"version 0", append([]byte{2, 0}, want[2:]...), "version"},
		{"TLV type", append([]byte{2, 1, 3}, want[3:]...), "marker TLV type"},
		{"TLV length", append([]byte{2, 1, 1, 15}, want[4:]...), "marker TLV length"},
		{"cut", want[:10], "marker TLV"},
		{"terminator", func() []byte { b := bytes.Clone(want); b[offMarkerTerm] = 1; return b }(), "terminator TLV type"},
		{"no reserved", want[:offMarkerTerm+2], "reserved"},
	} {
		var fe *FormatError
		if _, err := UnmarshalMarker(tc.b); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: UnmarshalMarker = %v, want field %q", tc.name, err, tc.field)
		}
	}
}

// FuzzMarker checks that UnmarshalMarker never panics and that
// whatever it accepts round-trips.
func FuzzMarker(f *testing.F) {
	f.Add(Marker{Port: 1, TransactionID: 2}.Marshal())
	f.Add(Marker{Response: true}.Marshal())
	f.Add(testPDU().Marshal())
	f.Add([]byte{SubtypeMarker, 1, 1, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMarker(b)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FormatError", err)
			}
			return
		}
		n, err := UnmarshalMarker(m.Marshal())
		if err != nil || n != m {
			t.Fatalf("round trip: %+v, %v; want %+v", n, err, m)
		}
	})
}
