package frame

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func TestEthernetAndVLAN(t *testing.T) {
	long := bytes.Repeat([]byte{0xab}, 100)
	tests := []struct {
		name    string
		got     []byte
		wantLen int
		// header is the expected start of the frame.
		header []byte
		// payloadAt is where the payload starts.
		payloadAt int
		payload   []byte
	}{
		{
			name:    "short untagged is padded",
			got:     Ethernet(macB, macA, EtherTypeIPv4, []byte{1, 2, 3}),
			wantLen: MinLen,
			header: []byte{
				0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00,
			},
			payloadAt: 14, payload: []byte{1, 2, 3},
		},
		{
			name:    "long untagged is not",
			got:     Ethernet(macB, macA, EtherTypeLACP, long),
			wantLen: 14 + 100,
			header: []byte{
				0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0x09,
			},
			payloadAt: 14, payload: long,
		},
		{
			name:    "tagged VID 100",
			got:     VLAN(macB, macA, 100, EtherTypeIPv4, []byte{9}),
			wantLen: MinLen,
			header: []byte{
				0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a,
				0x81, 0x00, 0x00, 0x64, 0x08, 0x00,
			},
			payloadAt: 18, payload: []byte{9},
		},
		{
			name:    "tagged VID keeps 12 bits",
			got:     VLAN(macB, macA, 0xf000|4094, EtherTypeARP, long),
			wantLen: 18 + 100,
			header: []byte{
				0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a,
				0x81, 0x00, 0x0f, 0xfe, 0x08, 0x06,
			},
			payloadAt: 18, payload: long,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(tt.got), tt.wantLen)
			}
			if !bytes.HasPrefix(tt.got, tt.header) {
				t.Errorf("header = % x, want % x", tt.got[:len(tt.header)], tt.header)
			}
			end := tt.payloadAt + len(tt.payload)
			if !bytes.Equal(tt.got[tt.payloadAt:end], tt.payload) {
				t.Errorf("payload = % x, want % x", tt.got[tt.payloadAt:end], tt.payload)
			}
			if pad := tt.got[end:]; !bytes.Equal(pad, make([]byte, len(pad))) {
				t.Errorf("padding = % x, want zeros", pad)
			}
		})
	}
}

