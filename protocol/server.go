package protocol

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
)

// DefaultMaxSessions is how many VEM sessions a Server serves at once
// unless ServerConfig says otherwise.
const DefaultMaxSessions = 4096

// ServerConfig configures the VSM end of the protocol.
type ServerConfig struct {
	// Domain is the switch's domain ID, 1..4095.
	Domain uint32
	// Name is this VSM's name, the one its certificate carries; Role its
	// configured role. Both go into every Welcome.
	Name string
	Role Role
	// Serve runs one accepted session: its Hello is checked (domain,
	// version, the host its certificate names) and the Welcome sent. The
	// session lives until Serve returns; a non-nil error is sent to the
	// VEM as the session's status. ctx ends when the session fails, and
	// Serve must then return: it runs on the stream's handler goroutine,
	// and the VEM learns why its session ended only once Serve is back.
	// Messages still queued when Serve returns are dropped.
	Serve func(ctx context.Context, s *VEMSession) error
	// Logger receives refusals and session ends; nil logs nothing.
	Logger *zap.Logger
	// MaxSessions bounds concurrent sessions; 0 means DefaultMaxSessions.
	MaxSessions int
}

// Server is the VSM end: the Supervisor service. Register it on a
// grpc.Server made with ServerOptions.
type Server struct {
	UnimplementedSupervisorServer
	cfg   ServerConfig
	log   *zap.Logger
	slots chan struct{}
}

// NewServer checks cfg and makes a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Domain < 1 || cfg.Domain > MaxDomain {
		return nil, fmt.Errorf("protocol server: domain %d outside 1..%d", cfg.Domain, MaxDomain)
	}
	if err := checkName("name", cfg.Name, true); err != nil {
		return nil, fmt.Errorf("protocol server: %w", err)
	}
	if err := checkRole(cfg.Role); err != nil {
		return nil, fmt.Errorf("protocol server: %w", err)
	}
	if cfg.Serve == nil {
		return nil, errors.New("protocol server: no Serve function")
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{cfg: cfg, log: log, slots: make(chan struct{}, cfg.MaxSessions)}, nil
}

// Register adds the Supervisor service to g.
func (s *Server) Register(g *grpc.Server) { RegisterSupervisorServer(g, s) }

// ServerOptions are the gRPC server options a VSM listens with: mutual
// TLS from conf (see ServerTLS), the message size limit, a bound on the
// TLS handshake (a flood of half-open connections is dropped instead of
// held), one stream per connection, and keepalive at gRPC's 10 s floor
// for dead TCP connections (liveness itself is the 1 s heartbeat).
func ServerOptions(conf *tls.Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(conf)),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.MaxConcurrentStreams(2),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTime}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime, PermitWithoutStream: true}),
	}
}

// Connect serves one VEM's stream (the gRPC handler). Serve runs on this
// goroutine: a goroutine that only waited for the session's end would
// hold a stack for every VEM. That goroutine stays parked under Serve for
// the session's life, and the runtime only shrinks a stack to four times
// what it uses, so what opens and closes the session is in functions of
// their own: their frames (logging, the handshake) are not on the stack
// while the session runs.
func (s *Server) Connect(stream Supervisor_ConnectServer) error {
	vs, err := s.open(stream)
	if err != nil {
		return err
	}
	return s.close(vs, s.cfg.Serve(vs.s.ctx, vs))
}

