package dpa

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/internal/clock"
)

// Defaults of Config.
const (
	// DefaultHeadlessAfter is how long the attached VSM may be silent
	// before the VEM goes headless (the guide's "about 15 s").
	DefaultHeadlessAfter = 15 * time.Second
	// HeartbeatInterval is how often VSMs send heartbeats; it measures
	// the heartbeats missed.
	HeartbeatInterval = time.Second
	// DefaultRedialMin and DefaultRedialMax bound the backoff between
	// attempts to open a session with one VSM.
	DefaultRedialMin = 500 * time.Millisecond
	DefaultRedialMax = 5 * time.Second
	// DefaultRestartMin and DefaultRestartMax bound the backoff between
	// restarts of a failed loop.
	DefaultRestartMin = 100 * time.Millisecond
	DefaultRestartMax = 10 * time.Second
	// MaxQueuedPortEvents bounds the port events kept while not attached.
	MaxQueuedPortEvents = 4096
)

// Config configures a DPA.
type Config struct {
	// Addresses are every VSM of the pair (host:port), the agent file's
	// vsm.addresses.
	Addresses []string
	// HeadlessAfter is vsm.headlessAfter; 0 means DefaultHeadlessAfter.
	HeadlessAfter time.Duration
	// Dialer opens the sessions (ProtocolDialer in the agent).
	Dialer Dialer
	// Applier receives configurations and remote MACs.
	Applier Applier
	// Checkpoints keeps every applied change; nil keeps none.
	Checkpoints Checkpointer
	// Restored is the checkpoint the agent came back from, if any: its
	// generation, module, epoch, configuration, bindings and remote MACs
	// are the DPA's starting point. The agent applies it itself.
	Restored *headless.Checkpoint
	// Clock is the time source; nil means the system clock.
	Clock clock.Clock
	// Logger receives the DPA's decisions; nil logs nothing.
	Logger *zap.Logger
	// RedialMin, RedialMax, RestartMin and RestartMax tune the backoffs;
	// 0 means the defaults.
	RedialMin, RedialMax   time.Duration
	RestartMin, RestartMax time.Duration
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if len(c.Addresses) == 0 {
		return c, errors.New("dpa: no VSM addresses")
	}
	seen := map[string]bool{}
	for _, a := range c.Addresses {
		if a == "" || seen[a] {
			return c, fmt.Errorf("dpa: VSM address %q empty or repeated", a)
		}
		seen[a] = true
	}
	if c.Dialer == nil || c.Applier == nil {
		return c, errors.New("dpa: a Dialer and an Applier are required")
	}
	if c.HeadlessAfter < 0 {
		return c, fmt.Errorf("dpa: headlessAfter %v is negative", c.HeadlessAfter)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeadlessAfter, DefaultHeadlessAfter)
	def(&c.RedialMin, DefaultRedialMin)
	def(&c.RedialMax, DefaultRedialMax)
	def(&c.RestartMin, DefaultRestartMin)
	def(&c.RestartMax, DefaultRestartMax)
	if c.Clock == nil {
		c.Clock = clock.System()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Restored != nil {
		if err := c.Restored.Check(); err != nil {
			return c, fmt.Errorf("dpa: restored checkpoint: %w", err)
		}
	}
	return c, nil
}
