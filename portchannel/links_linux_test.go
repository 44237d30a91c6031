package portchannel

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/internal/linkwatch"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
)

// watcher runs a linkwatch.Watcher of ns until the test ends.
func (n *netTest) watcher(ns *topo.NS) *linkwatch.Watcher {
	n.t.Helper()
	w, err := linkwatch.New(linkwatch.Options{NetNS: ns.Path(), OnError: func(err error) { n.t.Logf("link watch: %v", err) }})
	must(n.t, err)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := w.Run(n.ctx); err != nil {
			n.t.Errorf("watcher Run: %v", err)
		}
	}()
	return w
}

// TestRunSharedLinks runs a static, a mac-pinning and an LACP Channel on
// one shared Watcher (Config.Links) and takes a member they share down.
func TestRunSharedLinks(t *testing.T) {
	n := newNetTest(t)
	nsA, nsB := n.ns("a"), n.ns("b")
	n.veth(nsA, "x1", nsB, "y1")
	n.veth(nsA, "x2", nsB, "y2")
	links := n.watcher(nsA)

	static, err := New(Config{Name: "po1", Mode: spec.ModeStatic, Members: members(t, "x1 x2"),
		NetNS: nsA.Path(), Links: links, Logger: zaptest.NewLogger(t)})
	must(t, err)
	pinning, err := New(Config{Name: "po2", Mode: spec.ModeMACPinning, Members: members(t, "x2:1 x1:2"), AutoPriorityFailover: true,
		NetNS: nsA.Path(), Links: links, Logger: zaptest.NewLogger(t)})
	must(t, err)
	pinning.SetVEths([]string{"v1"})
	// LACP towards a private-watcher Channel in b.
	lacpA := lacpTestConfig(0xa, "x1", "x2")
	lacpA.Name, lacpA.NetNS, lacpA.Links, lacpA.Logger = "po3", nsA.Path(), links, zaptest.NewLogger(t)
	lacpB := lacpTestConfig(0xb, "y1", "y2")
	lacpB.Name, lacpB.NetNS, lacpB.Logger = "po4", nsB.Path(), zaptest.NewLogger(t)
	var lacps []*Channel
	for _, cfg := range []Config{lacpA, lacpB} {
		c, err := New(cfg)
		must(t, err)
		lacps = append(lacps, c)
	}
	for _, c := range append([]*Channel{static, pinning}, lacps...) {
		n.run(c, nil)
	}

	waitState(t, time.Now(), 5*time.Second, "both members in use", map[*Channel]func(State) bool{
		static: distributing("x1", "x2"), pinning: pinned("v1:x2"),
		lacps[0]: distributing("x1", "x2"), lacps[1]: distributing("y1", "y2"),
	})
	start := time.Now()
	must(t, nsB.SetDown("y2")) // x2 loses carrier only
	waitState(t, start, linkwatchDelay+500*time.Millisecond, "x2 out everywhere", map[*Channel]func(State) bool{
		static: distributing("x1"), pinning: pinned("v1:x1"),
		lacps[0]: distributing("x1"), lacps[1]: distributing("y1"),
	})
}
