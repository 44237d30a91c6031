// Package vsm is the Virtual Supervisor Module: the management plane that
// holds the network definition (segments with their bridge domains,
// policy profiles, pre-created ports), the ports VEMs bind and the
// dynamic port profiles they use, serves them to operators and
// orchestrators through the northbound API, and to the VEMs through
// their sessions (gRPC over mutual TLS, package protocol).
//
// Its state is vsm/store (in bbolt under the VSM file's dataDir), its
// northbound API vsm/api, its VEM sessions vsm/vems. The HA pair comes
// (vsm/pair) runs when the VSM file's role is primary or secondary: its
// redundancy state machine (vsm/ha) over heartbeats on the control and
// management paths, and the replication of the store to the standby. A
// standalone supervisor is active at once, at its stored epoch.
package vsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/pair"
	"github.com/vem-switch/vem/vsm/store"
	"github.com/vem-switch/vem/vsm/vems"
)

// ShutdownTimeout bounds how long Serve waits for API requests in flight
// when it stops.
const ShutdownTimeout = 5 * time.Second

// Options tune New; the zero value is the production setting.
type Options struct {
	// HeartbeatInterval is vems.DefaultHeartbeatInterval when 0.
	HeartbeatInterval time.Duration
	// Clock drives the redundancy state machine; nil is the system clock.
	Clock clock.Clock
	// DiscoveryWindow is ha.DefaultDiscoveryWindow when 0.
	DiscoveryWindow time.Duration
}

// Listeners are what Serve serves on. API is required; VEM nil serves no
// VEM sessions; Control and Management nil are listened on at the VSM
// file's addresses (a VSM of a pair only).
type Listeners struct {
	API, VEM, Control, Management net.Listener
}

// Supervisor is one VSM: its store, its northbound API and its VEM
// sessions.
type Supervisor struct {
	cfg   *config.Config
	log   *zap.Logger
	store *store.Store
	api   *api.Server
	vems  *vems.Manager
	grpc  *grpc.Server // nil without tls: no VEM sessions
	node  *ha.Node     // the redundancy state machine
	pair  *pair.Pair   // nil standalone
}

// New opens the VSM's store in cfg.DataDir and, when the file names TLS
// credentials, prepares the VEM sessions (mutual TLS: the certificate
// must be a VSM's, named as the file names this VSM). A nil log discards.
// Close the supervisor (or let Run end) to release the data file.
func New(cfg *config.Config, log *zap.Logger, opts Options) (*Supervisor, error) {
	if log == nil {
		log = zap.NewNop()
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, store.FileName), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("vsm %s: %w", cfg.Name, err)
	}
	role, err := storedRole(cfg.DataDir)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("vsm %s: %w", cfg.Name, err)
	}
	if role != "" && role != cfg.Role {
		log.Info("redundancy role set by vsm system redundancy role", zap.String("file", string(cfg.Role)), zap.String("role", string(role)))
		c := *cfg
		c.Role = role
		cfg = &c
	}
	s := &Supervisor{cfg: cfg, log: log, store: st}
	if err := s.setup(opts); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("vsm %s: %w", cfg.Name, err)
	}
	return s, nil
}

