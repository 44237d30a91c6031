package protocol

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
)

// maxHeartbeatGap is the loosest bound the priority tests assert: far
// below the 15 s after which a VEM goes headless, far above any jitter.
const maxHeartbeatGap = 3 * time.Second

// wireEvent is a message as the VEM's reader took it off the wire.
type wireEvent struct {
	at        time.Time
	heartbeat *Heartbeat
	chunk     *SnapshotChunk
}

// wireLog records a session's heartbeats and chunks.
type wireLog struct {
	mu     sync.Mutex
	events []wireEvent
}

func (w *wireLog) trace(env *Envelope, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case env.GetHeartbeat() != nil:
		w.events = append(w.events, wireEvent{at: at, heartbeat: env.GetHeartbeat()})
	case env.GetSnapshotChunk() != nil:
		c := env.GetSnapshotChunk()
		// The data is not needed, and keeping it would hold every snapshot.
		w.events = append(w.events, wireEvent{at: at, chunk: &SnapshotChunk{Generation: c.GetGeneration(), Seq: c.GetSeq(), Count: c.GetCount(), Size: c.GetSize()}})
	}
}

func (w *wireLog) snapshot() []wireEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// heartbeatStats are the gaps between heartbeats' arrivals and their
// delays from send to arrival.
type heartbeatStats struct {
	count           int
	lost            int
	gaps, delays    []time.Duration
	interleaved     int // heartbeats that came between two chunks of one snapshot
	chunks, bytes   int
	firstAt, lastAt time.Time
}

func statsOf(events []wireEvent) heartbeatStats {
	var s heartbeatStats
	var prev *wireEvent
	var seq uint64
	inSnapshot := false
	for i := range events {
		e := &events[i]
		if c := e.chunk; c != nil {
			s.chunks++
			if c.GetSeq() == 0 {
				s.bytes += int(c.GetSize())
			}
			inSnapshot = c.GetSeq()+1 < c.GetCount()
			continue
		}
		hb := e.heartbeat
		s.count++
		if seq != 0 && hb.GetSeq() != seq+1 {
			s.lost += int(hb.GetSeq() - seq - 1)
		}
		seq = hb.GetSeq()
		if inSnapshot {
			s.interleaved++
		}
		s.delays = append(s.delays, e.at.Sub(time.Unix(0, hb.GetSentUnixNano())))
		if prev != nil {
			s.gaps = append(s.gaps, e.at.Sub(prev.at))
		} else {
			s.firstAt = e.at
		}
		s.lastAt = e.at
		prev = e
	}
	return s
}

// percentile is the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func (s heartbeatStats) String() string {
	return fmt.Sprintf("%d heartbeats (%d lost, %d between two chunks of one snapshot); gap p50 %v p99 %v max %v; delay p50 %v p99 %v max %v",
		s.count, s.lost, s.interleaved,
		percentile(s.gaps, 50), percentile(s.gaps, 99), percentile(s.gaps, 100),
		percentile(s.delays, 50), percentile(s.delays, 99), percentile(s.delays, 100))
}

// heartbeatLoop sends a heartbeat every interval until stop closes.
func heartbeatLoop(t *testing.T, vs *VEMSession, interval time.Duration, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if err := vs.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE, Epoch: 1}); err != nil {
				t.Errorf("heartbeat: %v", err)
				return
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	return done
}

// consume takes every event of a VEM's session, as a DPA would, until it
// ends, counting the configurations.
func consume(v *VSMSession) <-chan int {
	n := make(chan int, 1)
	go func() {
		configs := 0
		for {
			ev, err := v.Recv(context.Background())
			if err != nil {
				n <- configs
				return
			}
			if c, ok := ev.(*Config); ok {
				configs++
				_ = v.Ack(c)
			}
		}
	}()
	return n
}

