package ha

import (
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// HandleHeartbeat takes a heartbeat heard on path. Heartbeats of another
// domain, from this VSM's own name, or reaching a standalone VSM are
// ignored; one from a VSM of the same role is a role collision; any other
// is the peer's, and a request is answered on the path it came on.
func (n *Node) HandleHeartbeat(path Path, hb Heartbeat) {
	n.do(func() { n.receive(path, hb) })
}

func (n *Node) receive(path Path, hb Heartbeat) {
	if !n.started || n.stopped || n.cfg.Role == config.RoleStandalone ||
		hb.Domain != n.cfg.Domain || hb.Name == n.cfg.Name || !hb.Role.Paired() {
		return
	}
	if hb.Role == n.cfg.Role {
		if c, fresh := n.col.record(hb.Name, path, n.now()); fresh {
			n.emit(func() { n.act.ReportCollision(c) })
		}
		return
	}
	n.heard(path, hb)
	switch n.state {
	case Initializing:
		n.receiveBooting(hb)
	case Standby:
		n.receiveStandby(hb)
	case Active:
		n.receiveActive(hb)
	}
	if hb.Request {
		n.send(path, n.heartbeat(false))
	}
}

// heard records the peer's heartbeat and rearms the loss and degraded
// timers.
func (n *Node) heard(path Path, hb Heartbeat) {
	n.peer = peerView{present: true, hb: hb}
	n.arm(&n.loss, n.cfg.HeartbeatLossInterval, n.onLoss)
	if path == Control || n.degrade.t == nil && !n.degraded {
		if path == Control {
			n.degraded = false
		}
		n.arm(&n.degrade, n.cfg.HeartbeatLossInterval/2, n.onDegrade)
	}
}

// receiveBooting: an active peer makes this VSM standby; a peer also
// booting makes the primary active.
func (n *Node) receiveBooting(hb Heartbeat) {
	n.epoch = max(n.epoch, hb.Epoch)
	switch hb.State {
	case Active:
		n.becomeStandby()
	case Initializing:
		if n.cfg.Role == config.RolePrimary {
			n.becomeActive()
			n.sendRequests()
		}
	}
}

// receiveStandby: a rebooting active is a lost one; the active's flags
// ask for a takeover (stable standby only) or a restart as standby.
func (n *Node) receiveStandby(hb Heartbeat) {
	n.epoch = max(n.epoch, hb.Epoch)
	switch {
	case hb.State == Initializing:
		n.activeLost()
	case hb.State != Active || !n.stable:
	case hb.ResetStandby:
		n.restartAsStandby(ReasonOutOfSync)
	case hb.Takeover:
		n.takeover()
	}
}

// receiveActive: a peer that took over from a pending switchover
// completes it; any other active peer is a split brain; a standby peer
// heard again after being declared lost is asked to restart.
func (n *Node) receiveActive(hb Heartbeat) {
	if hb.State != Active {
		n.won = false
		if hb.Name == n.splitWith {
			n.endSplitBrain()
		}
	}
	switch hb.State {
	case Active:
		switch {
		case n.switchPending && hb.Epoch > n.epoch:
			n.epoch = hb.Epoch
			n.restartAsStandby(ReasonSwitchover)
		case hb.Takeover:
			// The peer is handing over to this VSM; its own takeover
			// follows when it hears this VSM active.
		default:
			// A split brain. The first heartbeats heard after a heal
			// were sent during the cut and held in the connection: their
			// facts may be stale (a takeover's VEMs not yet counted, a
			// change not yet made), and a winner's switch request makes
			// its choice come true. So the facts are compared only once
			// the peer has been heard active for splitBrainSettle.
			if !n.splitSettled {
				if n.settle.t == nil {
					n.splitWith = hb.Name
					n.arm(&n.settle, n.splitBrainSettle(), n.onSplitSettled)
				}
				return
			}
			n.resolveSplitBrain(hb)
		}
	case Standby:
		if n.lostStandby {
			n.lostStandby = false
			n.resetStandby = hb.Stable
		}
		if !hb.Stable {
			n.resetStandby = false
		}
		if hb.Stable && !n.switchPending && !n.resetStandby {
			n.switchBlocked = false
		}
	}
}

// splitBrainSettle is how long an active peer is heard before a split
// brain is decided: two heartbeat intervals, and at least the 2 s after
// which the pair's connections give up on unacknowledged data (so nothing
// sent during the cut is still on its way).
func (n *Node) splitBrainSettle() time.Duration {
	return max(2*n.cfg.HeartbeatInterval, 2*time.Second)
}

// onSplitSettled decides a split brain on the latest heartbeat heard.
func (n *Node) onSplitSettled() {
	n.splitSettled = true
	if hb := n.peer.hb; n.state == Active && n.peer.present && hb.State == Active && !hb.Takeover &&
		!(n.switchPending && hb.Epoch > n.epoch) {
		n.resolveSplitBrain(hb)
	}
}

// resolveSplitBrain compares the facts: the loser restarts as standby,
// the winner sends a switch request. They are compared again at every
// heartbeat (they move as VEMs follow the winner's switch request): a
// winner that still wins does nothing more until the loser restarts.
func (n *Node) resolveSplitBrain(hb Heartbeat) {
	if loses, _ := SplitBrainLoser(n.facts(), hb.facts()); loses {
		n.epoch = max(n.epoch, hb.Epoch)
		n.restartAsStandby(ReasonSplitBrain)
	} else if !n.won || n.wonAgainst.Name != hb.Name {
		n.winSplitBrain(hb.facts())
	}
}

// endSplitBrain forgets a split brain in progress.
func (n *Node) endSplitBrain() {
	n.splitSettled, n.splitWith = false, ""
	n.disarm(&n.settle)
}
