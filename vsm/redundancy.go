package vsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/pair"
)

// RoleFile, in the dataDir, holds the role `vsm system redundancy role`
// set; it overrides the VSM file's from the next boot.
const RoleFile = "redundancy-role"

// storedRole reads RoleFile: "" when there is none.
func storedRole(dataDir string) (config.Role, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, RoleFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the redundancy role: %w", err)
	}
	r := config.Role(strings.TrimSpace(string(data)))
	switch r {
	case config.RoleStandalone, config.RolePrimary, config.RoleSecondary:
		return r, nil
	}
	return "", fmt.Errorf("%s: %q is not standalone, primary or secondary", filepath.Join(dataDir, RoleFile), r)
}

// setRole records role for the next boot.
func (s *Supervisor) setRole(role config.Role) (api.RoleResponse, error) {
	if role.Paired() && (s.cfg.Control == nil || s.cfg.TLS == nil) {
		return api.RoleResponse{}, &api.Error{Status: 409,
			Message: fmt.Sprintf("role %s needs a control path and tls in the VSM file", role)}
	}
	path := filepath.Join(s.cfg.DataDir, RoleFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(string(role)+"\n"), 0o600); err != nil {
		return api.RoleResponse{}, fmt.Errorf("record the redundancy role: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return api.RoleResponse{}, fmt.Errorf("record the redundancy role: %w", err)
	}
	msg := "the role takes effect at the next boot"
	if role == s.cfg.Role {
		msg = "this VSM already runs with this role"
	}
	return api.RoleResponse{Role: s.cfg.Role, NextBoot: role, Message: msg}, nil
}

// setupRedundancy makes the HA pair of a paired VSM, or the redundancy
// state machine of a standalone one (active at once).
func (s *Supervisor) setupRedundancy(opts Options) error {
	if s.cfg.Role.Paired() {
		p, err := pair.New(pair.Config{VSM: s.cfg, Store: s.store, VEMs: s.vems, Clock: opts.Clock,
			DiscoveryWindow: opts.DiscoveryWindow, Logger: s.log.Named("pair")})
		if err != nil {
			return err
		}
		s.pair, s.node = p, p.Node()
		return nil
	}
	epoch, err := s.store.Epoch()
	if err != nil {
		return err
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.System()
	}
	s.node, err = ha.New(ha.Config{Name: s.cfg.Name, Domain: s.cfg.Domain, Role: config.RoleStandalone, Epoch: epoch},
		clk, standalone{})
	return err
}

// standalone is the actions of a standalone VSM's Node: it has no peer.
type standalone struct{}

func (standalone) SendHeartbeat(ha.Path, ha.Heartbeat) {}
func (standalone) BroadcastSwitchRequest(uint64)       {}
func (standalone) RestartAsStandby(ha.Reason)          {}
func (standalone) Reboot(ha.Reason)                    {}
func (standalone) Resynchronise()                      {}
func (standalone) ReportCollision(ha.Collision)        {}

// writable refuses northbound changes on a VSM that is not active.
func (s *Supervisor) writable() error {
	if st := s.node.Status(); st.State != ha.Active {
		return fmt.Errorf("%s is the %s supervisor: changes go to the active one (peer %s)", s.cfg.Name, st.State, st.Peer.Name)
	}
	return nil
}