// TestHeartbeatsWhileStreaming streams 10,000-port snapshots back to back
// on a session for a few seconds while the VSM sends a heartbeat every
// 100 ms, and checks that heartbeats keep coming between the chunks of a
// snapshot, none lost and no gap above maxHeartbeatGap. The jitter it
// measures is logged.
func TestHeartbeatsWhileStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("streams snapshots for seconds")
	}
	p := newTestPKI(t)
	ts := startServer(t, p)
	var wire wireLog
	cfg := clientConfig(t, p.dir, "hv1")
	network, opts, bindings, macs := bigNetwork(10000)
	cfg.Validate = opts
	cfg.trace = wire.trace
	vc := dial(t, ts.addr, cfg)
	vs := ts.session(t)
	configs := consume(vc)

	const (
		interval  = 100 * time.Millisecond
		streaming = 3 * time.Second
		maxSnaps  = 100
	)
	stop := make(chan struct{})
	beats := heartbeatLoop(t, vs, interval, stop)
	time.Sleep(3 * interval) // a baseline before the bulk work starts
	start := time.Now()
	sent, size := 0, 0
	for gen := uint64(1); gen <= maxSnaps && time.Since(start) < streaming; gen++ {
		snap, err := NewSnapshot(gen, network, bindings, macs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vs.SendConfig(context.Background(), snap); err != nil {
			t.Fatal(err)
		}
		sent++
		size = len(snap.GetNetwork())
	}
	queued := time.Since(start)
	time.Sleep(5 * interval)
	close(stop)
	<-beats
	vc.Close()
	got := <-configs

	s := statsOf(wire.snapshot())
	t.Logf("%d snapshots of 10,000 ports (network JSON %d bytes, %d chunks in all, %.1f MB) queued in %v; the VEM applied %d (the others coalesced)",
		sent, size, s.chunks, float64(s.bytes)/1e6, queued.Round(time.Millisecond), got)
	t.Logf("while streaming: %s", s)
	if s.lost > 0 {
		t.Errorf("%d heartbeats lost", s.lost)
	}
	if g := percentile(s.gaps, 100); g > maxHeartbeatGap {
		t.Errorf("a heartbeat gap of %v while streaming", g)
	}
	if s.interleaved == 0 {
		t.Error("no heartbeat came between two chunks of a snapshot: control messages do not overtake bulk ones")
	}
	if got == 0 {
		t.Error("no configuration was delivered")
	}
}

// TestHeartbeatsThroughConnectionFlood opens a bounded flood of
// connections that never finish a handshake, send garbage or fail TLS,
// while a session receives heartbeats; its heartbeats keep their pace and
// a new session can still open.
func TestHeartbeatsThroughConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for seconds")
	}
	p := newTestPKI(t)
	ts := startServer(t, p)
	var wire wireLog
	cfg := clientConfig(t, p.dir, "hv1")
	cfg.trace = wire.trace
	vc := dial(t, ts.addr, cfg)
	vs := ts.session(t)
	consume(vc)
	stop := make(chan struct{})
	beats := heartbeatLoop(t, vs, 100*time.Millisecond, stop)

	const (
		stalled = 300 // connect and say nothing
		garbage = 100 // send bytes that are not TLS
		badTLS  = 30  // a client certificate of another CA
	)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < stalled+garbage && time.Now().Before(deadline); i++ {
		c, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err != nil {
			continue
		}
		conns = append(conns, c)
		if i >= stalled {
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff"))
		}
	}
	other := clientConfig(t, p.dir, "hv2").TLS
	f := files(p.other, "hv2")
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	other.Certificates = []tls.Certificate{cert}
	var wg sync.WaitGroup
	for range badTLS {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ts.addr, other)
			if err == nil {
				c.Write([]byte("x"))
				c.Close()
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second)

	// A new VEM still gets a session.
	dial(t, ts.addr, clientConfig(t, p.dir, "hv3"))
	ts.session(t)
	close(stop)
	<-beats

	s := statsOf(wire.snapshot())
	t.Logf("%d flood connections; heartbeats: %s", len(conns)+badTLS, s)
	if s.lost > 0 {
		t.Errorf("%d heartbeats lost", s.lost)
	}
	if g := percentile(s.gaps, 100); g > maxHeartbeatGap {
		t.Errorf("a heartbeat gap of %v during the flood", g)
	}
}

// bigNetwork is n ports over local segments of 50 ports, with limits that
// hold them, n bindings and n remote MACs.
func bigNetwork(n int) (*spec.Switch, spec.ValidateOptions, []*PortBinding, []*MacEntry) {
	sw := &spec.Switch{Profiles: []spec.Profile{{Name: "default", PortSecurity: true}}}
	var bindings []*PortBinding
	var macs []*MacEntry
	for i := range n {
		seg := fmt.Sprintf("seg%d", i/50)
		if i%50 == 0 {
			sw.Segments = append(sw.Segments, spec.Segment{Name: seg, Type: spec.SegmentLocal})
		}
		mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
		iface := fmt.Sprintf("tap%05d", i)
		sw.Ports = append(sw.Ports, spec.Port{Interface: iface, MAC: mac, Segment: seg, Profile: "default"})
		bindings = append(bindings, &PortBinding{Interface: iface, Veth: uint32(i + 1), DynamicProfile: fmt.Sprintf("vnn%d", i/50), Segment: seg, Profile: "default", Mac: mac})
		macs = append(macs, &MacEntry{Vni: 5001, Mac: fmt.Sprintf("52:55:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Vtep: "198.51.100.7"})
	}
	lim := spec.DefaultLimits
	lim.Ports = n + 16
	return sw, spec.ValidateOptions{Limits: &lim}, bindings, macs
}
