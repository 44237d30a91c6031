package dpa

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// scriptedVSM is a VSM end of the real protocol (mutual TLS on loopback)
// that heartbeats every 100 ms with its state and epoch, answers an
// attach request (when active) with module 3 and a snapshot of gen, and
// hands its session to the test, which sends what it likes on it.
type scriptedVSM struct {
	addr  string
	name  string
	mu    sync.Mutex
	sess  *protocol.VEMSession
	nacks []*protocol.ConfigNack
	acks  []uint64
}

func tlsFiles(dir, name string) protocol.TLSFiles {
	return protocol.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"),
		Key: filepath.Join(dir, name+"-key.pem")}
}

func startScriptedVSM(t *testing.T, dir string, domain uint32, name string, state protocol.State, epoch, gen uint64) *scriptedVSM {
	t.Helper()
	conf, err := protocol.ServerTLS(tlsFiles(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	network := testSwitch(t)
	snap, err := protocol.NewSnapshot(gen, &spec.Switch{Segments: network.Segments, Profiles: network.Profiles}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vs := &scriptedVSM{name: name}
	srv, err := protocol.NewServer(protocol.ServerConfig{
		Domain: domain, Name: name, Role: protocol.Role_ROLE_PRIMARY,
		Serve: func(ctx context.Context, s *protocol.VEMSession) error {
			vs.mu.Lock()
			vs.sess = s
			vs.mu.Unlock()
			go func() {
				for {
					ev, err := s.Recv(ctx)
					if err != nil {
						return
					}
					switch e := ev.(type) {
					case *protocol.AttachRequest:
						if state == protocol.State_STATE_ACTIVE {
							_, _ = s.Accept(ctx, &protocol.AttachAccepted{Module: 3, Name: name, Epoch: epoch}, snap)
						}
					case *protocol.ConfigAck:
						vs.mu.Lock()
						vs.acks = append(vs.acks, e.GetGeneration())
						vs.mu.Unlock()
					case *protocol.ConfigNack:
						vs.mu.Lock()
						vs.nacks = append(vs.nacks, e)
						vs.mu.Unlock()
					}
				}
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
					_ = s.SendHeartbeat(&protocol.Heartbeat{Name: name, Role: protocol.Role_ROLE_PRIMARY,
						State: state, Epoch: epoch, Generation: gen})
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	vs.addr = serveVSM(t, conf, srv)
	return vs
}

func serveVSM(t *testing.T, conf *tls.Config, srv *protocol.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(protocol.ServerOptions(conf)...)
	srv.Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func (vs *scriptedVSM) session() *protocol.VEMSession {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.sess
}

func (vs *scriptedVSM) nacked() []*protocol.ConfigNack {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return append([]*protocol.ConfigNack(nil), vs.nacks...)
}

// TestRefusedInputLeavesStateUnchanged runs a DPA with the real protocol
// client over mutual TLS on loopback, configured with four VSM addresses:
// vsm-a (active, epoch 2) it attaches to; a VSM of another domain; a VSM
// whose certificate comes from another CA (claiming vsm-a's name); and
// vsm-b, a genuine standby at epoch 1. The foreign VSMs never get a
// session; vsm-b's stale switch requests, and on vsm-a's own session a
// replayed switch request, an unasked AttachAccepted (module 9) and an
// older snapshot, are each refused and logged; the DPA stays attached to
// vsm-a with the same module, epoch and generation, and the older
// snapshot is NACKed without reaching the Applier.
func TestRefusedInputLeavesStateUnchanged(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := protocol.GenerateDevPKI(dir, []string{"vsm-a", "vsm-b", "vsm-c"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	if err := protocol.GenerateDevPKI(other, []string{"vsm-a"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	a := startScriptedVSM(t, dir, 100, "vsm-a", protocol.State_STATE_ACTIVE, 2, 5)
	wrongDomain := startScriptedVSM(t, dir, 200, "vsm-c", protocol.State_STATE_ACTIVE, 9, 50)
	otherCA := startScriptedVSM(t, other, 100, "vsm-a", protocol.State_STATE_ACTIVE, 9, 50)
	b := startScriptedVSM(t, dir, 100, "vsm-b", protocol.State_STATE_STANDBY, 1, 5)

	conf, err := protocol.ClientTLS(tlsFiles(dir, "hv1"), protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	app := &fakeApplier{}
	d, err := New(Config{
		Addresses:     []string{a.addr, wrongDomain.addr, otherCA.addr, b.addr},
		HeadlessAfter: 3 * time.Second,
		Dialer: ProtocolDialer{Config: protocol.ClientConfig{Domain: 100, TLS: conf, Logger: log,
			Host: &spec.Switch{Host: "hv1", Uplink: "eth1", VTEP: &spec.VTEP{Address: "198.51.100.1"}}}},
		Applier: app, Checkpoints: &fakeCheckpoints{}, Logger: log,
		RedialMin: 20 * time.Millisecond, RedialMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	logged := func(msg, addr, says string) bool {
		for _, e := range logs.FilterMessage(msg).All() {
			f := e.ContextMap()
			if (addr == "" || f["vsm"] == addr) && strings.Contains(strings.ToLower(e.Message+" "+toString(f["error"])), says) {
				return true
			}
		}
		return false
	}
	eventually(t, "attached to vsm-a at generation 5 with the foreign VSMs refused", func() bool {
		st := d.Status()
		return st.State == StateAttached && st.AttachedVSM == "vsm-a" && st.Generation == 5 &&
			logged("session refused", wrongDomain.addr, "domain") && logged("session refused", otherCA.addr, "certificate") &&
			b.session() != nil
	})
	before := d.Status()
	applies := app.applies()

	// vsm-b, a genuine standby: switch requests at the attached epoch and
	// below are stale.
	for _, epoch := range []uint64{2, 1} {
		if err := b.session().SendSwitchRequest(&protocol.SwitchRequest{Name: "vsm-b", Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	// vsm-a's own session: the switch request that would have attached it,
	// an AttachAccepted nobody asked for, and an older snapshot.
	sa := a.session()
	if err := sa.SendSwitchRequest(&protocol.SwitchRequest{Name: "vsm-a", Epoch: 2}); err != nil {
		t.Fatal(err)
	}
	network := testSwitch(t)
	old, err := protocol.NewSnapshot(3, &spec.Switch{Segments: network.Segments[:1], Profiles: network.Profiles}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Accept(ctx, &protocol.AttachAccepted{Module: 9, Name: "vsm-a", Epoch: 2}, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the older snapshot NACKed and the switch requests ignored", func() bool {
		return len(a.nacked()) == 1 && d.Status().Counters.SwitchRequestsIgnored == 3
	})
	if n := a.nacked()[0]; n.GetGeneration() != 3 || !strings.Contains(n.GetReason(), "older than 5") {
		t.Errorf("NACK %v", n)
	}
	for _, l := range []struct{ msg, says string }{
		{"switch request ignored: stale epoch", "stale"},
		{"attach accepted ignored: not asked (a replay, or from a VSM not asked)", "attach"},
		{"configuration refused: older than one already received", "older"},
	} {
		if !logged(l.msg, "", l.says) {
			t.Errorf("not logged: %q", l.msg)
		}
	}
	time.Sleep(300 * time.Millisecond) // heartbeats go on; nothing else happens
	after := d.Status()
	t.Logf("before: %s to %s, module %d, epoch %d, generation %d; after: %s to %s, module %d, epoch %d, generation %d; counters %+v",
		before.State, before.AttachedVSM, before.Module, before.Epoch, before.Generation,
		after.State, after.AttachedVSM, after.Module, after.Epoch, after.Generation, after.Counters)
	if after.State != StateAttached || after.AttachedVSM != before.AttachedVSM || after.Module != before.Module ||
		after.Epoch != before.Epoch || after.Generation != before.Generation || app.applies() != applies {
		t.Fatalf("state changed by refused input: %d applies (was %d)", app.applies(), applies)
	}
	for _, v := range after.VSMs {
		if (v.Address == wrongDomain.addr || v.Address == otherCA.addr) && v.State != "unreachable" {
			t.Errorf("foreign VSM at %s: %+v", v.Address, v)
		}
	}
	if after.Counters.ConfigsRefused != 1 || after.Counters.SwitchRequestsAccepted != 0 || after.Counters.HeadlessEntries != 0 {
		t.Errorf("counters %+v", after.Counters)
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
