package api_test

import (
	"context"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

// TestDPARoute: GET /v1/dpa carries the backend's DPA status, and an
// empty VSM list as [] (scripts index it).
func TestDPARoute(t *testing.T) {
	b := &apitest.Backend{DPAInfo: api.DPA{Mode: "vsm", State: "attached", AttachedVSM: "vsm-a", Module: 3,
		VSMs: []api.DPAVSM{{Name: "vsm-a", Address: "203.0.113.1:7443", Role: "standalone", State: "active", Epoch: 1}}}}
	c := api.NewClient(apitest.Serve(t, b))
	d, err := c.DPA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Mode != "vsm" || d.State != "attached" || d.Module != 3 || len(d.VSMs) != 1 || d.VSMs[0].State != "active" {
		t.Errorf("DPA() = %+v", d)
	}
	b.DPAInfo = api.DPA{Mode: "standalone", State: "attached"}
	if d, err = c.DPA(context.Background()); err != nil || d.VSMs == nil || len(d.VSMs) != 0 {
		t.Errorf("DPA() = %+v, %v, want an empty VSM list", d, err)
	}
}