// setup makes the VEM sessions' manager, their gRPC server and the API.
func (s *Supervisor) setup(opts Options) error {
	role := roleOf(s.cfg.Role)
	m, err := vems.New(vems.Config{Name: s.cfg.Name, Role: role, Store: s.store,
		HeartbeatInterval: opts.HeartbeatInterval, Logger: s.log.Named("vems")})
	if err != nil {
		return err
	}
	s.vems = m
	if err := s.setupRedundancy(opts); err != nil {
		return err
	}
	info := api.Info{Name: s.cfg.Name, Domain: s.cfg.Domain, Role: string(s.cfg.Role), Module: s.cfg.Role.Module(),
		Modules: s.modules, Redundancy: s.node.Status, Switchover: s.node.Switchover, SetRole: s.setRole,
		Writable: s.writable}
	if s.pair != nil {
		info.Replicated = s.pair.Replicated
	}
	s.api = api.NewServer(s.store, info, s.log.Named("api"))
	if s.cfg.TLS == nil {
		return nil
	}
	conf, err := protocol.ServerTLS(protocol.TLSFiles{CA: s.cfg.TLS.CA, Cert: s.cfg.TLS.Cert, Key: s.cfg.TLS.Key})
	if err != nil {
		return err
	}
	if leaf := conf.Certificates[0].Leaf; leaf != nil && leaf.Subject.CommonName != s.cfg.Name {
		return fmt.Errorf("tls.cert %s is the certificate of %q, not of this VSM %q: VEMs would refuse it",
			s.cfg.TLS.Cert, leaf.Subject.CommonName, s.cfg.Name)
	}
	srv, err := protocol.NewServer(protocol.ServerConfig{Domain: uint32(s.cfg.Domain), Name: s.cfg.Name, Role: role,
		Serve: m.Serve, Logger: s.log.Named("protocol")})
	if err != nil {
		return err
	}
	s.grpc = grpc.NewServer(append(protocol.ServerOptions(conf), sessionBuffers...)...)
	srv.Register(s.grpc)
	return nil
}

// sessionBuffers keep what every VEM session's connection holds small,
// thousands of them being mostly idle: no read buffer of its own (gRPC's
// framer reads from the TLS connection, which buffers a record; gRPC's
// default holds 32 KiB per connection for its life), and no write buffer
// either. gRPC's write buffer comes from a pool while there is something to
// write, but its writer yields holding it after a small write, and the
// heartbeat sent to every VEM at once each second made that every
// connection: 2,000 sessions kept 16 MB of buffers in the pool, and twice
// that in memory with the collector's headroom. Unbuffered, a frame goes to
// TLS as it is written (a heartbeat is two TLS records instead of one; a
// snapshot chunk's 16 KiB frames are large already).
var sessionBuffers = []grpc.ServerOption{grpc.ReadBufferSize(0), grpc.WriteBufferSize(0)}

// roleOf is a VSM file role as the protocol names it.
func roleOf(r config.Role) protocol.Role {
	switch r {
	case config.RolePrimary:
		return protocol.Role_ROLE_PRIMARY
	case config.RoleSecondary:
		return protocol.Role_ROLE_SECONDARY
	}
	return protocol.Role_ROLE_STANDALONE
}

// modules lists the VEMs for the API's show module.
func (s *Supervisor) modules() ([]api.Module, error) {
	mods, err := s.vems.Modules()
	if err != nil {
		return nil, err
	}
	out := make([]api.Module, 0, len(mods))
	for _, m := range mods {
		if m.Module == 0 {
			continue // a session that has not attached
		}
		am := api.Module{Module: m.Module, Host: m.Host, Status: m.Status, VTEP: m.VTEP,
			Generation: m.AckedGeneration, SentGeneration: m.SentGeneration, Nack: m.Nack, NackGeneration: m.NackGeneration}
		if m.Status == vems.StatusOK {
			am.VSM = s.cfg.Name
			since := m.Since.UTC()
			am.Since = &since
		}
		out = append(out, am)
	}
	return out, nil
}

// Node is the VSM's redundancy state machine.
func (s *Supervisor) Node() *ha.Node { return s.node }

// Store is the VSM's state, for the HA pair.
func (s *Supervisor) Store() *store.Store { return s.store }

// VEMs is the VSM's VEM sessions, for the HA pair (SetState,
// SwitchRequest).
func (s *Supervisor) VEMs() *vems.Manager { return s.vems }

// Close releases the store.
func (s *Supervisor) Close() error { return s.store.Close() }

