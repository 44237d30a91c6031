package lacp

import (
	"errors"
	"fmt"
	"time"

	"github.com/vem-switch/vem/internal/clock"
)

// Protocol timers and limits (802.1AX-2008 5.4.4).
const (
	FastPeriodicTime   = 1 * time.Second
	SlowPeriodicTime   = 30 * time.Second
	ShortTimeoutTime   = 3 * FastPeriodicTime
	LongTimeoutTime    = 3 * SlowPeriodicTime
	AggregateWaitTime  = 2 * time.Second
	ChurnDetectionTime = 60 * time.Second
	// MaxActiveLinks is the most members that collect and distribute at
	// once; further eligible members are hot standby.
	MaxActiveLinks = 8
	// txLimit LACPDUs at most are sent per FastPeriodicTime (5.4.16).
	txLimit = 3
)

// Mode is the LACP activity of a port-channel's ports.
type Mode uint8

// Modes. A passive port transmits only once it hears an active partner, so
// two passive ends never negotiate.
const (
	ModeActive Mode = iota
	ModePassive
)

func (m Mode) String() string {
	switch m {
	case ModeActive:
		return "active"
	case ModePassive:
		return "passive"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText returns "active" or "passive".
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Rate is the LACP timeout a port-channel asks of its partner: how often the
// partner must send, and so how soon a silent partner is timed out.
type Rate uint8

// Rates.
const (
	// RateSlow: the partner sends every 30 s; silence times out after 90 s.
	RateSlow Rate = iota
	// RateFast: the partner sends every 1 s; silence times out after 3 s.
	RateFast
)

func (r Rate) String() string {
	switch r {
	case RateSlow:
		return "slow"
	case RateFast:
		return "fast"
	}
	return fmt.Sprintf("Rate(%d)", uint8(r))
}

// MarshalText returns "slow" or "fast".
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Transmitter sends slow-protocol payloads (a marshalled LACPDU or Marker
// PDU, starting at the subtype) out of a member port. It frames them: the
// destination is SlowProtocolsMAC and the source the port's own address.
type Transmitter interface {
	Transmit(port string, payload []byte) error
}

// TransmitterFunc adapts a function to a Transmitter.
type TransmitterFunc func(port string, payload []byte) error

// Transmit calls f.
func (f TransmitterFunc) Transmit(port string, payload []byte) error { return f(port, payload) }

// PortConfig is a member port of a port-channel.
//
// Number must be stable across agent restarts (the caller persists it): it is
// the port's identity towards the partner, and a changed one makes the
// partner treat the link as new.
type PortConfig struct {
	// Name is the interface name, used to address the port.
	Name string
	// Number is the actor port number: non-zero and unique in the
	// port-channel.
	Number uint16
	// Priority is the actor port priority, lower is better; it picks the
	// active members when more than MaxActive are eligible.
	// DefaultPortPriority is the customary value.
	Priority uint16
	// Key is the port's actor key; 0 means the port-channel's Key. A port
	// whose key differs from the port-channel's is never aggregated.
	Key uint16
}

// Config describes one port-channel (one Aggregator).
//
// System, Key and the ports' Numbers are the actor's identity towards the
// partner and must be stable across agent restarts, upgrades and failovers:
// the caller stores them (e.g. derives the MAC once and persists it) and
// passes the same values every time. A change makes the partner see a new
// system and tear the bundle down.
type Config struct {
	// Name names the port-channel in events.
	Name string
	// System is the actor system ID. Its MAC must be a non-zero unicast
	// address; DefaultSystemPriority is the customary priority.
	System SystemID
	// Key is the actor key of the port-channel: non-zero.
	Key   uint16
	Mode  Mode
	Rate  Rate
	Ports []PortConfig
	// MaxActive is the most members that collect and distribute at once,
	// 1..MaxActiveLinks; 0 means MaxActiveLinks.
	MaxActive int
	// MinLinks is the fewest collecting/distributing members for the
	// aggregate to be up; below it OnMembers reports no members. 0 means 1.
	MinLinks int
	// WaitWhile is the aggregate wait time before a selected port attaches;
	// 0 means AggregateWaitTime. Shorter values speed up tests and
	// lab setups.
	WaitWhile time.Duration
	// ChurnDetection is how long a port may stay out of sync before churn
	// is reported; 0 means ChurnDetectionTime.
	ChurnDetection time.Duration
	// PartnerAdmin is the partner information a port assumes while it
	// hears no LACPDU (Partner_Admin_*). nil means none: such a port is
	// never aggregated. With the Aggregation and Synchronization bits set
	// it lets members bundle towards a partner that does not speak LACP.
	PartnerAdmin *Info
	// Clock is the time source; nil means clock.System().
	Clock clock.Clock
	// Transmitter sends the PDUs; required.
	Transmitter Transmitter
	// OnMembers, if set, is called with the ports the datapath may use
	// (collecting and distributing, in configuration order) whenever that
	// set changes; it is empty while fewer than MinLinks members qualify.
	OnMembers func(members []string)
	// OnEvent, if set, is called with notable protocol events, for logging.
	OnEvent func(Event)
	// OnCheckpoint, if set, is called with the port-channel's Checkpoint
	// whenever the state it records changes (a partner, a port's
	// selection, attachment or collecting/distributing), so that the
	// caller can persist it for Resume. The arrival of PDUs alone does
	// not call it: take Checkpoint again on a clean shutdown for the
	// freshest PDU times.
	OnCheckpoint func(Checkpoint)
	// Resume, if set, is the Checkpoint of the previous instance of this
	// port-channel (the agent before a restart or upgrade). If its actor
	// identity matches System, Key and the ports' numbers, the ports it
	// records as collecting and distributing start so, without waiting
	// for the partner: see Checkpoint. A checkpoint that does not match
	// is ignored, with an EventCheckpointIgnored saying why.
	Resume *Checkpoint
}

// withDefaults validates c and returns a copy with zero values replaced by
// their defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.System.MAC.IsZero() || c.System.MAC[0]&1 != 0 {
		errs = append(errs, fmt.Errorf("system MAC %s: want a non-zero unicast address", c.System.MAC))
	}
	if c.Key == 0 {
		errs = append(errs, errors.New("key: want non-zero"))
	}
	if c.Mode > ModePassive {
		errs = append(errs, fmt.Errorf("mode %d: unknown", c.Mode))
	}
	if c.Rate > RateFast {
		errs = append(errs, fmt.Errorf("rate %d: unknown", c.Rate))
	}
	if c.Transmitter == nil {
		errs = append(errs, errors.New("transmitter: required"))
	}
	if c.MaxActive == 0 {
		c.MaxActive = MaxActiveLinks
	}
	if c.MaxActive < 1 || c.MaxActive > MaxActiveLinks {
		errs = append(errs, fmt.Errorf("max active %d: want 1..%d", c.MaxActive, MaxActiveLinks))
	}
	if c.MinLinks == 0 {
		c.MinLinks = 1
	}
	if c.MinLinks < 1 || c.MinLinks > c.MaxActive {
		errs = append(errs, fmt.Errorf("min links %d: want 1..%d (max active)", c.MinLinks, c.MaxActive))
	}
	if c.WaitWhile == 0 {
		c.WaitWhile = AggregateWaitTime
	}
	if c.ChurnDetection == 0 {
		c.ChurnDetection = ChurnDetectionTime
	}
	if c.WaitWhile < 0 || c.ChurnDetection < 0 {
		errs = append(errs, errors.New("timers: want non-negative durations"))
	}
	if c.Clock == nil {
		c.Clock = clock.System()
	}
	if len(c.Ports) == 0 {
		errs = append(errs, errors.New("ports: want at least one"))
	}
	names := make(map[string]bool, len(c.Ports))
	numbers := make(map[uint16]bool, len(c.Ports))
	ports := make([]PortConfig, len(c.Ports))
	for i, p := range c.Ports {
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("port %d: name required", i))
		case names[p.Name]:
			errs = append(errs, fmt.Errorf("port %s: duplicate name", p.Name))
		}
		switch {
		case p.Number == 0:
			errs = append(errs, fmt.Errorf("port %s: number: want non-zero", p.Name))
		case numbers[p.Number]:
			errs = append(errs, fmt.Errorf("port %s: duplicate number %d", p.Name, p.Number))
		}
		names[p.Name], numbers[p.Number] = true, true
		if p.Key == 0 {
			p.Key = c.Key
		}
		ports[i] = p
	}
	c.Ports = ports
	if c.PartnerAdmin != nil {
		pa := *c.PartnerAdmin
		c.PartnerAdmin = &pa
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("lacp: port-channel %q: %w", c.Name, err)
	}
	return c, nil
}
