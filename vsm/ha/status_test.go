package ha

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/vsm/config"
)

func TestStatusJSON(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	raw, err := json.Marshal(a.node.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"role": "primary", "state": "active", "internalState": "Active with HA standby", "epoch": 1.0,
		"peer":   map[string]any{"name": "b", "role": "secondary", "state": "standby", "internalState": "HA standby"},
		"module": 1.0, "degraded": false, "collisions": []any{}, "collisionsOverwritten": 0.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status\n%s\nwant\n%v", raw, want)
	}
	st := b.node.Status()
	if st.Module != 2 || st.Peer.InternalState != InternalActiveHAStandby {
		t.Errorf("secondary status %+v", st)
	}
}

func TestInternalState(t *testing.T) {
	standby := func(stable bool) peerView {
		return peerView{present: true, hb: Heartbeat{State: Standby, Stable: stable}}
	}
	for _, tc := range []struct {
		state  State
		stable bool
		peer   peerView
		want   string
	}{
		{Initializing, false, peerView{}, "Initializing"},
		{Active, false, peerView{}, "Active with no standby"},
		{Active, false, peerView{hb: Heartbeat{State: Standby, Stable: true}}, "Active with no standby"},
		{Active, false, standby(true), "Active with HA standby"},
		{Active, false, standby(false), "Active with cold standby"},
		{Active, false, peerView{present: true, hb: Heartbeat{State: Active}}, "Active with no standby"},
		{Standby, true, peerView{}, "HA standby"},
		{Standby, false, peerView{}, "Cold standby"},
	} {
		if got := internalState(tc.state, tc.stable, tc.peer); got != tc.want {
			t.Errorf("internalState(%s, %v, %+v) = %q, want %q", tc.state, tc.stable, tc.peer, got, tc.want)
		}
	}
}

func TestConfig(t *testing.T) {
	ok := Config{Name: "a", Domain: 100}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"domain 0", func(c *Config) { c.Domain = 0 }, "domain 0"},
		{"domain 4096", func(c *Config) { c.Domain = 4096 }, "domain 4096"},
		{"bad role", func(c *Config) { c.Role = "tertiary" }, `role "tertiary"`},
		{"loss 5s", func(c *Config) { c.HeartbeatLossInterval = 5 * time.Second }, "heartbeat loss interval 5s"},
		{"loss 31s", func(c *Config) { c.HeartbeatLossInterval = 31 * time.Second }, "heartbeat loss interval 31s"},
		{"loss 6s", func(c *Config) { c.HeartbeatLossInterval = 6 * time.Second }, ""},
		{"loss 30s", func(c *Config) { c.HeartbeatLossInterval = 30 * time.Second }, ""},
		{"negative window", func(c *Config) { c.DiscoveryWindow = -time.Second }, "discovery window -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			n, err := New(cfg, clocktest.NewFake(time.Unix(0, 0)), nil)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "defaults" && (n.cfg.Role != config.RoleStandalone || n.cfg.HeartbeatInterval != time.Second ||
					n.cfg.HeartbeatLossInterval != 15*time.Second || n.cfg.SwitchoverTimeout != 28*time.Second ||
					n.cfg.CollisionExpiry != time.Hour) {
					t.Errorf("defaults %+v", n.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestStopSilences(t *testing.T) {
	s := newSim(t)
	a := s.add(Config{Name: "a", Role: config.RolePrimary})
	a.node.Start()
	s.advance(2 * time.Second)
	a.node.Stop()
	sent := a.sent[Control]
	s.advance(10 * time.Second)
	if a.sent[Control] != sent || s.clk.Pending() != 0 {
		t.Errorf("sent %d more, %d timers pending after Stop", a.sent[Control]-sent, s.clk.Pending())
	}
	s.wantState(a, Initializing, InternalInitializing)
}