// open checks the VEM's identity and Hello, sends the Welcome and starts
// the session; its error is the stream's status.
//
//go:noinline
func (s *Server) open(stream Supervisor_ConnectServer) (*VEMSession, error) {
	ctx := stream.Context()
	// The session's fields go with each line rather than into a child
	// logger, which would keep an encoder buffer per session.
	var fields []zap.Field
	if p, ok := peer.FromContext(ctx); ok {
		fields = append(fields, zap.Stringer("peer", p.Addr))
	}
	log := s.log
	warn := func(msg string, err error) {
		log.Warn(msg, append(fields[:len(fields):len(fields)], zap.Error(err))...)
	}
	id, err := streamIdentity(ctx, KindVEM)
	if err != nil {
		warn("session refused", err)
		return nil, toStatus(err)
	}
	fields = append(fields, zap.String("host", id.Name))
	select {
	case s.slots <- struct{}{}:
	default:
		err := fmt.Errorf("%w: this VSM serves %d sessions already", ErrBusy, s.cfg.MaxSessions)
		warn("session refused", err)
		return nil, toStatus(err)
	}
	hello, err := s.hello(stream, id)
	if err != nil {
		<-s.slots
		warn("session refused", err)
		return nil, toStatus(err)
	}
	local := CurrentVersion()
	welcome := &Envelope{Domain: s.cfg.Domain, Body: &Envelope_Welcome{Welcome: &Welcome{
		Name: s.cfg.Name, Role: s.cfg.Role, Version: local,
	}}}
	if err := stream.Send(welcome); err != nil {
		<-s.slots
		warn("session lost before it began", err)
		return nil, toStatus(fromStream(err))
	}

	// The session ends through its reader, which sees why the stream ended
	// (a refused oversized or undecodable message cancels the stream's
	// context too, and would hide the reason).
	sess := newSession(context.WithoutCancel(ctx), stream, s.cfg.Domain, KindVSM, KindVEM, log)
	sess.logFields = fields
	vs := &VEMSession{s: sess, hello: hello, peer: id, version: negotiate(local, hello.GetVersion())}
	sess.start()
	log.Info("session open", append(fields[:len(fields):len(fields)], zap.String("version", versionString(vs.version)),
		zap.Uint32("module", hello.GetModule()), zap.Uint64("lastGeneration", hello.GetLastGeneration()))...)
	return vs, nil
}

// close ends vs's session after Serve returned err, and is the stream's
// status.
//
//go:noinline
func (s *Server) close(vs *VEMSession, err error) error {
	defer func() { <-s.slots }()
	sess := vs.s
	if err == nil {
		err = fmt.Errorf("%w: the VSM ended the session", ErrClosed)
	}
	sess.fail(err)
	cause := sess.closedErr()
	if !sess.waitWriter() {
		sess.warn("session writer still blocked in Send after its end", cause)
	}
	if isClosed(cause) {
		s.log.Info("session closed", append(sess.logFields[:len(sess.logFields):len(sess.logFields)], zap.Error(cause))...)
	} else {
		sess.warn("session ended", cause)
	}
	return toStatus(cause)
}

// hello reads and checks the VEM's first message.
func (s *Server) hello(stream Supervisor_ConnectServer, id Identity) (*Hello, error) {
	type result struct {
		env *Envelope
		err error
	}
	got := make(chan result, 1)
	go func() {
		env, err := stream.Recv()
		got <- result{env, err}
	}()
	var r result
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case r = <-got:
	case <-t.C:
		return nil, fmt.Errorf("%w: no hello within %s", ErrMalformed, handshakeTimeout)
	}
	if r.err != nil {
		return nil, fmt.Errorf("hello: %w", fromStream(r.err))
	}
	if err := checkEnvelope(r.env, s.cfg.Domain, KindVEM); err != nil {
		return nil, err
	}
	hello := r.env.GetHello()
	if hello == nil {
		return nil, fmt.Errorf("%w: the first message must be a hello", ErrMalformed)
	}
	if hello.GetHost() != id.Name {
		return nil, fmt.Errorf("%w: hello from host %q over the certificate of %q", ErrIdentity, hello.GetHost(), id.Name)
	}
	if err := compatible(CurrentVersion(), hello.GetVersion()); err != nil {
		return nil, err
	}
	return hello, nil
}

// streamIdentity is the verified identity of a stream's TLS peer.
func streamIdentity(ctx context.Context, kinds ...Kind) (Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, fmt.Errorf("%w: no peer", ErrIdentity)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, fmt.Errorf("%w: not over TLS", ErrIdentity)
	}
	return peerIdentity(info.State, kinds...)
}
