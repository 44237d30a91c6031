package vems_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/vems"
)

// TestAttachSnapshot attaches a VEM: module 3, this VSM's name and epoch,
// and a snapshot of the store's network at its generation, which the VEM
// acknowledges.
func TestAttachSnapshot(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	res, err := v.store.Apply(network())
	if err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	a, cfg := hv1.attach()
	if a.GetModule() != 3 || a.GetName() != vsmA || a.GetEpoch() != 1 {
		t.Fatalf("accepted %v", a)
	}
	if cfg.Generation != res.Generation || len(cfg.Switch.Segments) != 2 || len(cfg.Switch.Profiles) != 1 || len(cfg.MACs) != 0 {
		t.Fatalf("snapshot %+v", cfg)
	}
	if cfg.Switch.Host != "hv1" || cfg.Switch.Uplink != "eth0" {
		t.Fatalf("host facts lost: %+v", cfg.Switch)
	}
	eventually(t, "module 3 ok with the snapshot acknowledged", func() bool {
		m := module(t, v.m, "hv1")
		return m.Module == 3 && m.Status == vems.StatusOK && m.AckedGeneration == res.Generation && m.VTEP == "198.51.100.1"
	})
}

// TestModuleStable checks a host keeps its module number across a
// reconnect and across a VSM restart, whatever order hosts come back in.
func TestModuleStable(t *testing.T) {
	p := newPKI(t)
	path := t.TempDir() + "/vsm.db"
	v := startVSM(t, p, path, vsmOptions{})
	want := map[string]uint32{"hv1": 3, "hv2": 4}
	for _, h := range []string{"hv1", "hv2"} {
		c := newVEM(t, p, v.addr, h, vemOptions{})
		if a, _ := c.attach(); a.GetModule() != want[h] {
			t.Fatalf("%s: module %d, want %d", h, a.GetModule(), want[h])
		}
		if h == "hv1" {
			_ = c.s.Close()
			eventually(t, "hv1 absent once its session is gone", func() bool {
				return module(t, v.m, "hv1").Status == vems.StatusAbsent
			})
		}
	}
	again := newVEM(t, p, v.addr, "hv1", vemOptions{})
	if a, _ := again.attach(); a.GetModule() != 3 {
		t.Fatalf("hv1 reconnected as module %d", a.GetModule())
	}
	v.stop()

	v = startVSM(t, p, path, vsmOptions{})
	for _, h := range []string{"hv2", "hv1", "hv3"} {
		c := newVEM(t, p, v.addr, h, vemOptions{})
		a, _ := c.attach()
		w, ok := want[h]
		if !ok {
			w = 5
		}
		if a.GetModule() != w {
			t.Fatalf("%s after restart: module %d, want %d", h, a.GetModule(), w)
		}
	}
}

// TestConfigUpdates changes the network in the store: the VEM gets the
// new generation, and its ACK and then a NACK (with the reason) show in
// Modules.
func TestConfigUpdates(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	if _, err := v.store.Apply(network()); err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{manual: true})
	_, cfg := hv1.attach()
	if err := hv1.s.Ack(cfg); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		segment spec.Segment
		nack    string
	}{
		{"ack", spec.Segment{Name: "app", Type: spec.SegmentVLAN, VLAN: 200}, ""},
		{"nack", spec.Segment{Name: "batch", Type: spec.SegmentVLAN, VLAN: 300}, "vlan 300 is not trunked on eth0"},
	}
	for _, st := range steps {
		res, err := v.store.Apply(netdef.Network{Segments: []spec.Segment{st.segment}})
		if err != nil {
			t.Fatal(err)
		}
		var got *protocol.Config
		for got == nil || got.Generation < res.Generation {
			got = next(t, hv1.configs)
		}
		if _, ok := got.Switch.Segment(st.segment.Name); !ok {
			t.Fatalf("%s: generation %d lacks segment %s", st.name, got.Generation, st.segment.Name)
		}
		if st.nack == "" {
			if err := hv1.s.Ack(got); err != nil {
				t.Fatal(err)
			}
		} else if err := hv1.s.Nack(got, errors.New(st.nack)); err != nil {
			t.Fatal(err)
		}
		eventually(t, st.name+" recorded", func() bool {
			m := module(t, v.m, "hv1")
			if st.nack == "" {
				return m.AckedGeneration == res.Generation && m.Nack == ""
			}
			return m.NackGeneration == res.Generation && m.Nack == st.nack && m.AckedGeneration < res.Generation
		})
	}
}

