package ha

import (
	"errors"
	"fmt"
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// Timing defaults, from the HA guide where it gives them.
const (
	// DefaultHeartbeatInterval is the interval of VSM-to-VSM heartbeat
	// requests.
	DefaultHeartbeatInterval = time.Second
	// DefaultDiscoveryWindow is how long a booting VSM looks for a peer
	// before it becomes active; the guide gives no figure.
	DefaultDiscoveryWindow = 3 * time.Second
	// DefaultSwitchoverTimeout bounds a manual switchover; past it the
	// supervisors reset.
	DefaultSwitchoverTimeout = 28 * time.Second
	// DefaultCollisionExpiry is how long a role collision entry stays
	// after its latest collision.
	DefaultCollisionExpiry = time.Hour
	// MaxCollisions is the number of colliding VSMs reported.
	MaxCollisions = 8
)

// Config is a Node's identity and timing.
type Config struct {
	// Name identifies the VSM to its peer; required.
	Name string
	// Domain (1..4095) is shared by the pair; other domains are ignored.
	Domain int
	// Role is standalone (default), primary or secondary.
	Role config.Role
	// Epoch is the last epoch this VSM knew (persisted across restarts);
	// it only grows.
	Epoch uint64
	// HeartbeatInterval is the request interval; 0 means 1 s.
	HeartbeatInterval time.Duration
	// HeartbeatLossInterval (6..30 s; 0 means 15 s) is the silence after
	// which the peer is lost; half of it on the control path degrades.
	HeartbeatLossInterval time.Duration
	// DiscoveryWindow is how long a booting VSM looks for a peer; 0 means
	// DefaultDiscoveryWindow.
	DiscoveryWindow time.Duration
	// SwitchoverTimeout bounds a manual switchover; 0 means 28 s.
	SwitchoverTimeout time.Duration
	// CollisionExpiry is how long a role collision stays listed after its
	// latest collision; 0 means one hour.
	CollisionExpiry time.Duration
}

// withDefaults returns c with its zero durations and role defaulted, or
// an error naming every invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Role == "" {
		c.Role = config.RoleStandalone
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.HeartbeatLossInterval, config.DefaultHeartbeatLossInterval)
	def(&c.DiscoveryWindow, DefaultDiscoveryWindow)
	def(&c.SwitchoverTimeout, DefaultSwitchoverTimeout)
	def(&c.CollisionExpiry, DefaultCollisionExpiry)
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if c.Domain < 1 || c.Domain > config.MaxDomain {
		errs = append(errs, fmt.Errorf("domain %d is not in 1..%d", c.Domain, config.MaxDomain))
	}
	switch c.Role {
	case config.RoleStandalone, config.RolePrimary, config.RoleSecondary:
	default:
		errs = append(errs, fmt.Errorf("role %q is not standalone, primary or secondary", c.Role))
	}
	if c.HeartbeatLossInterval < config.MinHeartbeatLossInterval || c.HeartbeatLossInterval > config.MaxHeartbeatLossInterval {
		errs = append(errs, fmt.Errorf("heartbeat loss interval %v is not in %v..%v",
			c.HeartbeatLossInterval, config.MinHeartbeatLossInterval, config.MaxHeartbeatLossInterval))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval},
		{"discovery window", c.DiscoveryWindow},
		{"switchover timeout", c.SwitchoverTimeout},
		{"collision expiry", c.CollisionExpiry},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("ha: %w", err)
	}
	return c, nil
}
