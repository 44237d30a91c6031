package frame

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestLinkLocalControlFrames(t *testing.T) {
	tests := []struct {
		name    string
		got     []byte
		wantLen int
		// header is the expected Ethernet header.
		header []byte
		// body is the expected start of what follows it.
		body []byte
	}{
		{
			name: "BPDU", got: BPDU(macA), wantLen: MinLen,
			header: []byte{0x01, 0x80, 0xc2, 0, 0, 0, 0x02, 0, 0, 0, 0, 0x0a, 0, 38},
			body: []byte{
				0x42, 0x42, 0x03, // LLC
				0, 0, 0, 0, 0, // protocol, version, configuration, flags
				0, 0, 0x02, 0, 0, 0, 0, 0x0a, // root: priority 0, macA
				0, 0, 0, 0, // root path cost
				0, 0, 0x02, 0, 0, 0, 0, 0x0a, // bridge
				0x80, 0x01, 0, 0, 20, 0, 2, 0, 15, 0,
			},
		},
		{
			name: "LACPDU", got: LACPDU(macA, macB, 7, 3), wantLen: 14 + 110,
			header: []byte{0x01, 0x80, 0xc2, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0x09},
			body: []byte{
				1, 1, // LACP version 1
				1, 20, 0x80, 0, 0x02, 0, 0, 0, 0, 0x0b, 0, 7, 0x80, 0, 0, 3, 0x3f, 0, 0, 0,
				2, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				3, 16,
			},
		},
		{
			name: "PAUSE to the reserved address", got: Pause(PauseMAC, macA, 0xffff), wantLen: MinLen,
			header: []byte{0x01, 0x80, 0xc2, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0x08},
			body:   []byte{0, 1, 0xff, 0xff},
		},
		{
			name: "PAUSE to a unicast address", got: Pause(macB, macA, 1), wantLen: MinLen,
			header: []byte{0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0x08},
			body:   []byte{0, 1, 0, 1},
		},
		{
			name: "LLDP", got: LLDP(macA, "eth0"), wantLen: MinLen,
			header: []byte{0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xcc},
			body: []byte{
				0x02, 7, 4, 0x02, 0, 0, 0, 0, 0x0a, // chassis ID
				0x04, 5, 5, 'e', 't', 'h', '0', // port ID
				0x06, 2, 0, 120, // TTL
				0, 0, // end
			},
		},
		{
			name: "EAPOL-Start", got: EAPOLStart(macA), wantLen: MinLen,
			header: []byte{0x01, 0x80, 0xc2, 0, 0, 0x03, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0x8e},
			body:   []byte{2, 1, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(tt.got), tt.wantLen)
			}
			if !bytes.HasPrefix(tt.got, tt.header) {
				t.Errorf("header = % x, want % x", tt.got[:14], tt.header)
			}
			if !bytes.HasPrefix(tt.got[14:], tt.body) {
				t.Errorf("body = % x\nwant   % x", tt.got[14:14+len(tt.body)], tt.body)
			}
			if rest := tt.got[14+len(tt.body):]; !bytes.Equal(rest, make([]byte, len(rest))) {
				t.Errorf("after the body = % x, want zeros", rest)
			}
		})
	}
	// An 802.3 length field counts the LLC payload, not the padding.
	if n := binary.BigEndian.Uint16(BPDU(macA)[12:]); n != 3+35 {
		t.Errorf("BPDU length field %d, want 38", n)
	}
}