// TestPortBinding attaches and detaches ports: each attach is a binding
// in the store and a PortBinding to the VEM; a bad one is refused with
// the reason; an unattached VEM's is refused.
func TestPortBinding(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	if _, err := v.store.Apply(network()); err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	ctx := t.Context()
	if err := hv1.s.AttachPort(ctx, &protocol.PortAttach{Interface: "tap0", Mac: "52:54:00:00:00:01", Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	if b := next(t, hv1.bindings); b.GetRefused() == "" {
		t.Fatalf("a port of an unattached VEM bound: %v", b)
	}
	hv1.attach()
	cases := []struct {
		port    *protocol.PortAttach
		refused string
		veth    uint32
	}{
		{&protocol.PortAttach{Interface: "tap1", Mac: "52:54:00:00:00:01", Segment: "db", Profile: "default"}, "", 1},
		{&protocol.PortAttach{Interface: "tap2", Mac: "52:54:00:00:00:02", Segment: "web"}, "", 2},
		{&protocol.PortAttach{Interface: "tap3", Mac: "52:54:00:00:00:03", Segment: "nowhere"}, "no segment nowhere", 0},
	}
	for _, c := range cases {
		if err := hv1.s.AttachPort(ctx, c.port); err != nil {
			t.Fatal(err)
		}
		b := next(t, hv1.bindings)
		if c.refused != "" {
			if !strings.Contains(b.GetRefused(), c.refused) {
				t.Fatalf("%s: %v, want refused with %q", c.port.GetInterface(), b, c.refused)
			}
			continue
		}
		if b.GetRefused() != "" || b.GetVeth() != c.veth || b.GetInterface() != c.port.GetInterface() || !strings.HasPrefix(b.GetDynamicProfile(), "vnn") {
			t.Fatalf("%s: %v", c.port.GetInterface(), b)
		}
	}
	eventually(t, "the VEM's configuration holds its two ports", func() bool {
		hv1.mu.Lock()
		defer hv1.mu.Unlock()
		return hv1.config != nil && len(hv1.config.Switch.Ports) == 2 && len(hv1.config.Bindings) == 2
	})
	if got := len(v.store.Snapshot().Bindings); got != 2 {
		t.Fatalf("%d bindings in the store, want 2", got)
	}
	if err := hv1.s.DetachPort(ctx, &protocol.PortDetach{Interface: "tap1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tap1 unbound", func() bool {
		bs := v.store.Snapshot().Bindings
		return len(bs) == 1 && bs[0].Interface == "tap2"
	})
	eventually(t, "show module counts one port", func() bool {
		return module(t, v.m, "hv1").Status == vems.StatusOK
	})
}

// TestMACDistribution binds ports of one vxlan segment on hv1 and hv2:
// each learns the other's MAC at the other's VTEP (and the VTEP joins its
// bridge domain); hv3, with a port in the vlan segment only, learns none.
// When hv2's port goes, hv1 forgets its MAC.
func TestMACDistribution(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	if _, err := v.store.Apply(network()); err != nil {
		t.Fatal(err)
	}
	vteps := map[string]string{"hv1": "198.51.100.1", "hv2": "198.51.100.2", "hv3": "198.51.100.3"}
	vs := map[string]*vem{}
	for _, h := range []string{"hv1", "hv2", "hv3"} {
		vs[h] = newVEM(t, p, v.addr, h, vemOptions{vtep: vteps[h]})
		vs[h].attach()
	}
	ports := []struct {
		host, iface, mac, segment string
	}{
		{"hv1", "tap1", "52:54:00:00:00:01", "db"},
		{"hv2", "tap2", "52:54:00:00:00:02", "db"},
		{"hv3", "tap3", "52:54:00:00:00:03", "web"},
	}
	for _, pt := range ports {
		if err := vs[pt.host].s.AttachPort(t.Context(), &protocol.PortAttach{Interface: pt.iface, Mac: pt.mac, Segment: pt.segment}); err != nil {
			t.Fatal(err)
		}
		if b := next(t, vs[pt.host].bindings); b.GetRefused() != "" {
			t.Fatal(b.GetRefused())
		}
	}
	want := map[string]map[string]string{
		"hv1": {"5001/52:54:00:00:00:02": "198.51.100.2"},
		"hv2": {"5001/52:54:00:00:00:01": "198.51.100.1"},
		"hv3": {},
	}
	for _, h := range []string{"hv1", "hv2", "hv3"} {
		eventually(t, h+"'s MACs", func() bool { return equal(vs[h].macView(), want[h]) })
	}
	eventually(t, "hv1's bridge domain replicates to hv2", func() bool {
		vs["hv1"].mu.Lock()
		defer vs["hv1"].mu.Unlock()
		s, ok := vs["hv1"].config.Switch.Segment("db")
		return ok && len(s.VTEPs) == 1 && s.VTEPs[0] == "198.51.100.2"
	})
	// hv3 learns nothing later either.
	time.Sleep(200 * time.Millisecond)
	if got := vs["hv3"].macView(); len(got) != 0 {
		t.Fatalf("hv3, without ports in db, got %v", got)
	}
	if err := vs["hv2"].s.DetachPort(t.Context(), &protocol.PortDetach{Interface: "tap2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hv1 forgets hv2's MAC", func() bool { return len(vs["hv1"].macView()) == 0 })
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		if y, ok := b[k]; !ok || x != y {
			return false
		}
	}
	return true
}

// TestHeartbeatTicks steps a fake clock: every interval, every session
// gets one heartbeat (after the one sent when it opened) with the VSM's
// name, role, state, epoch and generation; SetState and SwitchRequest
// reach it too.
func TestHeartbeatTicks(t *testing.T) {
	p := newPKI(t)
	clk := clocktest.NewFake(time.Unix(1_700_000_000, 0))
	v := startVSM(t, p, "", vsmOptions{clock: clk})
	res, err := v.store.Apply(network())
	if err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	count := func() int { hv1.mu.Lock(); defer hv1.mu.Unlock(); return len(hv1.heartbeats) }
	eventually(t, "the first heartbeat", func() bool { return count() == 1 })
	eventually(t, "the ticker", func() bool { return clk.Pending() > 0 })
	for i := 2; i <= 4; i++ {
		clk.Advance(time.Second)
		eventually(t, "a heartbeat per tick", func() bool { return count() == i })
	}
	hv1.mu.Lock()
	hb := hv1.heartbeats[3]
	hv1.mu.Unlock()
	if hb.GetName() != vsmA || hb.GetRole() != protocol.Role_ROLE_STANDALONE || hb.GetState() != protocol.State_STATE_ACTIVE ||
		hb.GetEpoch() != 1 || hb.GetGeneration() != res.Generation || hb.GetSeq() != 4 {
		t.Fatalf("heartbeat %v", hb)
	}
	v.m.SetState(protocol.State_STATE_ACTIVE, 7)
	if err := v.m.SwitchRequest(); err != nil {
		t.Fatal(err)
	}
	if sr := next(t, hv1.switches); sr.GetName() != vsmA || sr.GetEpoch() != 7 {
		t.Fatalf("switch request %v", sr)
	}
	clk.Advance(time.Second)
	eventually(t, "a heartbeat of epoch 7", func() bool {
		hv1.mu.Lock()
		defer hv1.mu.Unlock()
		return len(hv1.heartbeats) == 5 && hv1.heartbeats[4].GetEpoch() == 7
	})
}
