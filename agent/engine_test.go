package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
)

// vxlanYAML has a VXLAN segment whose VTEP is on eth1 over a static
// port-channel; the uplink forwards IPv4 for it.
const vxlanYAML = `
host: hv1
uplink: po1
vtep: {address: 198.51.100.1}
portChannels:
  - {name: po1, mode: lacp-active, members: [{interface: eth1}, {interface: eth2}]}
segments:
  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2]}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: db}
`

// TestRefusedStateTouchesNothing: a file refused late (the VTEP not on
// the new uplink) neither stops the port-channel nor writes anything.
func TestRefusedStateTouchesNothing(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, vxlanYAML)
	channel := a.e.uplink
	if channel == nil {
		t.Fatal("no port-channel after the first apply")
	}
	dp.writes = nil
	// po1 replaced by eth2, which does not hold the VTEP address.
	bad := mustParse(t, strings.Replace(vxlanYAML, "uplink: po1", "uplink: eth2", 1))
	bad.PortChannels = nil
	err := a.e.Apply(context.Background(), Desired{Switch: bad})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "198.51.100.1") {
		t.Fatalf("Apply = %v, want refused naming the VTEP", err)
	}
	if a.e.uplink != channel {
		t.Error("the port-channel was stopped or recreated for a refused state")
	}
	if len(dp.writes) != 0 {
		t.Errorf("a refused state wrote %v", dp.writes)
	}
	if st := a.e.Status(); st.State != EngineCurrent {
		t.Errorf("engine state %q after a refusal, want current", st.State)
	}
}

// TestWriteFailureRollsBack: a failure part-way writes the previous state
// back, and the engine says so.
func TestWriteFailureRollsBack(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	before := a.e.view()
	a.fwd.fail = errors.New("read-only /proc")
	err := a.e.Apply(context.Background(), Desired{Switch: mustParse(t, strings.Replace(vxlanYAML, "tap-a", "tap-d", 1))})
	if err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("Apply = %v, want a write failure", err)
	}
	st := a.e.Status()
	if st.State != EngineRolledBack || st.Err == nil {
		t.Errorf("status %+v, want rolled-back with the error", st)
	}
	if _, ok := dp.ports[13]; ok {
		t.Error("tap-d of the failed state is still in the datapath")
	}
	if _, ok := dp.ports[12]; !ok {
		t.Error("tap-a of the previous state is not in the datapath")
	}
	if v := a.e.view(); v.sw != before.sw {
		t.Error("the view does not show the previous state")
	}
}

// TestRollbackFailureRetries: when writing the previous state back fails
// too, the engine retries it until the datapath converges.
func TestRollbackFailureRetries(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	// tap-c's entry vanished behind the agent's back, and cannot be
	// written: both the new state and the previous one need it.
	delete(dp.ports, 10)
	dp.setPortErr, dp.setPortErrOn = errors.New("map full"), 10
	err := a.e.Apply(context.Background(), Desired{Switch: mustParse(t, strings.Replace(localYAML, "segment: blue", "segment: red", 1))})
	if err == nil {
		t.Fatal("Apply succeeded with SetPort failing")
	}
	if st := a.e.Status(); st.State != EngineRetrying {
		t.Fatalf("status %q, want retrying", st.State)
	}
	if a.e.Retry() {
		t.Fatal("Retry converged with SetPort still failing")
	}
	if st := a.e.Status(); st.Attempts != 1 {
		t.Errorf("attempts %d, want 1", st.Attempts)
	}
	dp.setPortErr = nil
	if !a.e.Retry() {
		t.Fatal("Retry did not converge")
	}
	if st := a.e.Status(); st.State != EngineCurrent {
		t.Errorf("status %q after converging, want current", st.State)
	}
	if p := dp.ports[10]; p.Segment != segmentIDs(mustParse(t, localYAML), nil)["blue"] {
		t.Errorf("tap-c on segment %#x, want the previous state's blue", p.Segment)
	}
}

// TestResyncRepairsDrift: entries changed behind the agent's back come
// back on the next resync, which counts them; a clean datapath costs no
// write.
func TestResyncRepairsDrift(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, fullYAML)
	if n, err := a.e.Resync(); err != nil || n != 0 {
		t.Fatalf("resync of a clean datapath: %d writes, %v", n, err)
	}
	delete(dp.ports, 12)  // tap-a's entry deleted with bpftool
	delete(dp.vlans, 100) // a VLAN mapping zeroed
	delete(dp.links, 11)  // tap-b's tcx link unpinned
	delete(dp.vnis, 5001) // the VNI mapping deleted
	for k := range dp.statics {
		delete(dp.statics, k) // tap-a's static MAC
	}
	n, err := a.e.Resync()
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("resync wrote %d times, want 5: %v", n, dp.writes)
	}
	if _, ok := dp.ports[12]; !ok {
		t.Error("tap-a's port entry not repaired")
	}
	if dp.vlans[100] == 0 || dp.vnis[5001] == 0 || len(dp.statics) != 1 {
		t.Errorf("VLAN %d, VNI %d, %d statics after repair", dp.vlans[100], dp.vnis[5001], len(dp.statics))
	}
	if _, ok := dp.links[11]; !ok {
		t.Error("tap-b's link not attached again")
	}
	if st := a.e.Status(); st.DriftRepairs != 5 || st.LastResync.IsZero() {
		t.Errorf("status %+v, want 5 repairs counted", st)
	}
}

