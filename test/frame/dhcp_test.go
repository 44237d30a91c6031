package frame

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

func TestDHCPv4(t *testing.T) {
	yi := net.ParseIP("192.0.2.50")
	tests := []struct {
		name   string
		msg    []byte
		op     byte
		yiaddr net.IP
		typ    byte
	}{
		{"discover", DHCPv4(DHCPDiscover, 0x01020304, macA, nil), 1, net.IPv4zero, DHCPDiscover},
		{"offer", DHCPv4(DHCPOffer, 0x01020304, macA, yi), 2, yi, DHCPOffer},
		{"ack", DHCPv4(DHCPAck, 0x01020304, macA, yi), 2, yi, DHCPAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg
			if len(m) != 236+4+4 {
				t.Fatalf("len = %d, want 244", len(m))
			}
			if m[0] != tt.op || m[1] != 1 || m[2] != 6 {
				t.Errorf("op %d htype %d hlen %d, want %d, 1, 6", m[0], m[1], m[2], tt.op)
			}
			if xid := binary.BigEndian.Uint32(m[4:]); xid != 0x01020304 {
				t.Errorf("xid %#x", xid)
			}
			if !net.IP(m[16:20]).Equal(tt.yiaddr) || !bytes.Equal(m[28:34], macA) {
				t.Errorf("yiaddr %v chaddr % x", net.IP(m[16:20]), m[28:34])
			}
			if !bytes.Equal(m[236:], []byte{0x63, 0x82, 0x53, 0x63, 53, 1, tt.typ, 255}) {
				t.Errorf("cookie and options % x", m[236:])
			}
		})
	}
}

func TestDHCPFrames(t *testing.T) {
	server := net.ParseIP("192.0.2.3")
	tests := []struct {
		name             string
		f                []byte
		src              net.HardwareAddr
		srcIP            net.IP
		srcPort, dstPort uint16
		typ              byte
	}{
		{"discover from 0.0.0.0", DHCPv4Discover(macA, 7), macA, net.IPv4zero, 68, 67, DHCPDiscover},
		{"offer from a server", DHCPv4Offer(macB, server, 7, macA, net.ParseIP("192.0.2.50")), macB, server, 67, 68, DHCPOffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Frame{Data: tt.f}
			if f.Dst().String() != "ff:ff:ff:ff:ff:ff" || f.Src().String() != tt.src.String() || f.EtherType() != EtherTypeIPv4 {
				t.Fatalf("Ethernet %v -> %v type %#04x", f.Src(), f.Dst(), f.EtherType())
			}
			ip := f.Payload()
			if Checksum(ip[:20]) != 0 || ip[9] != 17 {
				t.Errorf("IPv4 header % x", ip[:20])
			}
			if !net.IP(ip[12:16]).Equal(tt.srcIP) || !net.IP(ip[16:20]).Equal(net.IPv4bcast) {
				t.Errorf("addresses %v -> %v", net.IP(ip[12:16]), net.IP(ip[16:20]))
			}
			if sp, dp := binary.BigEndian.Uint16(ip[20:]), binary.BigEndian.Uint16(ip[22:]); sp != tt.srcPort || dp != tt.dstPort {
				t.Errorf("ports %d -> %d, want %d -> %d", sp, dp, tt.srcPort, tt.dstPort)
			}
			if ip[28+242] != tt.typ {
				t.Errorf("message type %d, want %d", ip[28+242], tt.typ)
			}
		})
	}
	if got := DHCPv6(DHCPv6Advertise, 0xabcdef12); !bytes.Equal(got, []byte{2, 0xcd, 0xef, 0x12}) {
		t.Errorf("DHCPv6 = % x, want 02 cd ef 12 (24-bit xid)", got)
	}
}

func TestARPForms(t *testing.T) {
	ip, target := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	tests := []struct {
		name     string
		f        []byte
		dst      net.HardwareAddr
		op       uint16
		sha      net.HardwareAddr
		spa, tpa net.IP
	}{
		{"gratuitous", GratuitousARP(macA, ip), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, macA, ip, ip},
		{"probe", ARPProbe(macA, target), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, macA, net.IPv4zero, target},
		{"sender other than the source", ARP(macB, macA, ARPOpReply, macB, ip, macB, target), macB, 2, macB, ip, target},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Frame{Data: tt.f}
			if f.Dst().String() != tt.dst.String() || f.Src().String() != macA.String() || f.EtherType() != EtherTypeARP {
				t.Fatalf("Ethernet %v -> %v type %#04x", f.Src(), f.Dst(), f.EtherType())
			}
			a := f.Payload()
			if op := binary.BigEndian.Uint16(a[6:]); op != tt.op {
				t.Errorf("op %d, want %d", op, tt.op)
			}
			if !bytes.Equal(a[8:14], tt.sha) || !net.IP(a[14:18]).Equal(tt.spa) || !net.IP(a[24:28]).Equal(tt.tpa) {
				t.Errorf("sender % x %v target %v", a[8:14], net.IP(a[14:18]), net.IP(a[24:28]))
			}
		})
	}
}
