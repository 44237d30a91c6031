package protocol

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// TestRoundTrip sends every message of the protocol over real gRPC and
// mutual TLS on loopback and checks what the other end receives.
func TestRoundTrip(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	cfg := clientConfig(t, p.dir, "hv1")
	cfg.LastGeneration, cfg.Module = 41, 3
	vc := dial(t, ts.addr, cfg)
	vs := ts.session(t)
	ctx := context.Background()

	// The handshake: each end knows the other's verified identity.
	if h := vs.Hello(); h.GetHost() != "hv1" || h.GetLastGeneration() != 41 || h.GetModule() != 3 || h.GetVtep() != "198.51.100.1" {
		t.Errorf("hello = %v", h)
	}
	if vs.Peer() != (Identity{Name: "hv1", Kind: KindVEM}) || vc.Peer() != (Identity{Name: "vsm-a", Kind: KindVSM}) {
		t.Errorf("peers %v and %v", vs.Peer(), vc.Peer())
	}
	if w := vc.Welcome(); w.GetName() != "vsm-a" || w.GetRole() != Role_ROLE_PRIMARY {
		t.Errorf("welcome = %v", w)
	}

	snap, err := NewSnapshot(42, testNetwork(), []*PortBinding{{Interface: "tap-a", Veth: 1, DynamicProfile: "vnn1", Segment: "web", Profile: "default"}},
		[]*MacEntry{{Vni: 5001, Mac: "52:54:00:00:01:01", Vtep: "198.51.100.2"}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// send sends from one end; check receives at the other.
		send  func() error
		check func(t *testing.T)
	}{
		{"heartbeat", func() error {
			return vs.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE, Epoch: 7, Generation: 42})
		}, func(t *testing.T) {
			hb := recv[*Heartbeat](t, vc)
			if hb.GetEpoch() != 7 || hb.GetGeneration() != 42 || hb.GetSeq() != 1 || hb.GetState() != State_STATE_ACTIVE || hb.GetSentUnixNano() == 0 {
				t.Errorf("heartbeat = %v", hb)
			}
			if last, at := vc.LastHeartbeat(); last.GetSeq() != 1 || at.IsZero() {
				t.Errorf("last heartbeat %v at %v", last, at)
			}
		}},
		{"switch request", func() error { return vs.SendSwitchRequest(&SwitchRequest{Name: "vsm-a", Epoch: 8}) }, func(t *testing.T) {
			if r := recv[*SwitchRequest](t, vc); r.GetEpoch() != 8 {
				t.Errorf("switch request = %v", r)
			}
		}},
		{"attach request", func() error { return vc.RequestAttach(AttachReason_ATTACH_REASON_SWITCH_REQUEST) }, func(t *testing.T) {
			if r := recv[*AttachRequest](t, vs); r.GetReason() != AttachReason_ATTACH_REASON_SWITCH_REQUEST {
				t.Errorf("attach request = %v", r)
			}
		}},
		{"attach accepted and snapshot", func() error {
			_, err := vs.Accept(ctx, &AttachAccepted{Module: 3, Name: "vsm-a", Epoch: 8}, snap)
			return err
		}, func(t *testing.T) {
			if a := recv[*AttachAccepted](t, vc); a.GetModule() != 3 {
				t.Errorf("attach accepted = %v", a)
			}
			c := recv[*Config](t, vc)
			if c.Generation != 42 || c.Nonce == 0 || len(c.Bindings) != 1 || len(c.MACs) != 1 {
				t.Fatalf("config = %+v", c)
			}
			sw := c.Switch
			if sw.Host != "hv1" || sw.Uplink != "eth0" || len(sw.Segments) != 3 || len(sw.Ports) != 2 || sw.Segments[1].MTU != 1500 {
				t.Errorf("merged switch = %+v", sw)
			}
			if err := vc.Ack(c); err != nil {
				t.Fatal(err)
			}
			if a := recv[*ConfigAck](t, vs); a.GetGeneration() != 42 || a.GetNonce() != c.Nonce {
				t.Errorf("ack = %v", a)
			}
			if err := vc.Nack(c, errFake("no room")); err != nil {
				t.Fatal(err)
			}
			if n := recv[*ConfigNack](t, vs); n.GetReason() != "no room" || n.GetNonce() != c.Nonce {
				t.Errorf("nack = %v", n)
			}
		}},
		{"port attach and binding", func() error {
			return vc.AttachPort(ctx, &PortAttach{Interface: "tap-c", Mac: "52:54:00:00:00:0c", Vm: "vm-1", Segment: "web", Profile: "default", Ips: []string{"192.0.2.5", "2001:db8::5"}})
		}, func(t *testing.T) {
			a := recv[*PortAttach](t, vs)
			if a.GetInterface() != "tap-c" || len(a.GetIps()) != 2 {
				t.Errorf("port attach = %v", a)
			}
			if err := vs.SendBinding(ctx, &PortBinding{Interface: "tap-c", Veth: 5, DynamicProfile: "vnn1", Segment: "web", Profile: "default", Mac: a.GetMac()}); err != nil {
				t.Fatal(err)
			}
			if b := recv[*PortBinding](t, vc); b.GetVeth() != 5 || b.GetDynamicProfile() != "vnn1" {
				t.Errorf("binding = %v", b)
			}
			if err := vs.SendBinding(ctx, &PortBinding{Interface: "tap-d", Refused: "segment nope does not exist"}); err != nil {
				t.Fatal(err)
			}
			if b := recv[*PortBinding](t, vc); b.GetRefused() == "" {
				t.Errorf("refused binding = %v", b)
			}
		}},
		{"MAC distribution", func() error {
			u := &MacUpdate{Remove: []*MacEntry{{Vni: 5001, Mac: "52:54:00:00:01:01", Vtep: "198.51.100.2"}}}
			for i := range 5000 {
				u.Add = append(u.Add, &MacEntry{Vni: 5001, Mac: macN(i), Vtep: "198.51.100.3"})
			}
			return vs.SendMACs(ctx, u)
		}, func(t *testing.T) {
			// 5001 entries come in pieces of at most 2048, removals first.
			var add, remove int
			for add+remove < 5001 {
				u := recv[*MacUpdate](t, vc)
				if n := len(u.GetAdd()) + len(u.GetRemove()); n > maxMACsPerUpdate {
					t.Fatalf("update of %d entries", n)
				}
				if remove == 0 && len(u.GetRemove()) != 1 {
					t.Fatalf("the removal does not come first: %d removals", len(u.GetRemove()))
				}
				add, remove = add+len(u.GetAdd()), remove+len(u.GetRemove())
			}
		}},
		{"port detach", func() error { return vc.DetachPort(ctx, &PortDetach{Interface: "tap-c"}) }, func(t *testing.T) {
			if d := recv[*PortDetach](t, vs); d.GetInterface() != "tap-c" {
				t.Errorf("port detach = %v", d)
			}
		}},
		{"detach", func() error { return vc.Detach(ctx, "switch request from vsm-b") }, func(t *testing.T) {
			if d := recv[*Detach](t, vs); !strings.Contains(d.GetReason(), "vsm-b") {
				t.Errorf("detach = %v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			tt.check(t)
		})
	}

	// Closing the VEM's end ends the VSM's.
	vc.Close()
	if err := waitErr(t, vs.Done(), vs.Err); err == nil {
		t.Error("the VSM's session did not end")
	}
}

// TestConfigRefusedWithNack: a snapshot that decodes but does not validate
// with the VEM's host facts is refused with a NACK and logged; the session
// goes on and takes the next, valid one.
func TestConfigRefusedWithNack(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	vc := dial(t, ts.addr, clientConfig(t, p.dir, "hv1"))
	vs := ts.session(t)
	ctx := context.Background()

	bad := testNetwork()
	bad.Ports[0].Segment = "nowhere"
	hostFact := testNetwork()
	hostFact.Uplink = "eth9"
	withHost, err := NewSnapshot(2, hostFact, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	withHost.Network = []byte(strings.Replace(string(withHost.Network), `{"segments"`, `{"uplink":"eth9","segments"`, 1))
	unknown, _ := NewSnapshot(3, testNetwork(), nil, nil)
	unknown.Network = []byte(strings.Replace(string(unknown.Network), `{"segments"`, `{"vlans":[1],"segments"`, 1))
	invalid, _ := NewSnapshot(1, bad, nil, nil)
	trailing, _ := NewSnapshot(4, testNetwork(), nil, nil)
	trailing.Network = append(trailing.Network, []byte(`{}`)...)

	tests := []struct {
		name string
		snap *Snapshot
		want string
	}{
		{"invalid for spec", invalid, "nowhere"},
		{"host facts", withHost, "host facts (uplink)"},
		{"unknown field", unknown, "unknown field"},
		{"trailing data", trailing, "data after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Recv refuses the bad one, then delivers the good one.
			got := make(chan *Config, 1)
			go func() {
				ev, _ := vc.Recv(ctx)
				c, _ := ev.(*Config)
				got <- c
			}()
			nonce, err := vs.SendConfig(ctx, tt.snap)
			if err != nil {
				t.Fatal(err)
			}
			n := recv[*ConfigNack](t, vs)
			if n.GetNonce() != nonce || !strings.Contains(n.GetReason(), tt.want) {
				t.Errorf("nack %v, want nonce %d and %q", n, nonce, tt.want)
			}
			good, _ := NewSnapshot(tt.snap.GetGeneration()+100, testNetwork(), nil, nil)
			if _, err := vs.SendConfig(ctx, good); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-got:
				if c == nil || c.Generation != good.GetGeneration() {
					t.Errorf("delivered %+v", c)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the good configuration was not delivered")
			}
		})
	}
	if vc.Err() != nil || vs.Err() != nil {
		t.Errorf("sessions ended: %v, %v", vc.Err(), vs.Err())
	}
}

// TestConfigsCoalesce: configurations the application has not taken yet
// give way to the newest; the updates sent between them keep their order.
func TestConfigsCoalesce(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	got := make(chan *Envelope, 16)
	cfg := clientConfig(t, p.dir, "hv1")
	cfg.trace = func(env *Envelope, _ time.Time) {
		if env.GetMacUpdate() != nil {
			got <- env
		}
	}
	vc := dial(t, ts.addr, cfg)
	vs := ts.session(t)
	ctx := context.Background()
	for gen := uint64(1); gen <= 3; gen++ {
		s, _ := NewSnapshot(gen, testNetwork(), nil, nil)
		if _, err := vs.SendConfig(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := vs.SendMACs(ctx, &MacUpdate{Add: []*MacEntry{{Vni: 1, Mac: macN(int(gen)), Vtep: "198.51.100.9"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // all of it is on the VEM's side before Recv
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("updates did not arrive")
		}
	}
	// mac1, mac2, config 3, mac3.
	for _, want := range []string{macN(1), macN(2), "config", macN(3)} {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ev, err := vc.Recv(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case *Config:
			if want != "config" || e.Generation != 3 {
				t.Errorf("got config %d, want %s", e.Generation, want)
			}
		case *MacUpdate:
			if e.GetAdd()[0].GetMac() != want {
				t.Errorf("got MAC %s, want %s", e.GetAdd()[0].GetMac(), want)
			}
		}
	}
}

// TestEnvelopeWire: every message survives the wire format unchanged.
func TestEnvelopeWire(t *testing.T) {
	env := &Envelope{Domain: 9, Body: &Envelope_PortAttach{PortAttach: &PortAttach{Interface: "tap", Segment: "web", Ips: []string{"192.0.2.1"}}}}
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var back Envelope
	if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(env, &back) {
		t.Fatalf("round trip: %v, %v", err, &back)
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }

// macN is a distinct unicast MAC for each n.
func macN(n int) string {
	return "52:54:01:" + hex2(n>>16) + ":" + hex2(n>>8) + ":" + hex2(n)
}

func hex2(n int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>4&0xf], digits[n&0xf]})
}
