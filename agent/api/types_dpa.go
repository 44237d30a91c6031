package api

import "time"

// DPA is `vemctl show dpa`: the Data Path Agent's view of its VSMs. An
// agent without a vsm: section reports mode "standalone" (state
// "attached", no VSMs).
type DPA struct {
	Mode          string     `json:"mode"`  // standalone | vsm
	State         string     `json:"state"` // connecting | attached | headless
	AttachedVSM   string     `json:"attachedVSM"`
	Epoch         uint64     `json:"epoch"`
	Module        uint32     `json:"module"`
	Generation    uint64     `json:"generation"`
	HeadlessSince *time.Time `json:"headlessSince"`
	VSMs          []DPAVSM   `json:"vsms"`
	// QueuedPortEvents are the port attaches and detaches waiting for an
	// attach to be replayed.
	QueuedPortEvents int         `json:"queuedPortEvents"`
	Counters         DPACounters `json:"counters"`
}

// DPAVSM is one configured VSM as the DPA sees it.
type DPAVSM struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Role    string `json:"role"`
	State   string `json:"state"` // active | standby | connected | unreachable
	// LastHeartbeatAgeMs is -1 when none was ever heard.
	LastHeartbeatAgeMs int64  `json:"lastHeartbeatAgeMs"`
	Epoch              uint64 `json:"epoch"`
}

// DPACounters are the DPA's events since the agent started.
type DPACounters struct {
	HeartbeatsMissed       uint64 `json:"heartbeatsMissed"`
	HeartbeatsIgnored      uint64 `json:"heartbeatsIgnored"`
	SwitchRequestsAccepted uint64 `json:"switchRequestsAccepted"`
	SwitchRequestsIgnored  uint64 `json:"switchRequestsIgnored"`
	HeadlessEntries        uint64 `json:"headlessEntries"`
	HeadlessMs             int64  `json:"headlessMs"`
	ConfigsApplied         uint64 `json:"configsApplied"`
	ConfigsRefused         uint64 `json:"configsRefused"`
	ApplyErrors            uint64 `json:"applyErrors"`
	CheckpointErrors       uint64 `json:"checkpointErrors"`
	Restarts               uint64 `json:"restarts"`
}
