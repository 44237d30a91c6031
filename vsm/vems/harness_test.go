package vems_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
	"github.com/vem-switch/vem/vsm/vems"
)

const (
	domain = 100
	vsmA   = "vsm-a"
)

// pki is a development PKI with vsm-a and hosts hv1..hv3, and another
// (another CA) with the same names.
type pki struct{ dir, other string }

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir(), other: t.TempDir()}
	for _, d := range []string{p.dir, p.other} {
		if err := protocol.GenerateDevPKI(d, []string{vsmA}, []string{"hv1", "hv2", "hv3"}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func files(dir, name string) protocol.TLSFiles {
	return protocol.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

// vsm is a Manager serving real gRPC over mutual TLS on loopback.
type vsm struct {
	addr  string
	store *store.Store
	m     *vems.Manager
	stop  func()
}

type vsmOptions struct {
	clock     clock.Clock
	heartbeat time.Duration
}

// startVSM serves the store at path (a new one when empty) until stop or
// the test's end.
func startVSM(t *testing.T, p pki, path string, o vsmOptions) *vsm {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), store.FileName)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	m, err := vems.New(vems.Config{Name: vsmA, Store: st, Clock: o.clock, HeartbeatInterval: o.heartbeat, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := protocol.ServerTLS(files(p.dir, vsmA))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := protocol.NewServer(protocol.ServerConfig{Domain: domain, Name: vsmA, Role: protocol.Role_ROLE_STANDALONE,
		Serve: m.Serve, Logger: log.Named("protocol")})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(protocol.ServerOptions(conf)...)
	srv.Register(g)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = g.Serve(lis) }()
	go func() {
		defer close(ran)
		if err := m.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var once sync.Once
	v := &vsm{addr: lis.Addr().String(), store: st, m: m}
	v.stop = func() {
		once.Do(func() {
			cancel()
			<-ran
			g.Stop()
			_ = st.Close()
		})
	}
	t.Cleanup(v.stop)
	return v
}

// network is a vlan segment, a vxlan one and a profile.
func network() netdef.Network {
	return netdef.Network{
		Segments: []spec.Segment{
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001},
		},
		Profiles: []spec.Profile{{Name: "default", PortSecurity: true}},
	}
}

// vem is a test VEM: a real protocol client whose events a goroutine
// records.
type vem struct {
	t        *testing.T
	s        *protocol.VSMSession
	autoAck  bool
	accepted chan *protocol.AttachAccepted
	configs  chan *protocol.Config
	bindings chan *protocol.PortBinding
	switches chan *protocol.SwitchRequest

	mu         sync.Mutex
	heartbeats []*protocol.Heartbeat
	macs       map[string]string // "vni/mac" → VTEP
	config     *protocol.Config
}

type vemOptions struct {
	dir    string // PKI; the test PKI's when empty
	domain uint32
	vtep   string
	module uint32
	manual bool // no automatic ACK
}

func dialVEM(t *testing.T, p pki, addr, host string, o vemOptions) (*protocol.VSMSession, error) {
	t.Helper()
	if o.dir == "" {
		o.dir = p.dir
	}
	if o.domain == 0 {
		o.domain = domain
	}
	if o.vtep == "" {
		o.vtep = "198.51.100.1"
	}
	conf, err := protocol.ClientTLS(files(o.dir, host), protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	host1 := &spec.Switch{Host: host, Uplink: "eth0", VTEP: &spec.VTEP{Address: o.vtep}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return protocol.Dial(ctx, addr, protocol.ClientConfig{Domain: o.domain, Host: host1, TLS: conf,
		Module: o.module, Logger: zaptest.NewLogger(t).Named(host)})
}

// newVEM dials as host and records what the VSM sends until the test
// ends or close.
func newVEM(t *testing.T, p pki, addr, host string, o vemOptions) *vem {
	t.Helper()
	s, err := dialVEM(t, p, addr, host, o)
	if err != nil {
		t.Fatalf("dial as %s: %v", host, err)
	}
	v := &vem{t: t, s: s, autoAck: !o.manual, accepted: make(chan *protocol.AttachAccepted, 16),
		configs: make(chan *protocol.Config, 256), bindings: make(chan *protocol.PortBinding, 256),
		switches: make(chan *protocol.SwitchRequest, 16), macs: map[string]string{}}
	go v.read()
	t.Cleanup(func() { _ = s.Close() })
	return v
}

func (v *vem) read() {
	for {
		ev, err := v.s.Recv(context.Background())
		if err != nil {
			return
		}
		switch e := ev.(type) {
		case *protocol.Heartbeat:
			v.mu.Lock()
			v.heartbeats = append(v.heartbeats, e)
			v.mu.Unlock()
		case *protocol.AttachAccepted:
			v.accepted <- e
		case *protocol.SwitchRequest:
			v.switches <- e
		case *protocol.Config:
			v.mu.Lock()
			v.config = e
			v.macs = map[string]string{}
			for _, m := range e.MACs {
				v.macs[macName(m)] = m.GetVtep()
			}
			v.mu.Unlock()
			if v.autoAck {
				_ = v.s.Ack(e)
			}
			v.configs <- e
		case *protocol.PortBinding:
			v.bindings <- e
		case *protocol.MacUpdate:
			v.mu.Lock()
			for _, m := range e.GetRemove() {
				delete(v.macs, macName(m))
			}
			for _, m := range e.GetAdd() {
				v.macs[macName(m)] = m.GetVtep()
			}
			v.mu.Unlock()
		}
	}
}

func macName(m *protocol.MacEntry) string {
	return fmt.Sprintf("%d/%s", m.GetVni(), m.GetMac())
}

// attach asks to attach and returns the acceptance and the snapshot.
func (v *vem) attach() (*protocol.AttachAccepted, *protocol.Config) {
	v.t.Helper()
	if err := v.s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
		v.t.Fatal(err)
	}
	a := next(v.t, v.accepted)
	return a, next(v.t, v.configs)
}

// macView is the MAC distribution the VEM holds now.
func (v *vem) macView() map[string]string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]string{}
	for k, x := range v.macs {
		out[k] = x
	}
	return out
}

// next takes the next value of ch within 10 s.
func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case x := <-ch:
		return x
	case <-time.After(10 * time.Second):
		var zero T
		t.Fatalf("no %T within 10s", zero)
		return zero
	}
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// module is the Manager's view of host's module.
func module(t *testing.T, m *vems.Manager, host string) vems.Module {
	t.Helper()
	mods, err := m.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range mods {
		if x.Host == host {
			return x
		}
	}
	return vems.Module{}
}