// Run listens on the VSM file's api address and, with TLS credentials,
// on its listen address for VEM sessions, and serves until ctx ends, then
// closes the supervisor.
func (s *Supervisor) Run(ctx context.Context) error {
	apiLn, err := net.Listen("tcp", s.cfg.API)
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("vsm %s: listen for the API: %w", s.cfg.Name, err)
	}
	var vemLn net.Listener
	if s.grpc != nil {
		if vemLn, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			_ = apiLn.Close()
			_ = s.Close()
			return fmt.Errorf("vsm %s: listen for VEM sessions: %w", s.cfg.Name, err)
		}
	}
	return s.ServeListeners(ctx, Listeners{API: apiLn, VEM: vemLn})
}

// Serve serves the northbound API on apiLn and VEM sessions on vemLn
// (nil, or a VSM file without tls: none) until ctx ends, then ends the
// sessions, lets the API requests in flight finish (up to
// ShutdownTimeout) and closes the supervisor.
func (s *Supervisor) Serve(ctx context.Context, apiLn, vemLn net.Listener) error {
	return s.ServeListeners(ctx, Listeners{API: apiLn, VEM: vemLn})
}

// ServeListeners is Serve, with the pair's listeners too.
func (s *Supervisor) ServeListeners(ctx context.Context, l Listeners) error {
	apiLn, vemLn := l.API, l.VEM
	if s.pair != nil && l.Control == nil {
		var err error
		if l.Control, l.Management, err = s.pair.Listen(); err != nil {
			_ = apiLn.Close()
			if vemLn != nil {
				_ = vemLn.Close()
			}
			_ = s.Close()
			return fmt.Errorf("vsm %s: %w", s.cfg.Name, err)
		}
	}
	fields := []zap.Field{zap.String("name", s.cfg.Name), zap.Int("domain", s.cfg.Domain),
		zap.String("role", string(s.cfg.Role)), zap.Stringer("api", apiLn.Addr()), zap.Uint64("generation", s.store.Generation())}
	if vemLn != nil && s.grpc != nil {
		fields = append(fields, zap.Stringer("listen", vemLn.Addr()))
	} else {
		if vemLn != nil {
			_ = vemLn.Close()
		}
		vemLn = nil
		s.log.Warn("no tls in the VSM file: VEM sessions are not served")
	}
	s.log.Info("vsm serving", fields...)
	s.servePprof()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 4)
	n := 2
	go func() { errs <- s.api.Serve(apiLn) }()
	go func() { errs <- s.vems.Run(ctx) }()
	if s.pair != nil {
		n++
		go func() { errs <- s.pair.Run(ctx, l.Control, l.Management) }()
	} else {
		s.node.Start()
		defer s.node.Stop()
	}
	if vemLn != nil {
		n++
		go func() {
			if err := s.grpc.Serve(vemLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errs <- fmt.Errorf("serve VEM sessions on %s: %w", vemLn.Addr(), err)
				return
			}
			errs <- nil
		}()
	}
	var err error
	select {
	case err = <-errs:
		n--
	case <-ctx.Done():
	}
	cancel()
	if s.grpc != nil {
		s.grpc.Stop()
	}
	sctx, scancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	err = errors.Join(err, s.api.Shutdown(sctx))
	scancel()
	for ; n > 0; n-- {
		err = errors.Join(err, <-errs)
	}
	s.log.Info("vsm stopped", zap.Uint64("generation", s.store.Generation()))
	return errors.Join(err, s.Close())
}

// PprofEnv names the environment variable that, set to a loopback
// address, serves Go's profiles (net/http/pprof) there: what
// test/bench -vsm profiles the supervisor with. Unset, nothing listens.
const PprofEnv = "VSM_PPROF"

// servePprof serves the profiles at $VSM_PPROF, if set, for the life of
// the process.
func (s *Supervisor) servePprof() {
	addr := os.Getenv(PprofEnv)
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.log.Warn("profiles not served", zap.String(PprofEnv, addr), zap.Error(err))
		return
	}
	s.log.Info("serving profiles", zap.Stringer("address", ln.Addr()))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
}
