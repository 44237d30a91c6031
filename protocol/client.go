package protocol

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/vem-switch/vem/spec"
)

// ClientConfig configures the VEM end of a session with one VSM.
type ClientConfig struct {
	// Domain is the switch's domain ID, 1..4095.
	Domain uint32
	// Host holds the VEM's host facts (its file in VSM mode): Host.Host
	// names the VEM and must be the name its certificate carries;
	// Host.VTEP is announced in the Hello. Every configuration received
	// is merged with these facts and validated before it is delivered.
	Host *spec.Switch
	// Validate tunes that validation (the datapath's limits, interface
	// checks).
	Validate spec.ValidateOptions
	// TLS is the VEM's client configuration (see ClientTLS).
	TLS *tls.Config
	// LastGeneration and Module are what the VEM held (0: nothing).
	LastGeneration uint64
	Module         uint32
	// Logger receives refusals and session ends; nil logs nothing.
	Logger *zap.Logger
	// Version overrides the version announced; nil means CurrentVersion.
	// Only tests of version negotiation set it.
	Version *Version

	// trace, for tests, sees every checked message as the reader takes it
	// off the wire.
	trace func(*Envelope, time.Time)
}

// VSMSession is a VEM's session with one VSM. Its methods are safe for
// concurrent use.
type VSMSession struct {
	s       *session
	conn    *grpc.ClientConn
	peer    Identity
	welcome *Welcome
	version *Version
	cfg     ClientConfig

	asm     reassembler // reader only
	lastHB  atomic.Pointer[heartbeatSeen]
	closeMu sync.Once
}

// heartbeatSeen is a heartbeat and when the reader took it off the wire.
type heartbeatSeen struct {
	hb *Heartbeat
	at time.Time
}

// DialOptions are the gRPC dial options of a VEM: mutual TLS from conf,
// the message size limit and keepalive at gRPC's 10 s floor.
func DialOptions(conf *tls.Config) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTime}),
	}
}

