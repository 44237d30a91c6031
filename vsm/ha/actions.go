package ha

// Actions is what a Node asks of the VSM around it. A Node calls them
// outside its lock, in the order it decided them; they should not block
// for long (queue the work). A Node has already changed its own state when
// it asks: a restart here is the redundancy state's, the VSM restarts its
// services around it.
type Actions interface {
	// SendHeartbeat sends hb to the peer over path.
	SendHeartbeat(path Path, hb Heartbeat)
	// BroadcastSwitchRequest asks every VEM to attach to this VSM, now
	// active with epoch.
	BroadcastSwitchRequest(epoch uint64)
	// RestartAsStandby restarts the VSM's services as a standby (it lost a
	// split brain, finished handing over, or the active lost it); a
	// Resynchronise follows.
	RestartAsStandby(reason Reason)
	// Reboot restarts the VSM from boot negotiation, with no state but
	// its epoch (an unstable standby lost its active, or a switchover did
	// not complete in time).
	Reboot(reason Reason)
	// Resynchronise pulls the configuration and state from the active;
	// the VSM calls Node.Synchronised once done.
	Resynchronise()
	// ReportCollision reports a new role collision entry.
	ReportCollision(c Collision)
}

// Reason says why a Node restarts.
type Reason string

// Reasons for RestartAsStandby and Reboot.
const (
	ReasonSplitBrain        Reason = "lost split-brain resolution"
	ReasonSwitchover        Reason = "switchover completed: former active"
	ReasonOutOfSync         Reason = "active lost this standby: out of sync"
	ReasonUnstableStandby   Reason = "active lost while standby not ready to take over"
	ReasonSwitchoverTimeout Reason = "switchover did not complete in time"
)
