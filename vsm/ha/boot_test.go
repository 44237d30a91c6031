package ha

import (
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

func TestBoot(t *testing.T) {
	type want struct {
		state    State
		internal string
	}
	for _, tc := range []struct {
		name   string
		roles  map[string]config.Role
		starts map[string]time.Duration // when each VSM boots
		want   map[string]want
	}{
		{
			name:   "standalone alone",
			roles:  map[string]config.Role{"a": config.RoleStandalone},
			starts: map[string]time.Duration{"a": 0},
			want:   map[string]want{"a": {Active, InternalActiveNoStandby}},
		},
		{
			name:   "primary alone",
			roles:  map[string]config.Role{"a": config.RolePrimary},
			starts: map[string]time.Duration{"a": 0},
			want:   map[string]want{"a": {Active, InternalActiveNoStandby}},
		},
		{
			name:   "secondary alone",
			roles:  map[string]config.Role{"b": config.RoleSecondary},
			starts: map[string]time.Duration{"b": 0},
			want:   map[string]want{"b": {Active, InternalActiveNoStandby}},
		},
		{
			name:   "primary first, then secondary",
			roles:  map[string]config.Role{"a": config.RolePrimary, "b": config.RoleSecondary},
			starts: map[string]time.Duration{"a": 0, "b": 10 * time.Second},
			want:   map[string]want{"a": {Active, InternalActiveHAStandby}, "b": {Standby, InternalHAStandby}},
		},
		{
			name:   "both at once",
			roles:  map[string]config.Role{"a": config.RolePrimary, "b": config.RoleSecondary},
			starts: map[string]time.Duration{"a": 0, "b": 0},
			want:   map[string]want{"a": {Active, InternalActiveHAStandby}, "b": {Standby, InternalHAStandby}},
		},
		{
			name:   "both at once, secondary's start first",
			roles:  map[string]config.Role{"a": config.RolePrimary, "b": config.RoleSecondary},
			starts: map[string]time.Duration{"b": 0, "a": 500 * time.Millisecond},
			want:   map[string]want{"a": {Active, InternalActiveHAStandby}, "b": {Standby, InternalHAStandby}},
		},
		{
			name:   "secondary first, then primary",
			roles:  map[string]config.Role{"a": config.RolePrimary, "b": config.RoleSecondary},
			starts: map[string]time.Duration{"b": 0, "a": 10 * time.Second},
			want:   map[string]want{"a": {Standby, InternalHAStandby}, "b": {Active, InternalActiveHAStandby}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			for name, role := range tc.roles {
				s.add(Config{Name: name, Role: role})
			}
			for name, at := range tc.starts {
				node := s.nodes[name].node
				s.clk.AfterFunc(at, node.Start)
			}
			s.advance(20 * time.Second)
			for name, w := range tc.want {
				s.wantState(s.nodes[name], w.state, w.internal)
			}
			// Exactly one VSM became active, once: epoch 1 everywhere.
			for name, sn := range s.nodes {
				if e := sn.node.Epoch(); e != 1 {
					t.Errorf("%s: epoch %d, want 1", name, e)
				}
				if sw := sn.of(evSwitch); len(sw) != 0 {
					t.Errorf("%s: switch requests at boot: %v", name, sw)
				}
			}
		})
	}
}

func TestBootWindow(t *testing.T) {
	s := newSim(t)
	a := s.add(Config{Name: "a", Role: config.RolePrimary})
	a.node.Start()
	s.advance(DefaultDiscoveryWindow - time.Millisecond)
	s.wantState(a, Initializing, InternalInitializing)
	s.advance(time.Millisecond)
	s.wantState(a, Active, InternalActiveNoStandby)
}

func TestStandaloneIgnoresPeers(t *testing.T) {
	s := newSim(t)
	a := s.add(Config{Name: "a", Role: config.RoleStandalone})
	b := s.add(Config{Name: "b", Role: config.RoleSecondary})
	a.node.Start()
	b.node.Start()
	s.advance(10 * time.Second)
	if a.sent[Control]+a.sent[Management] != 0 {
		t.Errorf("standalone sent %v heartbeats", a.sent)
	}
	s.wantState(a, Active, InternalActiveNoStandby)
	s.wantState(b, Active, InternalActiveNoStandby)
}
