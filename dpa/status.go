package dpa

import (
	"time"

	"github.com/vem-switch/vem/protocol"
)

// State is where the DPA stands with its VSMs.
type State string

// States, as `vemctl show dpa` prints them.
const (
	// StateConnecting: not attached yet (at start, after a switch
	// request, after a restart of the loop).
	StateConnecting State = "connecting"
	// StateAttached: a module of an active VSM.
	StateAttached State = "attached"
	// StateHeadless: its VSM silent for HeadlessAfter; forwarding on the
	// last configuration.
	StateHeadless State = "headless"
)

// Status is `vemctl show dpa`'s JSON: mode, state, the attached VSM and
// its epoch, module and generation, since when headless (null when not),
// every configured VSM and the queued port events, with counters.
type Status struct {
	// Mode is "vsm" for a DPA; StandaloneStatus is the agent's without.
	Mode          string      `json:"mode"`
	State         State       `json:"state"`
	AttachedVSM   string      `json:"attachedVSM"`
	Epoch         uint64      `json:"epoch"`
	Module        uint32      `json:"module"`
	Generation    uint64      `json:"generation"`
	HeadlessSince *time.Time  `json:"headlessSince"`
	VSMs          []VSMStatus `json:"vsms"`
	// QueuedPortEvents are the port attaches and detaches waiting for an
	// attach to be replayed.
	QueuedPortEvents int      `json:"queuedPortEvents"`
	Counters         Counters `json:"counters"`
}

// VSMStatus is one configured VSM as its session and heartbeats show it.
type VSMStatus struct {
	// Name is the VSM's verified name, empty before a session opened.
	Name    string `json:"name"`
	Address string `json:"address"`
	// Role is standalone, primary or secondary, from its heartbeats.
	Role string `json:"role"`
	// State is active or standby from its heartbeats; connected before
	// the first, unreachable without a session.
	State string `json:"state"`
	// LastHeartbeatAgeMs is the age of its latest heartbeat, -1 if none
	// was ever heard.
	LastHeartbeatAgeMs int64  `json:"lastHeartbeatAgeMs"`
	Epoch              uint64 `json:"epoch"`
}

// Counters are the DPA's events since it was made.
type Counters struct {
	// HeartbeatsMissed counts the heartbeat intervals its VSM stayed
	// silent past the first.
	HeartbeatsMissed uint64 `json:"heartbeatsMissed"`
	// HeartbeatsIgnored counts heartbeats of another active VSM heard
	// while it had its own.
	HeartbeatsIgnored uint64 `json:"heartbeatsIgnored"`
	// SwitchRequestsAccepted and SwitchRequestsIgnored (stale epoch or
	// unauthenticated).
	SwitchRequestsAccepted uint64 `json:"switchRequestsAccepted"`
	SwitchRequestsIgnored  uint64 `json:"switchRequestsIgnored"`
	// HeadlessEntries and HeadlessMs, the total time spent headless
	// (including the current spell).
	HeadlessEntries uint64 `json:"headlessEntries"`
	HeadlessMs      int64  `json:"headlessMs"`
	// ConfigsApplied and ConfigsRefused (NACKed).
	ConfigsApplied uint64 `json:"configsApplied"`
	ConfigsRefused uint64 `json:"configsRefused"`
	// ApplyErrors counts remote-MAC updates the Applier failed.
	ApplyErrors uint64 `json:"applyErrors"`
	// CheckpointErrors counts checkpoints that could not be saved.
	CheckpointErrors uint64 `json:"checkpointErrors"`
	// Restarts counts restarts of the loop after a failure.
	Restarts uint64 `json:"restarts"`
}

// StandaloneStatus is `vemctl show dpa` of an agent without a VSM.
func StandaloneStatus() Status {
	return Status{Mode: "standalone", State: StateAttached, VSMs: []VSMStatus{}}
}

// roleName and stateName are a heartbeat's role and state as printed.
func roleName(r protocol.Role) string {
	switch r {
	case protocol.Role_ROLE_STANDALONE:
		return "standalone"
	case protocol.Role_ROLE_PRIMARY:
		return "primary"
	case protocol.Role_ROLE_SECONDARY:
		return "secondary"
	}
	return ""
}

func stateName(s protocol.State) string {
	switch s {
	case protocol.State_STATE_ACTIVE:
		return "active"
	case protocol.State_STATE_STANDBY:
		return "standby"
	}
	return "unknown"
}

// Status reports the DPA's state now.
func (d *DPA) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	st := Status{
		Mode:             "vsm",
		State:            d.state,
		AttachedVSM:      d.attachedName,
		Epoch:            d.epoch,
		Module:           d.module,
		Generation:       d.generation,
		VSMs:             make([]VSMStatus, 0, len(d.vsms)),
		QueuedPortEvents: len(d.queue),
		Counters:         d.counters,
	}
	headless := d.headlessTotal
	if d.state == StateHeadless {
		since := d.headlessSince
		st.HeadlessSince = &since
		headless += now.Sub(since)
	}
	st.Counters.HeadlessMs = headless.Milliseconds()
	for _, v := range d.vsms {
		vs := VSMStatus{Name: v.name, Address: v.addr, LastHeartbeatAgeMs: -1}
		switch {
		case v.sess == nil:
			vs.State = "unreachable"
		case v.hb == nil:
			vs.State = "connected"
		default:
			vs.State = stateName(v.hb.GetState())
		}
		if v.hb != nil {
			vs.Role, vs.Epoch = roleName(v.hb.GetRole()), v.hb.GetEpoch()
			vs.LastHeartbeatAgeMs = now.Sub(v.heard).Milliseconds()
		}
		st.VSMs = append(st.VSMs, vs)
	}
	return st
}
