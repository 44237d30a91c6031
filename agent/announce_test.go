package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

func TestAnnounceFrames(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x0a}
	for _, c := range []struct {
		name  string
		frame []byte
		want  string // hex, spaces ignored
	}{
		{"rarp", rarpFrame(mac),
			"ffffffffffff 52540000000a 8035 0001 0800 06 04 0003 52540000000a 00000000 52540000000a 00000000" + zeros(18)},
		{"garp", garpFrame(mac, netip.MustParseAddr("192.0.2.10")),
			"ffffffffffff 52540000000a 0806 0001 0800 06 04 0001 52540000000a c000020a 000000000000 c000020a" + zeros(18)},
		{"tagged", tagged(rarpFrame(mac), 100)[:20], "ffffffffffff 52540000000a 8100 0064 8035 0001"},
		{"tagged vid masked", tagged(rarpFrame(mac), 0xf064)[12:16], "8100 0064"},
		{"vxlan", vxlanPayload(5001, []byte{0xaa}), "08000000 00138900 aa"},
	} {
		want := bytes.ReplaceAll([]byte(c.want), []byte(" "), nil)
		if got := hex.EncodeToString(c.frame); got != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
	if fs := announceFrames(mac, []string{"192.0.2.10", "2001:db8::1", "192.0.2.11"}); len(fs) != 3 {
		t.Errorf("announceFrames: %d frames, want RARP and a GARP per IPv4 address (3)", len(fs))
	}
	for _, f := range [][]byte{rarpFrame(mac), garpFrame(mac, netip.MustParseAddr("192.0.2.1"))} {
		if len(f) != minFrame {
			t.Errorf("frame of %d bytes, want padded to %d", len(f), minFrame)
		}
	}
}

func zeros(n int) string { return hex.EncodeToString(make([]byte, n)) }

// sentFrame is one call to a fakeTx.
type sentFrame struct {
	ifindex  int            // SendFrame
	src      netip.Addr     // SendUDP
	dst      netip.AddrPort // SendUDP
	data     []byte
	sentAtMs int64
}

// fakeTx records what the announcer sends.
type fakeTx struct {
	mu     sync.Mutex
	start  time.Time
	sent   []sentFrame
	fail   error
	closed bool
}

func (f *fakeTx) SendFrame(ifindex int, frame []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, sentFrame{ifindex: ifindex, data: slices.Clone(frame), sentAtMs: time.Since(f.start).Milliseconds()})
	return nil
}

func (f *fakeTx) SendUDP(src netip.Addr, dst netip.AddrPort, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, sentFrame{src: src, dst: dst, data: slices.Clone(payload), sentAtMs: time.Since(f.start).Milliseconds()})
	return nil
}