// TestForwardingFollowsTheVTEP: forwarding the engine turned on goes off
// again when the last VXLAN segment goes; forwarding that was on before
// is left alone.
func TestForwardingFollowsTheVTEP(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, vxlanYAML)
	if !a.fwd.on["eth1"] {
		t.Fatal("forwarding not on for the VTEP's uplink")
	}
	a.apply(t, localYAML)
	if a.fwd.on["eth1"] {
		t.Error("forwarding still on after the last VXLAN segment went")
	}

	b := newTestAgent(t, newFakeDatapath())
	b.fwd.on["eth1"] = true // the operator's
	b.apply(t, vxlanYAML)
	b.apply(t, localYAML)
	if !b.fwd.on["eth1"] {
		t.Error("forwarding the engine did not turn on was turned off")
	}
}

// TestLocalSegmentIDsStayPut: adding a local segment whose hash collides
// with a running one's does not renumber the running one.
func TestLocalSegmentIDsStayPut(t *testing.T) {
	first, second := collidingNames(t)
	if first > second {
		first, second = second, first
	}
	// second sorts after first: alone, it takes the hashed ID; with
	// first present and no history, first would take it.
	one := mustParse(t, fmt.Sprintf("host: hv1\nsegments: [{name: %s, type: local}]\n", second))
	ids := segmentIDs(one, nil)
	both := mustParse(t, fmt.Sprintf("host: hv1\nsegments: [{name: %s, type: local}, {name: %s, type: local}]\n", first, second))
	if fresh := segmentIDs(both, nil); fresh[second] == ids[second] {
		t.Fatalf("names %q and %q do not exercise the collision", first, second)
	}
	kept := segmentIDs(both, ids)
	if kept[second] != ids[second] {
		t.Errorf("%s renumbered from %#x to %#x when %s was added", second, ids[second], kept[second], first)
	}
	if kept[first] == kept[second] {
		t.Errorf("both segments have ID %#x", kept[first])
	}
}

// TestOrphanedAndAbsentPortsAreStates: an attached port whose segment
// left the configuration, and a configured port whose interface does not
// exist, are states, not errors.
func TestOrphanedAndAbsentPortsAreStates(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	cfg := mustParse(t, localYAML+`  - {interface: tap-gone, mac: "52:54:00:00:00:99", segment: red}`+"\n")
	attached := []spec.Port{
		{Interface: "tap-d", MAC: "52:54:00:00:00:0d", Segment: "green"},
		{Interface: "tap-e", MAC: "52:54:00:00:00:0e", Segment: "red", Profile: "gold"},
	}
	if err := a.e.Apply(context.Background(), Desired{Switch: cfg, Attached: attached}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	v := a.e.view()
	if len(v.orphans) != 2 || !strings.Contains(v.orphans[0].Reason, "green") || !strings.Contains(v.orphans[1].Reason, "gold") {
		t.Errorf("orphans %+v, want tap-d (segment green) and tap-e (profile gold)", v.orphans)
	}
	if len(v.plan.absent) != 1 || v.plan.absent[0].Iface != "tap-gone" {
		t.Errorf("absent %+v, want tap-gone", v.plan.absent)
	}
	if _, ok := dp.ports[13]; ok {
		t.Error("the orphaned tap-d is in the datapath")
	}
}

// TestHostInterfacesAreNoVEths: the loopback, a physical NIC and an
// interface holding addresses are refused as vEths.
func TestHostInterfacesAreNoVEths(t *testing.T) {
	links := fakeLinks{
		"lo":    {Index: 1, Loopback: true, Kind: "device"},
		"eno1":  {Index: 5, Kind: "device"},
		"mgmt0": {Index: 6, Kind: "veth", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}},
		"tap-a": {Index: 12, Kind: "tuntap"},
	}
	for _, iface := range []string{"lo", "eno1", "mgmt0"} {
		t.Run(iface, func(t *testing.T) {
			dp := newFakeDatapath()
			a := newTestAgent(t, dp)
			a.links = links
			a.restart()
			cfg := mustParse(t, fmt.Sprintf("host: hv1\nsegments: [{name: lab, type: local}]\nports: [{interface: %s, mac: \"52:54:00:00:00:01\", segment: lab}]\n", iface))
			err := a.e.Apply(context.Background(), Desired{Switch: cfg})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), iface) {
				t.Errorf("Apply = %v, want refused naming %s", err, iface)
			}
		})
	}
}

// TestViewsDoNotWaitForTheEngine: show commands read a snapshot, so a
// long apply does not stall them (nor they it).
func TestViewsDoNotWaitForTheEngine(t *testing.T) {
	dp := newFakeDatapath()
	ta := newTestAgent(t, dp)
	ta.apply(t, localYAML)
	ag := &Agent{engine: ta.e, cfg0: mustParse(t, localYAML)}
	ta.e.mu.Lock()
	defer ta.e.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan error, 1)
	go func() {
		defer wg.Done()
		ports, err := ag.Ports(context.Background())
		if err == nil && len(ports) != 3 {
			err = fmt.Errorf("%d ports, want 3", len(ports))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("show ports waited for the engine's lock")
	}
	wg.Wait()
}
