package ha

import (
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// Path is one of the two ways between the VSMs of a pair.
type Path int

// The control path carries heartbeats (and, outside this package,
// synchronisation); the management path carries heartbeats only, when
// the control path is degraded or no peer is present.
const (
	Control Path = iota
	Management
)

// String names the path as the VSM file does.
func (p Path) String() string {
	if p == Management {
		return "management"
	}
	return "control"
}

// State is a VSM's redundancy state.
type State string

// States: a paired VSM is initializing until boot negotiation ends, then
// active or standby.
const (
	Initializing State = "initializing"
	Active       State = "active"
	Standby      State = "standby"
)

// Heartbeat is a VSM-to-VSM heartbeat: a request (sent every heartbeat
// interval by an active or booting VSM) or the answer to one, carrying
// the sender's redundancy state, the facts split-brain resolution
// compares and the control flags that ask the peer to act.
type Heartbeat struct {
	// Name, Domain and Role identify the sender.
	Name   string
	Domain int
	Role   config.Role
	// State is the sender's redundancy state; Stable tells a standby
	// that has synchronised with its active ("HA standby").
	State  State
	Stable bool
	// Epoch is the sender's epoch.
	Epoch uint64
	// Modules is the number of modules (VEMs) attached to the sender.
	Modules int
	// LastConfig is the time of the sender's last configuration change.
	LastConfig time.Time
	// LastSwitch is the time the sender last became active: its last
	// standby→active switch, or its boot if it became active then; zero
	// if it never was active.
	LastSwitch time.Time
	// Request is set on requests, which the peer answers on the same path.
	Request bool
	// Takeover asks a stable standby to take over (manual switchover).
	Takeover bool
	// ResetStandby asks the standby to restart as standby and
	// resynchronise: the active had lost it, so it is out of sync.
	ResetStandby bool
}

// facts returns what split-brain resolution compares of the sender.
func (h Heartbeat) facts() Facts {
	return Facts{Name: h.Name, Role: h.Role, Modules: h.Modules, LastConfig: h.LastConfig, LastSwitch: h.LastSwitch}
}
