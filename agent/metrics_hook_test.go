package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/metrics"
	"github.com/vem-switch/vem/spec"
)

// TestEngineReportsReconciles: every apply, refusal and resync reaches
// OnReconcile with its outcome and the state it leaves.
func TestEngineReportsReconciles(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	var got []metrics.Reconcile
	id, err := loadIdentity(a.dir + "/lacp-identity.json")
	if err != nil {
		t.Fatal(err)
	}
	a.e = NewEngine(EngineOptions{Datapath: a.dp, Links: a.links, Limits: spec.DefaultLimits, Forwarding: a.fwd,
		Identity: id, OnReconcile: func(r metrics.Reconcile) { got = append(got, r) }})
	a.apply(t, vxlanYAML)
	bad := mustParse(t, strings.Replace(vxlanYAML, "uplink: po1", "uplink: eth2", 1))
	bad.PortChannels = nil
	if err := a.e.Apply(context.Background(), Desired{Switch: bad}); err == nil {
		t.Fatal("a state with the VTEP off the uplink applied")
	}
	if _, err := a.e.Resync(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		op    string
		err   bool
		state string
	}{{metrics.OpApply, false, EngineCurrent}, {metrics.OpApply, true, EngineCurrent}, {metrics.OpResync, false, EngineCurrent}}
	if len(got) != len(want) {
		t.Fatalf("reported %+v, want %d operations", got, len(want))
	}
	for i, w := range want {
		if got[i].Operation != w.op || (got[i].Err != nil) != w.err || got[i].State != w.state || got[i].Took <= 0 {
			t.Errorf("operation %d = %+v, want %s (error %v) leaving %s", i, got[i], w.op, w.err, w.state)
		}
	}
}
