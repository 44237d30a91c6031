package protocol

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends []byte as it is, so that a test can put anything on the
// wire; proto messages it marshals.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (rawCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }
func (rawCodec) Name() string                       { return "proto" }

var _ encoding.Codec = rawCodec{}

// rawVEM opens a stream as hv1 without this package's client, sends a
// valid hello and reads the welcome.
func rawVEM(t *testing.T, p testPKI, addr string) grpc.ClientStream {
	t.Helper()
	conf, err := ClientTLS(files(p.dir, "hv1"), KindVEM, KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4*MaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := conn.NewStream(ctx, &Supervisor_ServiceDesc.Streams[0], Supervisor_Connect_FullMethodName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	hello := &Envelope{Domain: testDomain, Body: &Envelope_Hello{Hello: &Hello{Host: "hv1", Version: CurrentVersion()}}}
	if err := st.SendMsg(hello); err != nil {
		t.Fatal(err)
	}
	var welcome Envelope
	if err := st.RecvMsg(&welcome); err != nil || welcome.GetWelcome() == nil {
		t.Fatalf("welcome: %v, %v", err, &welcome)
	}
	return st
}

// TestVSMRefusesBadMessages: a VEM that sends something invalid after its
// hello loses its session with a status saying why, the VSM logs it, and
// another VEM's session is unharmed.
func TestVSMRefusesBadMessages(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	other := dial(t, ts.addr, clientConfig(t, p.dir, "hv2"))
	otherVS := ts.session(t)

	huge := strings.Repeat("x", MaxMessageSize+1)
	tests := []struct {
		name string
		msg  any // an *Envelope or raw bytes
		code codes.Code
		err  error // what the VSM logs
	}{
		{"another domain", &Envelope{Domain: 7, Body: &Envelope_AttachRequest{AttachRequest: &AttachRequest{Reason: AttachReason_ATTACH_REASON_INITIAL}}}, codes.PermissionDenied, ErrDomain},
		{"a VSM's message from a VEM", &Envelope{Domain: testDomain, Body: &Envelope_Heartbeat{Heartbeat: &Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}}}, codes.InvalidArgument, ErrMalformed},
		{"empty envelope", &Envelope{Domain: testDomain}, codes.InvalidArgument, ErrMalformed},
		{"second hello", &Envelope{Domain: testDomain, Body: &Envelope_Hello{Hello: &Hello{Host: "hv1", Version: CurrentVersion()}}}, codes.InvalidArgument, ErrMalformed},
		{"bad MAC", &Envelope{Domain: testDomain, Body: &Envelope_PortAttach{PortAttach: &PortAttach{Interface: "tap", Segment: "web", Mac: "52:54:zz:00:00:01"}}}, codes.InvalidArgument, ErrMalformed},
		{"unknown attach reason", &Envelope{Domain: testDomain, Body: &Envelope_AttachRequest{AttachRequest: &AttachRequest{Reason: 99}}}, codes.InvalidArgument, ErrMalformed},
		// gRPC itself refuses these two, with its own status codes.
		{"not protobuf", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, codes.Internal, ErrMalformed},
		{"oversized", &Envelope{Domain: testDomain, Body: &Envelope_PortDetach{PortDetach: &PortDetach{Interface: huge}}}, codes.ResourceExhausted, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := rawVEM(t, p, ts.addr)
			ts.session(t)
			if err := st.SendMsg(tt.msg); err != nil {
				t.Fatal(err)
			}
			var env Envelope
			err := st.RecvMsg(&env)
			if status.Code(err) != tt.code {
				t.Fatalf("stream ended with %v, want code %s", err, tt.code)
			}
			if !ts.logged("session ended", tt.err) {
				t.Errorf("the VSM did not log the refusal as %v", tt.err)
			}
			// The other VEM's session goes on.
			if err := otherVS.SendHeartbeat(&Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}); err != nil {
				t.Fatal(err)
			}
			recv[*Heartbeat](t, other)
		})
	}
}

