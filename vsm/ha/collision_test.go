package ha

import (
	"fmt"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// driver runs one Node on the fake clock with heartbeats fed by hand.
func driver(t *testing.T, cfg Config) (*simNet, *simNode) {
	t.Helper()
	s := newSim(t)
	sn := s.add(cfg)
	sn.node.Start()
	return s, sn
}

func collider(name string) Heartbeat {
	return Heartbeat{Name: name, Domain: 100, Role: config.RolePrimary, State: Active, Request: true}
}

func TestRoleCollisionTable(t *testing.T) {
	s, sn := driver(t, Config{Name: "a", Role: config.RolePrimary})
	n := sn.node
	// Nine colliding VSMs, a minute apart: the ninth overwrites the first.
	for i := 1; i <= 9; i++ {
		n.HandleHeartbeat(Path(i%2), collider(fmt.Sprintf("c%d", i)))
		s.advance(time.Minute)
	}
	st := n.Status()
	if len(st.Collisions) != MaxCollisions || st.CollisionsOverwritten != 1 {
		t.Fatalf("%d collisions, %d overwritten; want %d, 1", len(st.Collisions), st.CollisionsOverwritten, MaxCollisions)
	}
	if st.Collisions[0].Name != "c9" || st.Collisions[MaxCollisions-1].Name != "c2" {
		t.Errorf("collisions %v: want c9 (latest) .. c2, c1 overwritten", st.Collisions)
	}
	if got := len(sn.of(evCollision)); got != 9 {
		t.Errorf("%d reports, want 9", got)
	}
	// A repeated collision refreshes its entry without a new report.
	n.HandleHeartbeat(Control, collider("c2"))
	if got := len(sn.of(evCollision)); got != 9 {
		t.Errorf("%d reports after a repeat, want 9", got)
	}
	c2 := s.since()
	// An entry goes one hour after its latest collision: c3 was last seen
	// at 2 min, c2 refreshed now.
	s.advance(2*time.Minute + time.Hour - c2 - time.Millisecond)
	if !hasCollision(n, "c3") {
		t.Error("c3 gone before an hour")
	}
	s.advance(time.Millisecond)
	if hasCollision(n, "c3") {
		t.Error("c3 still listed an hour after its latest collision")
	}
	if !hasCollision(n, "c2") {
		t.Error("c2 gone although refreshed")
	}
	s.advance(time.Hour)
	if st := n.Status(); len(st.Collisions) != 0 {
		t.Errorf("collisions %v two hours on, want none", st.Collisions)
	}
	// The collisions took no part in negotiation.
	s.wantState(sn, Active, InternalActiveNoStandby)
}

func hasCollision(n *Node, name string) bool {
	for _, c := range n.Status().Collisions {
		if c.Name == name {
			return true
		}
	}
	return false
}

func TestRoleCollisionPair(t *testing.T) {
	s := newSim(t)
	a, b := s.pair(15 * time.Second)
	c := s.add(Config{Name: "c", Role: config.RolePrimary})
	c.node.Start()
	s.advance(10 * time.Second)
	for _, x := range []struct {
		sn   *simNode
		with string
	}{{a, "c"}, {c, "a"}} {
		ev := x.sn.of(evCollision)
		if len(ev) != 1 || ev[0].collision.Name != x.with || !ev[0].collision.Latest.Equal(s.start.Add(ev[0].at)) {
			t.Errorf("%s reported %v, want one collision with %s", x.sn.cfg.Name, ev, x.with)
		}
		if st := x.sn.node.Status(); len(st.Collisions) != 1 || st.Collisions[0].Name != x.with {
			t.Errorf("%s lists %v", x.sn.cfg.Name, st.Collisions)
		}
	}
	if ev := b.of(evCollision); len(ev) != 0 {
		t.Errorf("secondary reported %v", ev)
	}
	s.wantState(a, Active, InternalActiveHAStandby)
}

func TestIgnoredHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name string
		hb   Heartbeat
	}{
		{"other domain", Heartbeat{Name: "b", Domain: 101, Role: config.RoleSecondary, State: Active, Epoch: 9, Request: true}},
		{"own name", Heartbeat{Name: "a", Domain: 100, Role: config.RoleSecondary, State: Active, Epoch: 9, Request: true}},
		{"standalone sender", Heartbeat{Name: "b", Domain: 100, Role: config.RoleStandalone, State: Active, Epoch: 9, Request: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, sn := driver(t, Config{Name: "a", Role: config.RolePrimary})
			s.advance(time.Second)
			sent := sn.sent[Control]
			sn.node.HandleHeartbeat(Control, tc.hb)
			if sn.sent[Control] != sent {
				t.Error("answered")
			}
			s.advance(5 * time.Second)
			s.wantState(sn, Active, InternalActiveNoStandby)
			if e := sn.node.Epoch(); e != 1 {
				t.Errorf("epoch %d, want 1", e)
			}
		})
	}
}
