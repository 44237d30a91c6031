package portchannel

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
)

// netTest is a topology with Channels running in it until the test ends.
type netTest struct {
	t      *testing.T
	tp     *topo.Topology
	ctx    context.Context
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func newNetTest(t *testing.T) *netTest {
	topo.RequireRoot(t)
	n := &netTest{t: t, tp: topo.ForTest(t)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	// Registered after the topology, so it runs first: the Channels stop
	// before their namespaces go.
	t.Cleanup(func() {
		n.cancel()
		n.wg.Wait()
	})
	return n
}

func (n *netTest) ns(name string) *topo.NS {
	n.t.Helper()
	ns, err := n.tp.NS(name)
	if err != nil {
		n.t.Fatal(err)
	}
	return ns
}

func (n *netTest) veth(a *topo.NS, aName string, b *topo.NS, bName string) {
	n.t.Helper()
	if err := n.tp.Veth(a, aName, b, bName); err != nil {
		n.t.Fatal(err)
	}
}

// run runs c until the test ends, on a thread in ns if ns is not nil.
func (n *netTest) run(c *Channel, ns *topo.NS) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		run := func() error { return c.Run(n.ctx) }
		if ns != nil {
			run = func() error { return ns.Do(func() error { return c.Run(n.ctx) }) }
		}
		if err := run(); err != nil {
			n.t.Errorf("Run: %v", err)
		}
	}()
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitState polls until every Channel's State satisfies its check, failing
// the test if that takes longer than limit from start; it logs and returns
// the time taken.
func waitState(t *testing.T, start time.Time, limit time.Duration, what string, checks map[*Channel]func(State) bool) time.Duration {
	t.Helper()
	for {
		done := true
		for c, ok := range checks {
			if !ok(c.State()) {
				done = false
			}
		}
		took := time.Since(start)
		if done {
			t.Logf("%s after %v", what, took.Round(100*time.Microsecond))
			return took
		}
		if took > limit {
			var got []string
			for c := range checks {
				st := c.State()
				got = append(got, c.name+": "+strings.Join(st.Distributing, ",")+" "+formatPins(st.Pins))
			}
			t.Fatalf("no %s within %v: %s", what, limit, strings.Join(got, "; "))
		}
		time.Sleep(time.Millisecond)
	}
}

// linkwatchDelay is how long the kernel may hold a carrier change of a
// link whose ifindex equals its iflink (a physical NIC, or a veth whose
// peer has the same index in its namespace) before notifying: linkwatch
// batches such "non-urgent" events to one run per second. Administrative
// up/down and urgent events are notified at once.
//
// Members' carrier is polled, so Run normally sees such a change within
// milliseconds; the limits the tests wait for still allow the delay, so
// that they bound liveness, not speed (the benchmarks measure that).
const linkwatchDelay = time.Second

func distributing(names ...string) func(State) bool {
	return func(s State) bool {
		return slices.Equal(s.Distributing, names) && slices.Equal(s.Collecting, names)
	}
}

func pinned(desc string) func(State) bool {
	want := pinsOf(desc)
	return func(s State) bool { return maps.Equal(s.Pins, want) }
}

// TestRunLACP bundles two links between two namespaces with a Channel at
// each end, then takes one down and sees it leave both ends at once.
func TestRunLACP(t *testing.T) {
	n := newNetTest(t)
	nsA, nsB := n.ns("a"), n.ns("b")
	n.veth(nsA, "a1", nsB, "b1")
	n.veth(nsA, "a2", nsB, "b2")

	newSide := func(mac byte, ns *topo.NS, names ...string) *Channel {
		cfg := lacpTestConfig(mac, names...)
		cfg.Name, cfg.NetNS, cfg.Logger = "po-"+names[0][:1], ns.Path(), zaptest.NewLogger(t)
		c, err := New(cfg)
		must(t, err)
		n.run(c, nil)
		return c
	}
	a := newSide(0xa, nsA, "a1", "a2")
	b := newSide(0xb, nsB, "b1", "b2")

	waitState(t, time.Now(), 5*time.Second, "both members bundled at both ends", map[*Channel]func(State) bool{
		a: distributing("a1", "a2"), b: distributing("b1", "b2"),
	})
	sa, sb := a.Status(), b.Status()
	if !sa.Up || sa.LACP.Partner != sb.LACP.System || sb.LACP.Partner != sa.LACP.System {
		t.Errorf("A partner %v, B partner %v: want each other (%v, %v)", sa.LACP.Partner, sb.LACP.Partner, sb.LACP.System, sa.LACP.System)
	}
	for _, p := range sa.LACP.Ports {
		if p.Actor.State.String() != "ATGSCD.." || p.Counters.PDUsRx == 0 || p.LastPDU.IsZero() {
			t.Errorf("A %s: actor %s, %d PDUs received: want ATGSCD.. and PDUs", p.Name, p.Actor.State, p.Counters.PDUsRx)
		}
	}

	start := time.Now()
	must(t, nsA.SetDown("a2"))
	// b2 only loses carrier, which linkwatch may hold back.
	waitState(t, start, linkwatchDelay+500*time.Millisecond, "a2 and b2 out of the bundle", map[*Channel]func(State) bool{
		a: distributing("a1"), b: distributing("b1"),
	})
	if st := a.Status().Members[1]; st.Status != "down" || st.Active {
		t.Errorf("a2 status %+v, want down, inactive", st)
	}

	start = time.Now()
	must(t, nsA.SetUp("a2"))
	waitState(t, start, 5*time.Second, "a2 and b2 back in the bundle", map[*Channel]func(State) bool{
		a: distributing("a1", "a2"), b: distributing("b1", "b2"),
	})
	if err := a.Run(n.ctx); err == nil {
		t.Error("second Run succeeded")
	}

	// Stopped, the Channels keep their last State: the datapath goes on
	// forwarding while the agent restarts.
	n.cancel()
	n.wg.Wait()
	if !distributing("a1", "a2")(a.State()) || !distributing("b1", "b2")(b.State()) {
		t.Errorf("after Run returned: A %+v, B %+v; want the last bundles", a.State(), b.State())
	}
}

// TestRunStatic watches carrier from inside the members' namespace (Run
// called on a thread there): links present at the start, links going down
// and up at either end, and a member created late and deleted.
func TestRunStatic(t *testing.T) {
	n := newNetTest(t)
	nsA, nsB := n.ns("a"), n.ns("b")
	// A pair inside b shifts b's ifindexes, so that no member has its
	// peer's index: its carrier changes are then urgent to linkwatch and
	// the test measures the watcher, not linkwatch's batching.
	n.veth(nsB, "p0", nsB, "p1")
	n.veth(nsA, "x1", nsB, "y1")
	n.veth(nsA, "x2", nsB, "y2")
	c, err := New(Config{Name: "po1", Mode: spec.ModeStatic, Members: members(t, "x1 x2 x3"), Logger: zaptest.NewLogger(t)})
	must(t, err)
	n.run(c, nsA)
	step := func(what string, action func() error, check func(State) bool) {
		t.Helper()
		start := time.Now()
		must(t, action())
		waitState(t, start, time.Second, what, map[*Channel]func(State) bool{c: check})
	}
	none := func() error { return nil }

	step("the existing members", none, distributing("x1", "x2"))
	step("x2 out when its peer goes down", func() error { return nsB.SetDown("y2") }, distributing("x1"))
	step("x2 back", func() error { return nsB.SetUp("y2") }, distributing("x1", "x2"))
	step("x1 out when set down", func() error { return nsA.SetDown("x1") }, distributing("x2"))
	step("x3 in when created", func() error { return n.tp.Veth(nsA, "x3", nsB, "y3") }, distributing("x2", "x3"))
	step("x3 out when deleted", func() error {
		return nsA.Netlink(func(h *netlinkHandle) error { return deleteLink(h, "x3") })
	}, distributing("x2"))

	if err := c.Run(n.ctx); err == nil {
		t.Error("second Run succeeded")
	}
	if st := c.Status(); !st.Up || st.Members[1].Status != StatusOperational || st.Members[0].Status != StatusLinkDown {
		t.Errorf("status %+v: want up, x1 down, x2 operational", st)
	}
}

// TestRunMACPinning follows carrier through Config.NetNS and reads the
// carrier of a member that Reconfigure adds. Its veths have the same
// ifindex at both ends, like physical NICs, so linkwatch may hold a
// carrier change for up to a second.
func TestRunMACPinning(t *testing.T) {
	n := newNetTest(t)
	nsA, nsB := n.ns("a"), n.ns("b")
	n.veth(nsA, "x1", nsB, "y1")
	n.veth(nsA, "x2", nsB, "y2")
	cfg := Config{Name: "po1", Mode: spec.ModeMACPinning, Members: members(t, "x1:2"), AutoPriorityFailover: true,
		NetNS: nsA.Path(), Logger: zaptest.NewLogger(t)}
	c, err := New(cfg)
	must(t, err)
	c.SetVEths([]string{"v1", "v2"})
	n.run(c, nil)
	step := func(what string, limit time.Duration, action func() error, check func(State) bool) {
		t.Helper()
		start := time.Now()
		must(t, action())
		waitState(t, start, limit, what, map[*Channel]func(State) bool{c: check})
	}
	const limit = linkwatchDelay + 500*time.Millisecond

	step("vEths on x1", time.Second, func() error { return nil }, pinned("v1:x1 v2:x1"))
	cfg.Members = members(t, "x1:2 x2:1")
	step("vEths on the added better member", time.Second, func() error { return c.Reconfigure(cfg) }, pinned("v1:x2 v2:x2"))
	step("vEths back on x1 when x2 loses carrier", limit, func() error { return nsB.SetDown("y2") }, pinned("v1:x1 v2:x1"))
	step("vEths fail back to x2", limit, func() error { return nsB.SetUp("y2") }, pinned("v1:x2 v2:x2"))
	step("vEths on x1 when x2 is set down", time.Second, func() error { return nsA.SetDown("x2") }, pinned("v1:x1 v2:x1"))
}

func TestRunBadNamespace(t *testing.T) {
	for _, mode := range []spec.ChannelMode{spec.ModeStatic, spec.ModeLACPActive} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := lacpTestConfig(1, "x1")
			cfg.Mode, cfg.NetNS = mode, "/nonexistent/netns"
			c, err := New(cfg)
			must(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "po1") {
				t.Errorf("Run = %v, want an error naming the port-channel", err)
			}
		})
	}
}