// TestVSMRefusesSessions: a hello of another domain, another host or an
// unsupported version is refused with an error that says so; neighbouring
// minor versions are accepted and the lower one spoken.
func TestVSMRefusesSessions(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	tests := []struct {
		name    string
		change  func(*ClientConfig)
		err     error
		message string
		speak   string // the version spoken when accepted
	}{
		{"current version", func(*ClientConfig) {}, nil, "", "1.0"},
		{"next minor", func(c *ClientConfig) { c.Version = &Version{Major: 1, Minor: 1} }, nil, "", "1.0"},
		{"minor two ahead", func(c *ClientConfig) { c.Version = &Version{Major: 1, Minor: 2} }, ErrVersion, "unsupported protocol version 1.2", ""},
		{"next major", func(c *ClientConfig) { c.Version = &Version{Major: 2} }, ErrVersion, "unsupported protocol version 2.0: this side speaks 1.0", ""},
		{"major zero", func(c *ClientConfig) { c.Version = &Version{Major: 0, Minor: 9} }, ErrVersion, "accepts only major version 1", ""},
		{"another domain", func(c *ClientConfig) { c.Domain = 7 }, ErrDomain, "domain 7", ""},
		{"another host than the certificate's", func(c *ClientConfig) { c.Host = vemFile("hv2") }, ErrIdentity, `host "hv2" over the certificate of "hv1"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientConfig(t, p.dir, "hv1")
			tt.change(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, err := Dial(ctx, ts.addr, cfg)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				defer v.Close()
				vs := ts.session(t)
				if got := versionString(v.Version()); got != tt.speak || versionString(vs.Version()) != tt.speak {
					t.Errorf("speaking %s and %s, want %s", got, versionString(vs.Version()), tt.speak)
				}
				return
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %v, want %v saying %q", err, tt.err, tt.message)
			}
			if !ts.logged("session refused", tt.err) {
				t.Errorf("the VSM did not log the refusal")
			}
		})
	}
}

// rogueVSM is a VSM end that runs a script instead of this package's
// server: it reads the hello and hands the stream over.
type rogueVSM struct {
	UnimplementedSupervisorServer
	script func(Supervisor_ConnectServer) error
}

func (r rogueVSM) Connect(st Supervisor_ConnectServer) error {
	if _, err := st.Recv(); err != nil {
		return err
	}
	return r.script(st)
}

// startRogue serves a rogue VSM with conf and no message size limit.
func startRogue(t *testing.T, conf *tls.Config, script func(Supervisor_ConnectServer) error) string {
	t.Helper()
	return serveGRPC(t, []grpc.ServerOption{grpc.Creds(credentials.NewTLS(conf))},
		func(g *grpc.Server) { RegisterSupervisorServer(g, rogueVSM{script: script}) })
}

// welcomeOf is a Welcome envelope.
func welcomeOf(domain uint32, name string, v *Version) *Envelope {
	return &Envelope{Domain: domain, Body: &Envelope_Welcome{Welcome: &Welcome{Name: name, Role: Role_ROLE_PRIMARY, Version: v}}}
}

// TestVEMRefusesBadVSM: a VEM refuses a welcome or a later message that is
// of another domain, of another VSM than the certificate names,
// malformed or oversized; a snapshot's chunks out of place end the session.
func TestVEMRefusesBadVSM(t *testing.T) {
	p := newTestPKI(t)
	conf, err := ServerTLS(files(p.dir, "vsm-a"))
	if err != nil {
		t.Fatal(err)
	}
	hb := func(domain uint32, name string) *Envelope {
		return &Envelope{Domain: domain, Body: &Envelope_Heartbeat{Heartbeat: &Heartbeat{Name: name, Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE}}}
	}
	chunk := func(c *SnapshotChunk) *Envelope {
		return &Envelope{Domain: testDomain, Body: &Envelope_SnapshotChunk{SnapshotChunk: c}}
	}
	digest := make([]byte, 32)
	tests := []struct {
		name    string
		welcome *Envelope
		then    []*Envelope // after a good welcome
		err     error
		message string
	}{
		{"welcome of another domain", welcomeOf(7, "vsm-a", CurrentVersion()), nil, ErrDomain, "domain 7"},
		{"welcome of another name", welcomeOf(testDomain, "vsm-b", CurrentVersion()), nil, ErrIdentity, `"vsm-b" over the certificate of "vsm-a"`},
		{"VSM of version 2.0", welcomeOf(testDomain, "vsm-a", &Version{Major: 2}), nil, ErrVersion, "2.0"},
		{"VSM two minors ahead", welcomeOf(testDomain, "vsm-a", &Version{Major: 1, Minor: 2}), nil, ErrVersion, "1.2"},
		{"heartbeat of another domain", nil, []*Envelope{hb(7, "vsm-a")}, ErrDomain, "domain 7"},
		{"heartbeat in another VSM's name", nil, []*Envelope{hb(testDomain, "vsm-b")}, ErrIdentity, "vsm-b"},
		{"a VEM's message from a VSM", nil, []*Envelope{{Domain: testDomain, Body: &Envelope_PortDetach{PortDetach: &PortDetach{Interface: "tap"}}}}, ErrMalformed, "may only come from a vem"},
		{"module 2", nil, []*Envelope{{Domain: testDomain, Body: &Envelope_AttachAccepted{AttachAccepted: &AttachAccepted{Module: 2, Name: "vsm-a"}}}}, ErrMalformed, "module 2"},
		{"chunk without its first", nil, []*Envelope{chunk(&SnapshotChunk{Generation: 1, Seq: 1, Count: 2, Size: 10, Digest: digest, Data: []byte("x")})}, ErrMalformed, "without its first"},
		{"chunks out of order", nil, []*Envelope{
			chunk(&SnapshotChunk{Generation: 1, Nonce: 1, Seq: 0, Count: 3, Size: 3, Digest: digest, Data: []byte("a")}),
			chunk(&SnapshotChunk{Generation: 1, Nonce: 1, Seq: 2, Count: 3, Size: 3, Digest: digest, Data: []byte("c")}),
		}, ErrMalformed, "out of place"},
		{"wrong digest", nil, []*Envelope{chunk(&SnapshotChunk{Generation: 1, Nonce: 1, Count: 1, Size: 1, Digest: digest, Data: []byte("a")})}, ErrMalformed, "digest"},
		{"snapshot larger than allowed", nil, []*Envelope{chunk(&SnapshotChunk{Generation: 1, Count: MaxChunks, Size: MaxSnapshotSize + 1, Digest: digest, Data: []byte("a")})}, ErrTooLarge, "snapshot of"},
		{"chunk larger than allowed", nil, []*Envelope{chunk(&SnapshotChunk{Generation: 1, Count: 1, Size: MaxChunkData + 1, Digest: digest, Data: make([]byte, MaxChunkData+1)})}, ErrTooLarge, "chunk of"},
		{"oversized message", nil, []*Envelope{{Domain: testDomain, Body: &Envelope_PortBinding{PortBinding: &PortBinding{Interface: "tap", Veth: 1, Refused: strings.Repeat("x", MaxMessageSize)}}}}, ErrTooLarge, "larger than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRogue(t, conf, func(st Supervisor_ConnectServer) error {
				w := tt.welcome
				if w == nil {
					w = welcomeOf(testDomain, "vsm-a", CurrentVersion())
				}
				if err := st.Send(w); err != nil {
					return err
				}
				for _, env := range tt.then {
					if err := st.Send(env); err != nil {
						return err
					}
				}
				<-st.Context().Done()
				return nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, err := Dial(ctx, addr, clientConfig(t, p.dir, "hv1"))
			if tt.welcome != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.message) {
					t.Fatalf("dial: got %v, want %v saying %q", err, tt.err, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			err = waitErr(t, v.Done(), v.Err)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("session ended with %v, want %v saying %q", err, tt.err, tt.message)
			}
		})
	}
}

// TestAuthentication: only peers whose certificate chains to the CA and
// is of the right kind get a session.
func TestAuthentication(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	load := func(t *testing.T, dir, name string) tls.Certificate {
		f := files(dir, name)
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A VSM end that presents cert and asks for any client certificate.
	rogueWith := func(t *testing.T, cert tls.Certificate) string {
		return startRogue(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert},
			func(st Supervisor_ConnectServer) error {
				return st.Send(welcomeOf(testDomain, "vsm-a", CurrentVersion()))
			})
	}
	tests := []struct {
		name string
		addr func(t *testing.T) string
		conf func(t *testing.T) *tls.Config
		want string
	}{
		{"VEM of another CA", func(*testing.T) string { return ts.addr }, func(t *testing.T) *tls.Config {
			c := clientConfig(t, p.dir, "hv1").TLS
			c.Certificates = []tls.Certificate{load(t, p.other, "hv1")}
			return c
		}, ""},
		{"VEM without a certificate", func(*testing.T) string { return ts.addr }, func(t *testing.T) *tls.Config {
			c := clientConfig(t, p.dir, "hv1").TLS
			c.Certificates = nil
			return c
		}, ""},
		{"VSM certificate as a VEM", func(*testing.T) string { return ts.addr }, func(t *testing.T) *tls.Config {
			c, err := ClientTLS(files(p.dir, "vsm-b"), KindVSM, KindVSM)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, ""},
		{"VEM certificate as a VSM", func(t *testing.T) string { return rogueWith(t, load(t, p.dir, "hv2")) }, func(t *testing.T) *tls.Config {
			return clientConfig(t, p.dir, "hv1").TLS
		}, "peer identity refused"},
		{"VSM of another CA", func(t *testing.T) string { return rogueWith(t, load(t, p.other, "vsm-a")) }, func(t *testing.T) *tls.Config {
			return clientConfig(t, p.dir, "hv1").TLS
		}, "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientConfig(t, p.dir, "hv1")
			cfg.TLS = tt.conf(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, err := Dial(ctx, tt.addr(t), cfg)
			if err == nil {
				v.Close()
				t.Fatal("the session was opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want it to say %q", err, tt.want)
			}
			t.Logf("refused: %v", err)
			select {
			case <-ts.sessions:
				t.Error("the VSM opened a session")
			default:
			}
		})
	}

	// Credentials of the wrong kind are refused when loaded.
	if _, err := ServerTLS(files(p.dir, "hv1")); !errors.Is(err, ErrIdentity) {
		t.Errorf("a VSM listening with a VEM's certificate: %v", err)
	}
	if _, err := ClientTLS(files(p.dir, "vsm-a"), KindVEM, KindVSM); !errors.Is(err, ErrIdentity) {
		t.Errorf("a VEM dialling with a VSM's certificate: %v", err)
	}
}

// logged reports whether the server logged, within a few seconds, a
// message whose error matches.
func (ts *testServer) logged(msg string, target error) bool {
	for range 100 {
		if ts.loggedNow(msg, target) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// loggedNow reports whether the server has logged a message whose error
// matches.
func (ts *testServer) loggedNow(msg string, target error) bool {
	for _, e := range ts.logs.FilterMessage(msg).All() {
		for _, f := range e.Context {
			if err, ok := f.Interface.(error); ok && errors.Is(err, target) {
				return true
			}
		}
	}
	return false
}
