// Package config is the VSM file (`vsm run --config /etc/vsm/vsm.yaml`):
// the supervisor's identity, its place in an HA pair, its addresses, its
// data directory and credentials. Load decodes it strictly and validates
// every field, reporting every problem at once with its field path and
// line, as the agent file's spec package does.
package config

import (
	"time"

	"github.com/vem-switch/vem/spec"
)

// DefaultPath is where the vsm commands look for the VSM file.
const DefaultPath = "/etc/vsm/vsm.yaml"

// Defaults of the fields the file may leave out.
const (
	DefaultAPI                   = "127.0.0.1:8443"
	DefaultDataDir               = "/var/lib/vsm"
	DefaultHeartbeatLossInterval = 15 * time.Second
	MinHeartbeatLossInterval     = 6 * time.Second
	MaxHeartbeatLossInterval     = 30 * time.Second
	MaxDomain                    = 4095
)

// Role is a VSM's place in an HA pair.
type Role string

// Roles: a standalone VSM (module 1) or one of a pair, primary (module 1)
// or secondary (module 2).
const (
	RoleStandalone Role = "standalone"
	RolePrimary    Role = "primary"
	RoleSecondary  Role = "secondary"
)

// Module is the module number of a VSM of the role: 1, or 2 for a
// secondary.
func (r Role) Module() int {
	if r == RoleSecondary {
		return 2
	}
	return 1
}

// Paired reports whether the role is one of an HA pair.
func (r Role) Paired() bool { return r == RolePrimary || r == RoleSecondary }

// Config is the VSM file.
type Config struct {
	// Name identifies this VSM to its peer and to operators; required.
	Name string `yaml:"name" json:"name"`
	// Domain (1..4095) is shared by the pair and its VEMs; messages of
	// another domain are refused. Required.
	Domain int `yaml:"domain" json:"domain"`
	// Role is standalone (default), primary or secondary.
	Role Role `yaml:"role" json:"role"`
	// Listen is the address (host:port) of VEM sessions, gRPC over
	// mutual TLS; required.
	Listen string `yaml:"listen" json:"listen"`
	// API is the northbound HTTP/JSON address the vsm CLI talks to;
	// default DefaultAPI. It is plain HTTP for now, so a loopback address.
	API string `yaml:"api" json:"api"`
	// Control carries VSM-to-VSM heartbeats and replication: required in
	// a pair, refused standalone.
	Control *Link `yaml:"control" json:"control,omitempty"`
	// Management is the degraded-mode heartbeat path of a pair; optional
	// there, refused standalone.
	Management *Link `yaml:"management" json:"management,omitempty"`
	// HeartbeatLossInterval is how long the pair waits without heartbeats
	// before it acts, 6s..30s; default 15s.
	HeartbeatLossInterval spec.Duration `yaml:"heartbeatLossInterval" json:"heartbeatLossInterval"`
	// DataDir holds the VSM's state (store.FileName); an absolute path,
	// default DefaultDataDir.
	DataDir string `yaml:"dataDir" json:"dataDir"`
	// TLS are the credentials of VEM sessions and of the pair.
	TLS *TLS `yaml:"tls" json:"tls,omitempty"`
}

// Link is one of the pair's paths: this VSM's address and its peer's.
type Link struct {
	Address string `yaml:"address" json:"address"`
	Peer    string `yaml:"peer" json:"peer"`
}

// TLS names PEM files: the CA that signs every VSM and VEM, and this
// VSM's certificate and key.
type TLS struct {
	CA   string `yaml:"ca" json:"ca"`
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// ApplyDefaults fills in what the file may leave out.
func (c *Config) ApplyDefaults() {
	if c.Role == "" {
		c.Role = RoleStandalone
	}
	if c.API == "" {
		c.API = DefaultAPI
	}
	if c.HeartbeatLossInterval == 0 {
		c.HeartbeatLossInterval = spec.Duration(DefaultHeartbeatLossInterval)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
}