func (f *fakeTx) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeTx) frames() []sentFrame {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// announcePlan is a plan with an uplink (ifindex 2, member of a
// port-channel with 3), a VLAN segment 1 (VID 100), a VXLAN segment 2
// (VNI 5001, two VTEPs), a local segment 3, and the given vEths.
func announcePlan(ports ...portInfo) *plan {
	p := &plan{
		ports: map[int]portInfo{},
		segments: map[uint32]bpf.Segment{
			1: {ID: 1, Type: bpf.SegmentVLAN, VLAN: 100},
			2: {ID: 2, Type: bpf.SegmentVXLAN, VNI: 5001,
				VTEPs: []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")}},
			3: {ID: 3, Type: bpf.SegmentLocal},
		},
		uplink:   &bpf.Uplink{Members: []bpf.Member{{Ifindex: 2, Slot: 1}, {Ifindex: 3, Slot: 2}}},
		settings: bpf.Settings{VTEP: netip.MustParseAddr("198.51.100.1"), VTEPPort: 4789},
	}
	for _, pi := range ports {
		p.ports[pi.Entry.Ifindex] = pi
	}
	return p
}

func vEth(ifindex int, mac string, segment uint32, secure bool, ips ...string) portInfo {
	hw, _ := net.ParseMAC(mac)
	return portInfo{Iface: "tap" + mac[len(mac)-2:], Kind: bpf.PortVEth,
		Config: spec.Port{MAC: mac, IPs: ips},
		Entry:  bpf.Port{Ifindex: ifindex, Kind: bpf.PortVEth, Segment: segment, MAC: hw, Secure: secure}}
}

// runAnnouncer runs a on its own goroutine until the test ends.
func runAnnouncer(t *testing.T, a *announcer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// idle waits until a has no announcement in progress.
func idle(t *testing.T, a *announcer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		n := len(a.jobs)
		a.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("announcements still in progress after 5s: %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAnnouncerSendsIntoTheSegment(t *testing.T) {
	tx := &fakeTx{start: time.Now()}
	var cur *plan
	var curMu sync.Mutex
	type forgot struct {
		seg uint32
		mac string
	}
	var forgotten []forgot
	a := newAnnouncer(announcerOptions{Tx: tx,
		Plan: func() *plan { curMu.Lock(); defer curMu.Unlock(); return cur },
		Forget: func(seg uint32, mac net.HardwareAddr) error {
			forgotten = append(forgotten, forgot{seg, mac.String()})
			return nil
		},
		Schedule: []time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond}})
	runAnnouncer(t, a)
	write := func(next *plan) {
		curMu.Lock()
		prev := cur
		cur = next
		curMu.Unlock()
		a.written(prev, next)
	}
	vlanPort := vEth(10, "52:54:00:00:00:0a", 1, true, "192.0.2.10")
	pinned := vEth(11, "52:54:00:00:00:0b", 1, false)
	pinned.Entry.Pin = bpf.Member{Ifindex: 3, Slot: 2}
	vxPort := vEth(12, "52:54:00:00:00:0c", 2, true, "192.0.2.12", "2001:db8::c")
	local := vEth(13, "52:54:00:00:00:0d", 3, true, "192.0.2.13")
	down := vEth(14, "52:54:00:00:00:0e", 1, true)
	down.Entry.Down = true
	old := vEth(15, "52:54:00:00:00:0f", 1, true)

	write(announcePlan())    // the first plan: nothing new to compare
	write(announcePlan(old)) // old comes up
	idle(t, a)
	tx.mu.Lock()
	tx.sent = nil
	tx.mu.Unlock()

	write(announcePlan(old, vlanPort, pinned, vxPort, local, down))
	idle(t, a)
	byWhat := map[string][]sentFrame{}
	for _, f := range tx.frames() {
		switch {
		case f.ifindex != 0:
			src := net.HardwareAddr(f.data[6:12]).String()
			byWhat["frame "+src] = append(byWhat["frame "+src], f)
		default:
			byWhat["udp "+f.dst.String()] = append(byWhat["udp "+f.dst.String()], f)
		}
	}
	const rounds = 3
	// The VLAN port: RARP and a GARP, tagged 100, on the first
	// distributing member, three rounds.
	fs := byWhat["frame 52:54:00:00:00:0a"]
	if len(fs) != 2*rounds {
		t.Fatalf("VLAN port: %d frames, want %d", len(fs), 2*rounds)
	}
	for i, f := range fs {
		if f.ifindex != 2 || !bytes.Equal(f.data[12:16], []byte{0x81, 0x00, 0x00, 100}) {
			t.Errorf("VLAN frame %d: ifindex %d, tag % x", i, f.ifindex, f.data[12:16])
		}
	}
	if et := fs[0].data[16:18]; !bytes.Equal(et, []byte{0x80, 0x35}) {
		t.Errorf("first frame of a round: ethertype % x, want RARP", et)
	}
	if et := fs[1].data[16:18]; !bytes.Equal(et, []byte{0x08, 0x06}) {
		t.Errorf("second frame of a round: ethertype % x, want ARP", et)
	}
	if last := fs[len(fs)-1].sentAtMs; last < 60 {
		t.Errorf("last round sent %d ms after the write, schedule says 60", last)
	}
	// The pinned open port: its pinned member; no GARP (no address).
	fs = byWhat["frame 52:54:00:00:00:0b"]
	if len(fs) != rounds || fs[0].ifindex != 3 {
		t.Errorf("pinned port: %d frames on ifindex %v, want %d on its pinned member 3", len(fs), fs, rounds)
	}
	if !slices.Equal(forgotten, []forgot{{1, "52:54:00:00:00:0b"}}) {
		t.Errorf("forgotten learned entries: %v, want the open port's MAC only", forgotten)
	}
	// The VXLAN port: to each VTEP, from the local VTEP, VNI 5001: RARP
	// and one GARP (the IPv6 address has none).
	for _, vtep := range []string{"198.51.100.2:4789", "198.51.100.3:4789"} {
		fs := byWhat["udp "+vtep]
		if len(fs) != 2*rounds {
			t.Errorf("VXLAN to %s: %d datagrams, want %d", vtep, len(fs), 2*rounds)
			continue
		}
		f := fs[0]
		if f.src != netip.MustParseAddr("198.51.100.1") || !bytes.Equal(f.data[:8], []byte{8, 0, 0, 0, 0, 0x13, 0x89, 0}) ||
			net.HardwareAddr(f.data[8+6:8+12]).String() != "52:54:00:00:00:0c" {
			t.Errorf("VXLAN to %s: from %s, header % x, inner source %s", vtep, f.src, f.data[:8], net.HardwareAddr(f.data[14:20]))
		}
	}
	// Local segments, admin-down ports and unchanged ports: nothing.
	for _, mac := range []string{"0d", "0e", "0f"} {
		if fs := byWhat["frame 52:54:00:00:00:"+mac]; len(fs) != 0 {
			t.Errorf("port 52:54:00:00:00:%s: %d frames, want none", mac, len(fs))
		}
	}
	if st := a.Stats(); st.Ports != 4 || st.Sent == 0 || st.Failed != 0 {
		t.Errorf("stats %+v: want 4 ports (old, VLAN, pinned, VXLAN; not local), frames sent, none failed", st)
	}
}

func TestAnnouncerStopsForAGonePortAndCountsFailures(t *testing.T) {
	tx := &fakeTx{start: time.Now()}
	var mu sync.Mutex
	cur := announcePlan()
	a := newAnnouncer(announcerOptions{Tx: tx,
		Plan:     func() *plan { mu.Lock(); defer mu.Unlock(); return cur },
		Schedule: []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond}})
	runAnnouncer(t, a)
	p := vEth(10, "52:54:00:00:00:0a", 1, true)
	next := announcePlan(p)
	mu.Lock()
	prev := cur
	cur = next
	mu.Unlock()
	a.written(prev, next)
	time.Sleep(30 * time.Millisecond) // the first round, not the second
	mu.Lock()
	cur = announcePlan() // the port went
	mu.Unlock()
	idle(t, a)
	if n := len(tx.frames()); n != 1 {
		t.Errorf("%d frames, want the first round's one: the port went before the second", n)
	}

	tx.fail = errors.New("no buffer space")
	mu.Lock()
	prev, cur = cur, announcePlan(p)
	next = cur
	mu.Unlock()
	a.written(prev, next)
	idle(t, a)
	if st := a.Stats(); st.Failed != 3 || st.Sent != 1 {
		t.Errorf("stats %+v: want 1 sent, 3 failed (a round each)", st)
	}
}

// TestAnnouncerRepinned: mac-pinning moving a vEth to another member
// announces it there (VLAN segments); an unchanged pin, a first pin, or
// a VXLAN port does not.
func TestAnnouncerRepinned(t *testing.T) {
	tx := &fakeTx{start: time.Now()}
	var mu sync.Mutex
	var cur *plan
	a := newAnnouncer(announcerOptions{Tx: tx, Plan: func() *plan { mu.Lock(); defer mu.Unlock(); return cur },
		Schedule: []time.Duration{0}})
	runAnnouncer(t, a)
	pinned := func(member int) *plan {
		v := vEth(10, "52:54:00:00:00:0a", 1, true)
		v.Entry.Pin = bpf.Member{Ifindex: member}
		x := vEth(12, "52:54:00:00:00:0c", 2, true)
		x.Entry.Pin = bpf.Member{Ifindex: member}
		return announcePlan(v, x)
	}
	for _, step := range []struct {
		member int
		want   []int // ifindexes frames went out of
	}{{2, nil}, {2, nil}, {3, []int{3}}, {0, nil}, {2, nil}, {3, []int{3}}} {
		mu.Lock()
		prev := cur
		cur = pinned(step.member)
		next := cur
		mu.Unlock()
		tx.mu.Lock()
		tx.sent = nil
		tx.mu.Unlock()
		if prev == nil {
			a.written(announcePlan(), next) // the ports are new: not what this test is about
			idle(t, a)
			continue
		}
		a.written(prev, next)
		idle(t, a)
		var got []int
		for _, f := range tx.frames() {
			if f.ifindex != 0 {
				got = append(got, f.ifindex)
			}
		}
		if !slices.Equal(got, step.want) {
			t.Errorf("pinned to %d: frames out of %v, want %v", step.member, got, step.want)
		}
	}
}
