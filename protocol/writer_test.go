package protocol

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// gatedStream is a msgStream whose Send waits for a token on gate (nil:
// never waits) and records what it sent; Recv blocks until closed.
type gatedStream struct {
	gate   chan struct{}
	mu     sync.Mutex
	sent   []*Envelope
	closed chan struct{}
	fail   error
}

func newGatedStream(gated bool) *gatedStream {
	g := &gatedStream{closed: make(chan struct{})}
	if gated {
		g.gate = make(chan struct{})
	}
	return g
}

func (g *gatedStream) Send(env *Envelope) error {
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-g.closed:
			return errors.New("stream closed")
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return g.fail
	}
	g.sent = append(g.sent, env)
	return nil
}

func (g *gatedStream) Recv() (*Envelope, error) {
	<-g.closed
	return nil, errors.New("stream closed")
}

func (g *gatedStream) kinds() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, env := range g.sent {
		switch b := env.GetBody().(type) {
		case *Envelope_Heartbeat:
			out = append(out, "hb")
		case *Envelope_PortBinding:
			out = append(out, b.PortBinding.GetInterface())
		default:
			out = append(out, "?")
		}
	}
	return out
}

// testVEMSession is the VSM end of a session over st, not started (no
// reader): the writer is what these tests drive.
func testVEMSession(t *testing.T, st msgStream) *VEMSession {
	t.Helper()
	s := newSession(context.Background(), st, 1, KindVSM, KindVEM, zap.NewNop())
	t.Cleanup(func() { s.fail(nil); s.waitWriter() })
	return &VEMSession{s: s}
}

func (s *session) writerRunning() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writer != nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The writer runs only while something waits to be sent, and an idle
// session's queues hold no array.
func TestWriterOnlyWhileSending(t *testing.T) {
	st := newGatedStream(false)
	v := testVEMSession(t, st)
	if v.s.writerRunning() {
		t.Fatal("a writer runs before anything was sent")
	}
	for i := range 3 {
		if err := v.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the writer to leave", func() bool { return !v.s.writerRunning() })
		if got := len(st.kinds()); got != i+1 {
			t.Fatalf("after heartbeat %d, %d sent", i+1, got)
		}
	}
	if err := v.SendBinding(context.Background(), &PortBinding{Interface: "tap0", Veth: 1, Segment: "web", Profile: "default", DynamicProfile: "vnn1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer to leave", func() bool { return !v.s.writerRunning() })
	v.s.wmu.Lock()
	defer v.s.wmu.Unlock()
	if v.s.control != nil || v.s.bulk != nil {
		t.Errorf("idle queues hold arrays: control %d, bulk %d", cap(v.s.control), cap(v.s.bulk))
	}
	if got := strings.Join(st.kinds(), " "); got != "hb hb hb tap0" {
		t.Errorf("sent %s", got)
	}
}

// Control messages queued while a bulk message is in Send go before the
// bulk messages queued earlier; bulk ones keep their order, and a sender
// waits while the bulk queue is full.
func TestWriterControlFirst(t *testing.T) {
	st := newGatedStream(true)
	v := testVEMSession(t, st)
	ctx := context.Background()
	bind := func(name string) *PortBinding {
		return &PortBinding{Interface: name, Veth: 1, Segment: "web", Profile: "default", DynamicProfile: "vnn1"}
	}
	if err := v.SendBinding(ctx, bind("b0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b0 to leave the queue", func() bool {
		v.s.wmu.Lock()
		defer v.s.wmu.Unlock()
		return len(v.s.bulk) == 0
	})
	// b0 is in Send: fill the bulk queue, then one more that must wait.
	for i := 1; i <= bulkQueue; i++ {
		if err := v.SendBinding(ctx, bind("b"+string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- v.SendBinding(ctx, bind("last")) }()
	select {
	case err := <-waited:
		t.Fatalf("a bulk send past a full queue returned at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	for range 2 {
		if err := v.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}); err != nil {
			t.Fatal(err)
		}
	}
	for range bulkQueue + 4 {
		st.gate <- struct{}{}
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer to leave", func() bool { return !v.s.writerRunning() })
	want := "b0 hb hb b1 b2 b3 b4 b5 b6 b7 b8 last"
	if got := strings.Join(st.kinds(), " "); got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
}

// A full control queue refuses at once rather than waiting; an ended
// session refuses every send and starts no writer, and waitWriter returns
// once a writer blocked in Send has left.
func TestWriterQueueFullAndEnd(t *testing.T) {
	st := newGatedStream(true)
	v := testVEMSession(t, st)
	hb := func() error {
		return v.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE})
	}
	// One in Send, controlQueue waiting.
	if err := hb(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first heartbeat in Send", func() bool {
		v.s.wmu.Lock()
		defer v.s.wmu.Unlock()
		return v.s.writer != nil && len(v.s.control) == 0
	})
	for range controlQueue {
		if err := hb(); err != nil {
			t.Fatal(err)
		}
	}
	if err := hb(); !errors.Is(err, ErrBusy) {
		t.Fatalf("heartbeat past a full queue: %v, want ErrBusy", err)
	}
	v.s.fail(nil)
	close(st.closed) // the transport ends the blocked Send
	if !v.s.waitWriter() {
		t.Fatal("the writer did not leave after the session ended")
	}
	if err := hb(); !errors.Is(err, ErrClosed) {
		t.Errorf("heartbeat after the end: %v, want ErrClosed", err)
	}
	if err := v.SendBinding(context.Background(), &PortBinding{Interface: "tap0", Veth: 1, Segment: "web", Profile: "default", DynamicProfile: "vnn1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("binding after the end: %v, want ErrClosed", err)
	}
	if v.s.writerRunning() {
		t.Error("a writer started after the end")
	}
}

// A failed Send ends the session with its error, and the writer leaves.
func TestWriterSendError(t *testing.T) {
	st := newGatedStream(false)
	st.fail = errors.New("broken pipe")
	v := testVEMSession(t, st)
	if err := v.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	waitErr(t, v.Done(), v.Err)
	waitFor(t, "the writer to leave", func() bool { return !v.s.writerRunning() })
}

// countGoroutines counts the goroutines whose stack holds fn.
func countGoroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// An idle VSM session over real gRPC holds, of the protocol's own, only
// its reader and Serve on the stream's handler: no parked writer and no
// goroutine that only waits for Serve.
func TestIdleSessionGoroutines(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	const n = 3
	var vs []*VEMSession
	for i := range n {
		dial(t, ts.addr, clientConfig(t, p.dir, "hv"+string(rune('1'+i))))
		vs = append(vs, ts.session(t))
	}
	for _, v := range vs {
		if err := v.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range vs {
		waitFor(t, "the writers to leave", func() bool { return !v.s.writerRunning() })
	}
	// Earlier tests' sessions may still be leaving: wait for the counts.
	var writers, readers, connects int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		writers = countGoroutines("protocol.(*session).write(")
		readers = countGoroutines("protocol.(*session).read(") // the clients' too
		connects = countGoroutines("protocol.(*Server).Connect")
		if writers == 0 && readers == 2*n && connects == n || time.Now().After(deadline) {
			break
		}
	}
	if writers != 0 {
		t.Errorf("%d writers parked with nothing to send", writers)
	}
	if readers != 2*n {
		t.Errorf("%d readers for %d sessions at both ends, want %d", readers, n, 2*n)
	}
	if connects != n {
		t.Errorf("%d goroutines in Connect for %d sessions, want %d (Serve on the handler)", connects, n, n)
	}
}
