package lacp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// newNetNS creates a network namespace for the test and returns its name;
// it is deleted, with the links in it, when the test ends.
func newNetNS(t *testing.T, tag string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	name := fmt.Sprintf("vemlacp-%s-%d", tag, os.Getpid())
	ip(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// vethPair creates a veth pair between two namespaces, both ends up.
func vethPair(t *testing.T, nsA, a, nsB, b string) {
	t.Helper()
	ip(t, "-n", nsA, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nsB)
	ip(t, "-n", nsA, "link", "set", a, "up")
	ip(t, "-n", nsB, "link", "set", b, "up")
}

// listenIn opens a Conn on ifname in namespace ns.
func listenIn(t *testing.T, ns, ifname string) *Conn {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var c *Conn
	if err := inNetNS(&h, func() (err error) { c, err = Listen(ifname); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConn(t *testing.T) {
	nsA, nsB := newNetNS(t, "ca"), newNetNS(t, "cb")
	vethPair(t, nsA, "pa", nsB, "pb")
	a, b := listenIn(t, nsA, "pa"), listenIn(t, nsB, "pb")

	payload := testPDU().Marshal()
	if err := a.Write(payload); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	if err := b.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := b.ReadFrame(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := AppendFrame(nil, a.MAC(), payload)
	if !bytes.Equal(buf[:n], want) {
		t.Errorf("received\n%x\nwant\n%x", buf[:n], want)
	}
	// The sender does not hear itself.
	if err := a.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := a.ReadFrame(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("sender read %d bytes, %v; want a timeout", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadFrame(buf); err == nil {
		t.Error("ReadFrame after Close succeeded")
	}
}

// memberLog records the member sets a Runner reports.
type memberLog struct {
	mu   sync.Mutex
	last []string
}

func (m *memberLog) set(s []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = s
}

func (m *memberLog) get() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// waitFor polls cond every 20 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunner runs a Runner at each end of two veth pairs between two
// namespaces: the members bundle, a link taken down leaves the bundle at
// once (without waiting for the 3 s timeout) and rejoins when back up.
func TestRunner(t *testing.T) {
	nsA, nsB := newNetNS(t, "ra"), newNetNS(t, "rb")
	vethPair(t, nsA, "a1", nsB, "b1")
	vethPair(t, nsA, "a2", nsB, "b2")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	logs := map[string]*memberLog{}
	runners := map[string]*Runner{}
	for _, side := range []struct{ ns, prefix string }{{nsA, "a"}, {nsB, "b"}} {
		cfg := testConfig(side.prefix[0], 0)
		cfg.Name = "po-" + side.prefix
		cfg.WaitWhile = 200 * time.Millisecond
		// The third member does not exist yet.
		for i := 1; i <= 3; i++ {
			cfg.Ports = append(cfg.Ports, PortConfig{Name: fmt.Sprintf("%s%d", side.prefix, i), Number: uint16(i), Priority: DefaultPortPriority})
		}
		log := &memberLog{}
		cfg.OnMembers = log.set
		r, err := NewRunner(cfg, RunnerOptions{NetNS: "/run/netns/" + side.ns})
		if err != nil {
			t.Fatal(err)
		}
		logs[side.prefix], runners[side.prefix] = log, r
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	members := func(side string, want ...string) func() bool {
		return func() bool { return slices.Equal(logs[side].get(), want) }
	}

	waitFor(t, 5*time.Second, "both members bundled", func() bool {
		return members("a", "a1", "a2")() && members("b", "b1", "b2")()
	})
	st := runners["a"].Status()
	if st.Partner != runners["b"].Aggregator().cfg.System || !st.Up {
		t.Errorf("A status partner %v up %v", st.Partner, st.Up)
	}

	// A malformed LACPDU from b1 is counted by a1, which stays bundled.
	c := listenIn(t, nsB, "b1")
	if err := c.Write([]byte{SubtypeLACP, Version, 7}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "malformed PDU counted", func() bool {
		return runners["a"].Status().Ports[0].Counters.MalformedRx == 1
	})

	start := time.Now()
	ip(t, "-n", nsA, "link", "set", "a2", "down")
	waitFor(t, 2*time.Second, "a2 and b2 to leave", func() bool {
		return members("a", "a1")() && members("b", "b1")()
	})
	if d := time.Since(start); d >= ShortTimeoutTime {
		t.Errorf("took %v to drop the member: the timeout did it, not the carrier", d)
	}
	if p := runners["a"].Status().Ports[1]; p.State != PortDown {
		t.Errorf("a2 state %s, want down", p.State)
	}

	ip(t, "-n", nsA, "link", "set", "a2", "up")
	waitFor(t, 5*time.Second, "a2 and b2 to rejoin", func() bool {
		return members("a", "a1", "a2")() && members("b", "b1", "b2")()
	})

	// A member created late joins; once deleted, it leaves.
	vethPair(t, nsA, "a3", nsB, "b3")
	waitFor(t, 5*time.Second, "a3 and b3 to join", func() bool {
		return members("a", "a1", "a2", "a3")() && members("b", "b1", "b2", "b3")()
	})
	ip(t, "-n", nsA, "link", "del", "a3")
	waitFor(t, 2*time.Second, "a3 and b3 to leave", func() bool {
		return members("a", "a1", "a2")() && members("b", "b1", "b2")()
	})
	// Re-created, it has a new ifindex and needs a new socket.
	vethPair(t, nsA, "a3", nsB, "b3")
	waitFor(t, 5*time.Second, "a3 and b3 to rejoin", func() bool {
		return members("a", "a1", "a2", "a3")() && members("b", "b1", "b2", "b3")()
	})

	if err := runners["a"].Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestRunnerResume starts a Runner from a checkpoint with one member's link
// down: it reports both members at once, drops the down one as soon as it
// sees the link, and sends its first PDU on the other, claiming the bundle,
// as soon as the socket is open.
func TestRunnerResume(t *testing.T) {
	nsA, nsB := newNetNS(t, "sa"), newNetNS(t, "sb")
	vethPair(t, nsA, "a1", nsB, "b1")
	vethPair(t, nsA, "a2", nsB, "b2")
	ip(t, "-n", nsA, "link", "set", "a2", "down")
	b1 := listenIn(t, nsB, "b1")

	cfg := testConfig('a', 0)
	partner := testConfig('b', 0).System
	cp := Checkpoint{Version: CheckpointVersion, System: cfg.System, Key: cfg.Key, Partner: partner, PartnerKey: 1}
	for i, name := range []string{"a1", "a2"} {
		id := PortID{DefaultPortPriority, uint16(i + 1)}
		cfg.Ports = append(cfg.Ports, PortConfig{Name: name, Number: id.Number, Priority: id.Priority})
		cp.Ports = append(cp.Ports, PortCheckpoint{
			Name: name, Port: id, Key: cfg.Key, Receive: "CURRENT", Selected: true, Attached: true, CollectingDistributing: true,
			Partner: Info{System: partner, Key: 1, Port: id, State: StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing},
		})
	}
	cfg.Resume = &cp
	var log memberLog
	cfg.OnMembers = log.set
	r, err := NewRunner(cfg, RunnerOptions{NetNS: "/run/netns/" + nsA})
	if err != nil {
		t.Fatal(err)
	}
	if got := log.get(); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("members after NewRunner %v, want both from the checkpoint", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	if err := b1.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := b1.ReadFrame(buf)
	if err != nil {
		t.Fatalf("no PDU on a1 within 500 ms of the start: %v", err)
	}
	pdu, err := UnmarshalFrame(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if pdu.Actor.State.String() != "ATGSCD.." || pdu.Partner != cp.Ports[0].Partner {
		t.Errorf("first PDU actor %s partner %+v; want ATGSCD.. and the checkpoint's partner", pdu.Actor.State, pdu.Partner)
	}
	t.Logf("first PDU on a1 %v after Run", time.Since(start).Round(time.Millisecond))
	waitFor(t, time.Second, "a2, found down, to leave", func() bool { return slices.Equal(log.get(), []string{"a1"}) })
	if d := time.Since(start); d >= ShortTimeoutTime {
		t.Errorf("a2 left after %v: the timeout did it, not the link state", d)
	}
}