// Dial opens a session with the VSM at addr (host:port): TLS with the
// VSM's certificate checked, the Hello, and the VSM's Welcome, which must
// come from the name its certificate carries. A refusal (domain, version,
// identity) comes back as an error matching ErrDomain, ErrVersion,
// ErrIdentity... with errors.Is. The session runs until Close or until
// either side ends it (Done, Err); Close it then too, to release the
// connection.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*VSMSession, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("vsm", addr))

	// The VSM's identity, as its certificate names it: captured in this
	// connection's own copy of the TLS configuration.
	var seen atomic.Pointer[Identity]
	conf := cfg.TLS.Clone()
	verify := conf.VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		id, err := peerIdentity(cs, KindVSM)
		if err != nil {
			return err
		}
		seen.Store(&id)
		return nil
	}
	conn, err := grpc.NewClient(addr, DialOptions(conf)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	v, err := open(ctx, conn, cfg, log, &seen)
	if err != nil {
		conn.Close()
		log.Warn("session refused", zap.Error(err))
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return v, nil
}

// check checks a ClientConfig.
func (cfg *ClientConfig) check() error {
	if cfg.Domain < 1 || cfg.Domain > MaxDomain {
		return fmt.Errorf("domain %d outside 1..%d", cfg.Domain, MaxDomain)
	}
	if cfg.Host == nil {
		return errors.New("no host facts")
	}
	if err := checkName("host", cfg.Host.Host, true); err != nil {
		return err
	}
	if cfg.TLS == nil {
		return errors.New("no TLS configuration")
	}
	return nil
}

// open runs the Hello/Welcome exchange on a new stream and starts the
// session.
func open(ctx context.Context, conn *grpc.ClientConn, cfg ClientConfig, log *zap.Logger, seen *atomic.Pointer[Identity]) (*VSMSession, error) {
	// The stream outlives ctx (which only bounds the handshake): it ends
	// with the session.
	streamCtx, cancel := context.WithCancel(context.Background())
	stream, err := NewSupervisorClient(conn).Connect(streamCtx)
	if err != nil {
		cancel()
		return nil, fromStream(err)
	}
	version := cfg.Version
	if version == nil {
		version = CurrentVersion()
	}
	hello := &Hello{Host: cfg.Host.Host, Version: version, LastGeneration: cfg.LastGeneration, Module: cfg.Module}
	if cfg.Host.VTEP != nil {
		hello.Vtep = cfg.Host.VTEP.Address
	}
	env := &Envelope{Domain: cfg.Domain, Body: &Envelope_Hello{Hello: hello}}
	if err := checkEnvelope(env, cfg.Domain, KindVEM); err != nil {
		cancel()
		return nil, err
	}
	type result struct {
		env *Envelope
		err error
	}
	got := make(chan result, 1)
	go func() {
		if err := stream.Send(env); err != nil {
			got <- result{nil, err}
			return
		}
		env, err := stream.Recv()
		got <- result{env, err}
	}()
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	if r.err != nil {
		cancel()
		return nil, fromStream(r.err)
	}
	id := seen.Load()
	if id == nil {
		cancel()
		return nil, fmt.Errorf("%w: no verified VSM certificate", ErrIdentity)
	}
	if err := checkEnvelope(r.env, cfg.Domain, KindVSM); err != nil {
		cancel()
		return nil, err
	}
	welcome := r.env.GetWelcome()
	if welcome == nil {
		cancel()
		return nil, fmt.Errorf("%w: the VSM's first message is not a welcome", ErrMalformed)
	}
	if welcome.GetName() != id.Name {
		cancel()
		return nil, fmt.Errorf("%w: welcome from %q over the certificate of %q", ErrIdentity, welcome.GetName(), id.Name)
	}
	if err := compatible(version, welcome.GetVersion()); err != nil {
		cancel()
		return nil, err
	}

	sess := newSession(streamCtx, stream, cfg.Domain, KindVEM, KindVSM, log.With(zap.String("name", id.Name)))
	v := &VSMSession{s: sess, conn: conn, peer: *id, welcome: welcome, version: negotiate(version, welcome.GetVersion()), cfg: cfg}
	sess.handle = v.handle
	context.AfterFunc(sess.ctx, cancel)
	sess.start()
	return v, nil
}

// handle turns a checked message into an event on the reader, which
// must stay quick: heartbeats are recorded as they come off the wire,
// whatever the application is doing; chunks are only put back together.
// Chunks out of place end the session. A whole snapshot is decoded and
// validated by Recv, on the application's time.
func (v *VSMSession) handle(env *Envelope) (Event, error) {
	now := time.Now()
	if v.cfg.trace != nil {
		v.cfg.trace(env, now)
	}
	switch b := env.GetBody().(type) {
	case *Envelope_Heartbeat:
		if b.Heartbeat.GetName() != v.peer.Name {
			return nil, fmt.Errorf("%w: heartbeat of %q over the session of %q", ErrIdentity, b.Heartbeat.GetName(), v.peer.Name)
		}
		v.lastHB.Store(&heartbeatSeen{hb: b.Heartbeat, at: now})
		return b.Heartbeat, nil
	case *Envelope_SnapshotChunk:
		c := b.SnapshotChunk
		data, err := v.asm.add(c)
		if err != nil || data == nil {
			return nil, err
		}
		return &rawConfig{data: data, generation: c.GetGeneration(), nonce: c.GetNonce()}, nil
	}
	return eventOf(env), nil
}

// rawConfig is a reassembled snapshot waiting in the inbox to be decoded.
type rawConfig struct {
	data              []byte
	generation, nonce uint64
}

func (*rawConfig) isEvent() {}

// decodeConfig decodes a reassembled snapshot into a validated Config.
func (v *VSMSession) decodeConfig(data []byte, gen, nonce uint64) (*Config, error) {
	snap, err := decodeSnapshot(data, gen)
	if err != nil {
		return nil, err
	}
	network, err := DecodeNetwork(snap.GetNetwork())
	if err != nil {
		return nil, err
	}
	sw := MergeNetwork(v.cfg.Host, network)
	if err := sw.Validate(v.cfg.Validate); err != nil {
		return nil, fmt.Errorf("configuration of generation %d: %w", gen, err)
	}
	return &Config{Generation: gen, Nonce: nonce, Switch: sw, Bindings: snap.GetBindings(), MACs: snap.GetMacs(), Size: len(data)}, nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Peer is the VSM's verified identity (its name).
func (v *VSMSession) Peer() Identity { return v.peer }

// Welcome is the VSM's answer to the Hello: its name, role and version.
func (v *VSMSession) Welcome() *Welcome { return v.welcome }

// Version is the protocol version the session speaks: the lower minor.
func (v *VSMSession) Version() *Version { return v.version }

// LastHeartbeat is the VSM's latest heartbeat and when it came off the
// wire (zero before the first), whether or not the application has
// taken it with Recv yet.
func (v *VSMSession) LastHeartbeat() (*Heartbeat, time.Time) {
	if h := v.lastHB.Load(); h != nil {
		return h.hb, h.at
	}
	return nil, time.Time{}
}

// RequestAttach asks the VSM to make this VEM its module; AttachAccepted
// and a snapshot answer. It goes ahead of bulk work.
func (v *VSMSession) RequestAttach(reason AttachReason) error {
	return v.s.sendControl(&Envelope{Body: &Envelope_AttachRequest{AttachRequest: &AttachRequest{Reason: reason}}})
}

// Ack acknowledges a configuration once applied.
func (v *VSMSession) Ack(c *Config) error {
	return v.s.sendControl(&Envelope{Body: &Envelope_ConfigAck{ConfigAck: &ConfigAck{Generation: c.Generation, Nonce: c.Nonce}}})
}

// Nack refuses a configuration; the VEM keeps the one it had.
func (v *VSMSession) Nack(c *Config, reason error) error {
	n := &ConfigNack{Generation: c.Generation, Nonce: c.Nonce, Reason: truncate(reason.Error(), MaxReasonLen)}
	return v.s.sendControl(&Envelope{Body: &Envelope_ConfigNack{ConfigNack: n}})
}

// AttachPort asks the VSM for a port's binding, in order with the other
// port events.
func (v *VSMSession) AttachPort(ctx context.Context, p *PortAttach) error {
	if err := v.s.sendBulk(ctx, &Envelope{Body: &Envelope_PortAttach{PortAttach: p}}); err != nil {
		return fmt.Errorf("attach port: %w", err)
	}
	return nil
}

// DetachPort releases a port's binding.
func (v *VSMSession) DetachPort(ctx context.Context, p *PortDetach) error {
	if err := v.s.sendBulk(ctx, &Envelope{Body: &Envelope_PortDetach{PortDetach: p}}); err != nil {
		return fmt.Errorf("detach port: %w", err)
	}
	return nil
}

// Detach tells the VSM this VEM leaves it, after the port events before it.
func (v *VSMSession) Detach(ctx context.Context, reason string) error {
	if err := v.s.sendBulk(ctx, &Envelope{Body: &Envelope_Detach{Detach: &Detach{Reason: reason}}}); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	return nil
}

// Recv returns the VSM's next message (*Heartbeat, *SwitchRequest,
// *AttachAccepted, *Config, *PortBinding, *MacUpdate), control messages
// first; of several configurations not yet taken only the newest is
// kept. After the session ends it returns what is pending, then the reason
// it ended.
//
// A snapshot is decoded, merged with the host facts and validated here;
// one that fails is refused with a ConfigNack and logged, and Recv goes
// on to the next message: the VEM keeps the configuration it had.
func (v *VSMSession) Recv(ctx context.Context) (Event, error) {
	for {
		ev, err := v.s.recv(ctx)
		if err != nil {
			return nil, err
		}
		raw, ok := ev.(*rawConfig)
		if !ok {
			return ev, nil
		}
		cfg, err := v.decodeConfig(raw.data, raw.generation, raw.nonce)
		if err == nil {
			return cfg, nil
		}
		v.s.log.Warn("configuration refused", zap.Uint64("generation", raw.generation), zap.Error(err))
		nack := &ConfigNack{Generation: raw.generation, Nonce: raw.nonce, Reason: truncate(err.Error(), MaxReasonLen)}
		if err := v.s.sendControl(&Envelope{Body: &Envelope_ConfigNack{ConfigNack: nack}}); err != nil {
			return nil, fmt.Errorf("refuse configuration %d: %w", raw.generation, err)
		}
	}
}

// Done is closed when the session ends.
func (v *VSMSession) Done() <-chan struct{} { return v.s.ctx.Done() }

// Err is why the session ended, nil while it runs.
func (v *VSMSession) Err() error { return v.s.err() }

// Close ends the session and its connection.
func (v *VSMSession) Close() error {
	var err error
	v.closeMu.Do(func() {
		v.s.fail(fmt.Errorf("%w: closed by the VEM", ErrClosed))
		v.s.waitWriter()
		err = v.conn.Close()
	})
	if err != nil {
		return fmt.Errorf("close session with %s: %w", v.peer.Name, err)
	}
	return nil
}
