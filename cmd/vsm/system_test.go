package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/store"
)

// serveRedundancy runs an API whose redundancy status is st and whose
// switchover answers err.
func serveRedundancy(t *testing.T, st ha.Status, err error) string {
	t.Helper()
	dir := t.TempDir()
	s, e := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if e != nil {
		t.Fatal(e)
	}
	info := api.Info{Name: "vsm-a", Redundancy: func() ha.Status { return st }, Switchover: func() error { return err },
		SetRole: func(r config.Role) (api.RoleResponse, error) {
			return api.RoleResponse{Role: config.RolePrimary, NextBoot: r, Message: "the role takes effect at the next boot"}, nil
		}}
	srv := httptest.NewServer(api.NewServer(s, info, nil))
	t.Cleanup(func() {
		srv.Close()
		_ = s.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestShowSystemRedundancyStatus(t *testing.T) {
	st := ha.Status{Role: config.RolePrimary, State: ha.Active, InternalState: ha.InternalActiveHAStandby, Epoch: 4, Module: 1,
		Peer:       ha.PeerStatus{Name: "vsm-b", Role: "secondary", State: "standby", InternalState: ha.InternalHAStandby},
		Collisions: []ha.Collision{}}
	addr := serveRedundancy(t, st, nil)
	code, out, errs := vsmCmd(t, "show", "system", "redundancy", "status", "--api", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"administrative:   primary", "Redundancy state:   Active", "Internal state:   Active with HA standby",
		"Other supervisor (vsm-b)", "Internal state:   HA standby", "Epoch:   4", "operational:   HA"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	code, out, errs = vsmCmd(t, "show", "system", "redundancy", "status", "--api", addr, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var v struct {
		Role, State, InternalState string
		Peer                       struct{ Name, Role, State string }
		Epoch                      uint64
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Role != "primary" || v.State != "active" || v.InternalState != "Active with HA standby" || v.Peer.Name != "vsm-b" ||
		v.Peer.Role != "secondary" || v.Peer.State != "standby" || v.Epoch != 4 {
		t.Fatalf("json %+v from %s", v, out)
	}
}

func TestSystemSwitchoverAndRole(t *testing.T) {
	addr := serveRedundancy(t, ha.Status{}, ha.ErrStandbyNotReady)
	code, _, errs := vsmCmd(t, "system", "switchover", "--api", addr)
	if code != 1 || !strings.Contains(errs, "Failed to switchover (standby not ready to takeover)") {
		t.Fatalf("switchover: exit %d, %s", code, errs)
	}
	ok := serveRedundancy(t, ha.Status{}, nil)
	if code, out, errs := vsmCmd(t, "system", "switchover", "--api", ok); code != 0 || !strings.Contains(out, "switchover started") {
		t.Fatalf("switchover: exit %d, %s%s", code, out, errs)
	}
	code, out, errs := vsmCmd(t, "system", "redundancy", "role", "secondary", "--api", ok)
	if code != 0 || !strings.Contains(out, "role secondary (now primary): the role takes effect at the next boot") {
		t.Fatalf("role: exit %d, %s%s", code, out, errs)
	}
	if code, _, errs := vsmCmd(t, "system", "redundancy", "role", "master", "--api", ok); code != 1 || !strings.Contains(errs, "invalid role") {
		t.Fatalf("role master: exit %d, %s", code, errs)
	}
}
