package frame

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// link returns sockets on both ends of a veth between two new namespaces,
// with MACs macA (a) and macB (b).
func link(t *testing.T) (tp *topo.Topology, a, b *topo.NS, sa, sb *Socket) {
	t.Helper()
	topo.RequireRoot(t)
	tp = topo.ForTest(t)
	a, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err = tp.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(a, "eth0", b, "eth0", topo.MACs(macA, macB)); err != nil {
		t.Fatal(err)
	}
	if sa, err = Open(a, "eth0"); err != nil {
		t.Fatal(err)
	}
	if sb, err = Open(b, "eth0"); err != nil {
		t.Fatal(err)
	}
	return tp, a, b, sa, sb
}

// marked returns a payload that identifies one test frame among the
// neighbour discovery and other traffic a fresh link carries.
func marked(t *testing.T) []byte {
	return append([]byte("vem-frame-test:"+t.Name()+":"), bytes.Repeat([]byte{0x42}, 40)...)
}

// carrying matches frames whose payload contains mark.
func carrying(mark []byte) func(Frame) bool {
	return func(f Frame) bool { return bytes.Contains(f.Data, mark) }
}

func TestVLANTagReportedOnReceive(t *testing.T) {
	_, _, _, sa, sb := link(t)
	tests := []struct {
		name       string
		tagged     bool
		vid        uint16
		wantType   uint16
		wantTagged bool
	}{
		{name: "VID 100", tagged: true, vid: 100, wantType: EtherTypeIPv4, wantTagged: true},
		{name: "VID 1", tagged: true, vid: 1, wantType: EtherTypeARP, wantTagged: true},
		{name: "VID 4094", tagged: true, vid: 4094, wantType: EtherTypeIPv4, wantTagged: true},
		{name: "untagged", wantType: EtherTypeIPv4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := marked(t)
			var out []byte
			if tt.tagged {
				out = VLAN(macB, macA, tt.vid, tt.wantType, payload)
			} else {
				out = Ethernet(macB, macA, tt.wantType, payload)
			}
			if err := sa.Send(out); err != nil {
				t.Fatal(err)
			}
			got := sb.Collect(500*time.Millisecond, carrying(payload))
			if len(got) != 1 {
				t.Fatalf("received %d copies, want 1", len(got))
			}
			f := got[0]
			if f.Outgoing {
				t.Error("received frame marked Outgoing")
			}
			if f.Tagged != tt.wantTagged || f.VLAN != tt.vid {
				t.Errorf("Tagged, VLAN = %v, %d; want %v, %d", f.Tagged, f.VLAN, tt.wantTagged, tt.vid)
			}
			if f.Dst().String() != macB.String() || f.Src().String() != macA.String() || f.EtherType() != tt.wantType {
				t.Errorf("header %v -> %v type %#04x", f.Src(), f.Dst(), f.EtherType())
			}
			// The kernel keeps the tag out of the data: what follows the
			// Ethernet header is the payload itself.
			if !bytes.HasPrefix(f.Payload(), payload) {
				t.Errorf("payload = % x, want prefix % x", f.Payload(), payload)
			}
			if !bytes.Equal(f.WithTag(), out) {
				t.Errorf("WithTag() = % x\nsent        % x", f.WithTag(), out)
			}
		})
	}
}

func TestOutgoing(t *testing.T) {
	_, a, _, sa, _ := link(t)
	monitor, err := Open(a, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	payload := marked(t)
	out := VLAN(macB, macA, 200, EtherTypeIPv4, payload)
	if err := sa.Send(out); err != nil {
		t.Fatal(err)
	}
	got := monitor.Collect(300*time.Millisecond, carrying(payload))
	if len(got) != 1 {
		t.Fatalf("second socket on the sender saw %d copies, want 1", len(got))
	}
	f := got[0]
	if !f.Outgoing {
		t.Error("transmitted frame not marked Outgoing")
	}
	// On transmit the tag is still in the data, where the sender put it.
	if f.Tagged || f.EtherType() != EtherTypeVLAN || !bytes.Equal(f.WithTag(), out) {
		t.Errorf("transmitted frame Tagged=%v type %#04x data % x, want the sent bytes % x",
			f.Tagged, f.EtherType(), f.Data, out)
	}
	if own := sa.Collect(100*time.Millisecond, carrying(payload)); len(own) != 0 {
		t.Errorf("sender's own socket saw %d copies of its frame, want 0", len(own))
	}
}

func TestRecvTimeoutAndClose(t *testing.T) {
	_, _, b, _, sb := link(t)
	if err := b.SetDown("eth0"); err != nil { // silence the link
		t.Fatal(err)
	}
	// Drain whatever the link carried while up.
	sb.Collect(100*time.Millisecond, nil)
	start := time.Now()
	if _, err := sb.Recv(50 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Recv on a quiet link = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("Recv returned after %v, want about 50ms", d)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := sb.Recv(10 * time.Second)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Recv after Close = %v, want closed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake a blocked Recv")
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}

// The kernel drops IPv4 with a bad header checksum and UDP with a bad
// checksum, so a datagram that reaches a UDP socket proves both are valid.
func TestKernelAcceptsIPv4UDP(t *testing.T) {
	_, a, b, sa, _ := link(t)
	if err := a.AddAddr("eth0", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("eth0", "192.0.2.2/24"); err != nil {
		t.Fatal(err)
	}
	var conn net.PacketConn
	if err := b.Do(func() (err error) {
		conn, err = net.ListenPacket("udp4", "192.0.2.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)

	for _, payload := range [][]byte{[]byte("odd"), []byte("even"), bytes.Repeat([]byte{0xff}, 300)} {
		pkt := IPv4UDP(net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2"), 40000, port, payload)
		if err := sa.Send(Ethernet(macB, macA, EtherTypeIPv4, pkt)); err != nil {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram with %d-byte payload not delivered: %v", len(payload), err)
		}
		if !bytes.Equal(buf[:n], payload) {
			t.Errorf("delivered % x, want % x", buf[:n], payload)
		}
		if want := "192.0.2.1:40000"; from.String() != want {
			t.Errorf("from %v, want %s", from, want)
		}
	}
}

// The peer's kernel answers a well-formed ARP request.
func TestKernelAnswersARPRequest(t *testing.T) {
	_, a, b, sa, _ := link(t)
	if err := a.AddAddr("eth0", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("eth0", "192.0.2.2/24"); err != nil {
		t.Fatal(err)
	}
	spa, tpa := net.ParseIP("192.0.2.1").To4(), net.ParseIP("192.0.2.2").To4()
	if err := sa.Send(ARPRequest(macA, spa, tpa)); err != nil {
		t.Fatal(err)
	}
	replies := sa.Collect(500*time.Millisecond, func(f Frame) bool {
		p := f.Payload()
		return !f.Outgoing && f.EtherType() == EtherTypeARP && len(p) >= 28 && p[7] == 2
	})
	if len(replies) != 1 {
		t.Fatalf("got %d ARP replies, want 1", len(replies))
	}
	want := ARPReply(macB, tpa, macA, spa)
	if got := replies[0].Data; !bytes.Equal(got[:42], want[:42]) {
		t.Errorf("reply = % x\nwant    % x", got[:42], want[:42])
	}
}
