package ha

import "github.com/vem-switch/vem/vsm/config"

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
			// The facts are compared again at every heartbeat (they move
			// as VEMs follow the winner's switch request, and the first
			// heartbeats after a heal may be older): a winner that still
			// wins does nothing more until the loser restarts.
			if loses, _ := SplitBrainLoser(n.facts(), hb.facts()); loses {
				n.epoch = max(n.epoch, hb.Epoch)
				n.restartAsStandby(ReasonSplitBrain)
			} else if !n.won || n.wonAgainst.Name != hb.Name {
				n.winSplitBrain(hb.facts())
			}
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
