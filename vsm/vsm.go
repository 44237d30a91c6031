// Package vsm is the Virtual Supervisor Module: the management plane that
// holds the network definition (segments with their bridge domains,
// policy profiles, pre-created ports), the ports VEMs bind and the
// dynamic port profiles they use, and serves them to operators and
// orchestrators through the northbound API.
//
// This is the supervisor's foundation: its state (vsm/store, in bbolt
// under the VSM file's dataDir) and its northbound API (vsm/api). The VEM
// sessions (the control protocol) and the HA pair come next; they are to
// call the store's Bind, Unbind and UnbindModule as VEMs attach ports,
// and follow its Snapshot and Changes to push configuration.
package vsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/store"
)

// ShutdownTimeout bounds how long Serve waits for API requests in flight
// when it stops.
const ShutdownTimeout = 5 * time.Second

// Supervisor is one VSM: its store and its northbound API.
type Supervisor struct {
	cfg   *config.Config
	log   *zap.Logger
	store *store.Store
	api   *api.Server
}

// New opens the VSM's store in cfg.DataDir. A nil log discards. Close
// the supervisor (or let Run end) to release the data file.
func New(cfg *config.Config, log *zap.Logger) (*Supervisor, error) {
	if log == nil {
		log = zap.NewNop()
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, store.FileName), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("vsm %s: %w", cfg.Name, err)
	}
	info := api.Info{Name: cfg.Name, Domain: cfg.Domain, Role: string(cfg.Role), Module: cfg.Role.Module()}
	return &Supervisor{cfg: cfg, log: log, store: st, api: api.NewServer(st, info, log.Named("api"))}, nil
}

// Store is the VSM's state, for the VEM protocol and the HA pair.
func (s *Supervisor) Store() *store.Store { return s.store }

// Close releases the store.
func (s *Supervisor) Close() error { return s.store.Close() }

// Run listens on the VSM file's api address and serves until ctx ends,
// then closes the supervisor.
func (s *Supervisor) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.API)
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("vsm %s: listen for the API: %w", s.cfg.Name, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the northbound API on ln until ctx ends, then lets the
// requests in flight finish (up to ShutdownTimeout) and closes the
// supervisor.
func (s *Supervisor) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("vsm serving", zap.String("name", s.cfg.Name), zap.Int("domain", s.cfg.Domain),
		zap.String("role", string(s.cfg.Role)), zap.Stringer("api", ln.Addr()),
		zap.Uint64("generation", s.store.Generation()))
	done := make(chan error, 1)
	go func() { done <- s.api.Serve(ln) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		err = s.api.Shutdown(sctx)
		cancel()
		err = errors.Join(err, <-done)
	}
	s.log.Info("vsm stopped", zap.Uint64("generation", s.store.Generation()))
	return errors.Join(err, s.Close())
}
