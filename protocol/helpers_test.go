package protocol

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"

	"github.com/vem-switch/vem/spec"
)

const testDomain = 100

// testPKI is a development PKI with VSMs vsm-a, vsm-b and hosts hv1, hv2,
// hv3, and a second, unrelated one (other CA) with the same names.
type testPKI struct{ dir, other string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	p := testPKI{dir: t.TempDir(), other: t.TempDir()}
	for _, d := range []string{p.dir, p.other} {
		if err := GenerateDevPKI(d, []string{"vsm-a", "vsm-b"}, []string{"hv1", "hv2", "hv3"}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// files are the credentials of name in dir.
func files(dir, name string) TLSFiles {
	return TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

// testServer is a VSM end on loopback whose sessions the test drives.
type testServer struct {
	addr     string
	sessions chan *VEMSession
	logs     *observer.ObservedLogs
}

// startServer serves a VSM named vsm-a of testDomain; every session is
// handed to the test and lives until the test ends or the session fails.
func startServer(t *testing.T, p testPKI) *testServer {
	t.Helper()
	conf, err := ServerTLS(files(p.dir, "vsm-a"))
	if err != nil {
		t.Fatal(err)
	}
	return startServerTLS(t, conf, "vsm-a")
}

func startServerTLS(t *testing.T, conf *tls.Config, name string) *testServer {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	ts := &testServer{sessions: make(chan *VEMSession, 64), logs: logs}
	done := make(chan struct{})
	srv, err := NewServer(ServerConfig{
		Domain: testDomain, Name: name, Role: Role_ROLE_PRIMARY, Logger: log,
		Serve: func(ctx context.Context, s *VEMSession) error {
			ts.sessions <- s
			select {
			case <-ctx.Done():
			case <-done:
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = serveGRPC(t, ServerOptions(conf), srv.Register)
	t.Cleanup(func() { close(done) })
	return ts
}

// serveGRPC serves a gRPC server on an ephemeral loopback port until the
// test ends.
func serveGRPC(t *testing.T, opts []grpc.ServerOption, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// session waits for the server's next session.
func (ts *testServer) session(t *testing.T) *VEMSession {
	t.Helper()
	select {
	case s := <-ts.sessions:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no session on the server")
		return nil
	}
}

// vemFile is the file of a VEM in VSM mode: its host facts.
func vemFile(host string) *spec.Switch {
	return &spec.Switch{Host: host, Uplink: "eth0", VTEP: &spec.VTEP{Address: "198.51.100.1"}}
}

// clientConfig is a VEM of testDomain with the credentials of host in dir.
func clientConfig(t *testing.T, dir, host string) ClientConfig {
	t.Helper()
	conf, err := ClientTLS(files(dir, host), KindVEM, KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	return ClientConfig{Domain: testDomain, Host: vemFile(host), TLS: conf, Logger: zaptest.NewLogger(t)}
}

// dial opens a session as host and closes it when the test ends.
func dial(t *testing.T, addr string, cfg ClientConfig) *VSMSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// recv takes the next event within a few seconds.
func recv[E Event](t *testing.T, r interface {
	Recv(context.Context) (Event, error)
}) E {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := r.Recv(ctx)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	e, ok := ev.(E)
	if !ok {
		var want E
		t.Fatalf("received %T, want %T", ev, want)
	}
	return e
}

// testNetwork is a small network: a vlan, a vxlan and a local segment.
func testNetwork() *spec.Switch {
	return &spec.Switch{
		Segments: []spec.Segment{
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001, VTEPs: []string{"198.51.100.2"}},
			{Name: "scratch", Type: spec.SegmentLocal},
		},
		Profiles: []spec.Profile{{Name: "default", PortSecurity: true}},
		Ports: []spec.Port{
			{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "default"},
			{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "db", IPs: []string{"192.0.2.11"}},
		},
	}
}

// waitErr waits for a session to end and returns why.
func waitErr(t *testing.T, done <-chan struct{}, errFn func() error) error {
	t.Helper()
	select {
	case <-done:
		return errFn()
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
		return nil
	}
}