func TestIPv4UDP(t *testing.T) {
	tests := []struct {
		name    string
		src     net.IP
		dst     net.IP
		payload []byte
	}{
		{"empty", net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2"), nil},
		{"odd length", net.ParseIP("198.51.100.7"), net.ParseIP("203.0.113.9"), []byte("hello")},
		{"even length", net.IPv4(192, 0, 2, 255), net.IPv4(192, 0, 2, 1), bytes.Repeat([]byte{0xff}, 1400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := IPv4UDP(tt.src, tt.dst, 40000, 4789, tt.payload)
			if want := 28 + len(tt.payload); len(p) != want {
				t.Fatalf("len = %d, want %d", len(p), want)
			}
			hdr := p[:20]
			if hdr[0] != 0x45 || hdr[9] != 17 || hdr[8] != 64 {
				t.Errorf("version/IHL %#x, protocol %d, TTL %d", hdr[0], hdr[9], hdr[8])
			}
			if got := binary.BigEndian.Uint16(hdr[2:]); int(got) != len(p) {
				t.Errorf("total length = %d, want %d", got, len(p))
			}
			if !net.IP(hdr[12:16]).Equal(tt.src) || !net.IP(hdr[16:20]).Equal(tt.dst) {
				t.Errorf("addresses %v -> %v, want %v -> %v", net.IP(hdr[12:16]), net.IP(hdr[16:20]), tt.src, tt.dst)
			}
			if binary.BigEndian.Uint16(hdr[10:]) == 0 || Checksum(hdr) != 0 {
				t.Errorf("IPv4 header checksum %#04x does not verify", binary.BigEndian.Uint16(hdr[10:]))
			}
			udp := p[20:]
			if sp, dp := binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:]); sp != 40000 || dp != 4789 {
				t.Errorf("ports %d -> %d, want 40000 -> 4789", sp, dp)
			}
			if got := binary.BigEndian.Uint16(udp[4:]); int(got) != len(udp) {
				t.Errorf("UDP length = %d, want %d", got, len(udp))
			}
			pseudo := append(append(append([]byte{}, tt.src.To4()...), tt.dst.To4()...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
			if Checksum(append(pseudo, udp...)) != 0 {
				t.Errorf("UDP checksum %#04x does not verify", binary.BigEndian.Uint16(udp[6:]))
			}
			if !bytes.Equal(udp[8:], tt.payload) {
				t.Errorf("payload differs")
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		// RFC 1071 section 3 example: sum 0xddf2, checksum its complement.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, ^uint16(0xddf2)},
		{"odd byte padded on the right", []byte{0x01}, ^uint16(0x0100)},
		{"carry folds", []byte{0xff, 0xff, 0x00, 0x01}, ^uint16(0x0001)},
		{"empty", nil, 0xffff},
	}
	for _, tt := range tests {
		if got := Checksum(tt.in); got != tt.want {
			t.Errorf("%s: Checksum() = %#04x, want %#04x", tt.name, got, tt.want)
		}
	}
}

func TestARP(t *testing.T) {
	spa, tpa := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	tests := []struct {
		name    string
		got     []byte
		dst     net.HardwareAddr
		op      uint16
		tha     net.HardwareAddr
		senderP net.IP
		targetP net.IP
	}{
		{"request", ARPRequest(macA, spa, tpa), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, make(net.HardwareAddr, 6), spa, tpa},
		{"reply", ARPReply(macA, spa, macB, tpa), macB, 2, macB, spa, tpa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Frame{Data: tt.got}
			if len(tt.got) != MinLen || f.EtherType() != EtherTypeARP {
				t.Fatalf("len %d EtherType %#04x", len(tt.got), f.EtherType())
			}
			if f.Dst().String() != tt.dst.String() || f.Src().String() != macA.String() {
				t.Errorf("Ethernet %v -> %v", f.Src(), f.Dst())
			}
			a := f.Payload()
			want := []byte{0, 1, 0x08, 0x00, 6, 4, byte(tt.op >> 8), byte(tt.op)}
			if !bytes.Equal(a[:8], want) {
				t.Errorf("ARP header % x, want % x", a[:8], want)
			}
			if !bytes.Equal(a[8:14], macA) || !net.IP(a[14:18]).Equal(tt.senderP) ||
				!bytes.Equal(a[18:24], tt.tha) || !net.IP(a[24:28]).Equal(tt.targetP) {
				t.Errorf("ARP addresses % x", a[8:28])
			}
		})
	}
}

func TestFrameAccessorsAndWithTag(t *testing.T) {
	payload := bytes.Repeat([]byte{0x5a}, 50)
	tagged := VLAN(macB, macA, 300, EtherTypeIPv4, payload)
	// What a receiver gets from the kernel: the tag moved to metadata.
	stripped := append(append([]byte{}, tagged[:12]...), tagged[16:]...)

	tests := []struct {
		name        string
		f           Frame
		wantType    uint16
		wantWithTag []byte
	}{
		{
			name:        "stripped 802.1Q",
			f:           Frame{Data: stripped, Tagged: true, VLAN: 300, TCI: 300, TPID: EtherTypeVLAN},
			wantType:    EtherTypeIPv4,
			wantWithTag: tagged,
		},
		{
			name:        "stripped with unreported TPID defaults to 802.1Q",
			f:           Frame{Data: stripped, Tagged: true, VLAN: 300, TCI: 300},
			wantType:    EtherTypeIPv4,
			wantWithTag: tagged,
		},
		{
			name:     "stripped 802.1ad with priority",
			f:        Frame{Data: stripped, Tagged: true, VLAN: 300, TCI: 5<<13 | 300, TPID: 0x88a8},
			wantType: EtherTypeIPv4,
			wantWithTag: append(append(append([]byte{}, tagged[:12]...), 0x88, 0xa8, 0xa1, 0x2c),
				tagged[16:]...),
		},
		{
			name:        "untagged is unchanged",
			f:           Frame{Data: tagged},
			wantType:    EtherTypeVLAN,
			wantWithTag: tagged,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.f.Dst().String() != macB.String() || tt.f.Src().String() != macA.String() {
				t.Errorf("Src/Dst = %v/%v", tt.f.Src(), tt.f.Dst())
			}
			if got := tt.f.EtherType(); got != tt.wantType {
				t.Errorf("EtherType() = %#04x, want %#04x", got, tt.wantType)
			}
			got := tt.f.WithTag()
			if !bytes.Equal(got, tt.wantWithTag) {
				t.Errorf("WithTag() = % x\nwant        % x", got, tt.wantWithTag)
			}
			got[0] ^= 0xff
			if tt.f.Data[0] != macB[0] {
				t.Error("WithTag() aliases Data")
			}
		})
	}

	short := Frame{Data: []byte{1, 2, 3}}
	if short.Dst() != nil || short.Src() != nil || short.EtherType() != 0 || short.Payload() != nil {
		t.Error("accessors on a 3-byte frame returned data")
	}
}
