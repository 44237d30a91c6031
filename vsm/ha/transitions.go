package ha

import (
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// boot (re)starts negotiation: initializing, discovery heartbeats on both
// paths every interval, until the discovery window ends or the peer
// decides it.
func (n *Node) boot() {
	n.state = Initializing
	n.stable = false
	n.lastSwitch = time.Time{}
	n.peer = peerView{}
	n.degraded = false
	n.switchPending, n.switchBlocked = false, false
	n.resetStandby, n.lostStandby, n.won = false, false, false
	n.endSplitBrain()
	n.disarm(&n.loss)
	n.disarm(&n.degrade)
	n.disarm(&n.switchover)
	n.sendRequests()
	n.arm(&n.tick, n.cfg.HeartbeatInterval, n.onTick)
	n.arm(&n.discovery, n.cfg.DiscoveryWindow, n.onDiscoveryEnd)
}

// onTick sends the periodic requests of an active or booting VSM.
func (n *Node) onTick() {
	if n.state != Standby {
		n.sendRequests()
	}
	n.arm(&n.tick, n.cfg.HeartbeatInterval, n.onTick)
}

// onDiscoveryEnd makes a booting VSM that heard no peer active; one that
// hears a peer still deciding waits another window.
func (n *Node) onDiscoveryEnd() {
	if n.state != Initializing {
		return
	}
	if n.peer.present {
		n.arm(&n.discovery, n.cfg.DiscoveryWindow, n.onDiscoveryEnd)
		return
	}
	n.becomeActive()
	n.sendRequests()
}

// onLoss handles the peer's silence on both paths for the loss interval.
func (n *Node) onLoss() {
	was := n.peer
	n.peer.present = false
	n.degraded = false
	n.disarm(&n.degrade)
	switch n.state {
	case Active:
		if was.hb.State == Standby {
			n.lostStandby = true
		}
	case Standby:
		n.activeLost()
	}
}

// onDegrade marks the control path degraded: requests also go over the
// management path.
func (n *Node) onDegrade() {
	if n.peer.present {
		n.degraded = true
	}
}

// activeLost is a standby's answer to losing its active: a stable one
// takes over, an unstable one restarts.
func (n *Node) activeLost() {
	if n.stable {
		n.takeover()
		return
	}
	n.reboot(ReasonUnstableStandby)
}

// becomeActive makes this VSM active with an epoch above any it knows.
func (n *Node) becomeActive() {
	n.state = Active
	n.stable = false
	n.epoch = max(n.epoch, n.peer.hb.Epoch) + 1
	n.lastSwitch = n.now()
	n.disarm(&n.discovery)
}

// takeover is a standby's switch to active: a new epoch, a switch request
// to every VEM, and no other switchover until a stable standby.
func (n *Node) takeover() {
	n.becomeActive()
	n.switchBlocked = true
	epoch := n.epoch
	n.emit(func() { n.act.BroadcastSwitchRequest(epoch) })
	n.sendRequests()
}

// winSplitBrain is the winner's part: a new epoch and a switch request.
func (n *Node) winSplitBrain(against Facts) {
	n.won, n.wonAgainst = true, against
	n.epoch = max(n.epoch, n.peer.hb.Epoch) + 1
	epoch := n.epoch
	n.emit(func() { n.act.BroadcastSwitchRequest(epoch) })
}

// becomeStandby makes a booting VSM the standby of an active peer.
func (n *Node) becomeStandby() {
	n.state = Standby
	n.stable = false
	n.disarm(&n.discovery)
	n.emit(func() { n.act.Resynchronise() })
}

// restartAsStandby restarts this VSM's services as an unstable standby
// that resynchronises from the active.
func (n *Node) restartAsStandby(r Reason) {
	n.state = Standby
	n.stable = false
	n.switchPending, n.switchBlocked = false, false
	n.resetStandby, n.lostStandby, n.won = false, false, false
	n.endSplitBrain()
	n.disarm(&n.switchover)
	n.disarm(&n.discovery)
	n.emit(func() { n.act.RestartAsStandby(r) })
	n.emit(func() { n.act.Resynchronise() })
}

// reboot restarts this VSM from boot negotiation.
func (n *Node) reboot(r Reason) {
	n.emit(func() { n.act.Reboot(r) })
	n.boot()
}

// sendRequests sends a request on the control path, and on the
// management path too while booting, degraded or without a peer.
func (n *Node) sendRequests() {
	if n.cfg.Role == config.RoleStandalone {
		return
	}
	hb := n.heartbeat(true)
	n.send(Control, hb)
	if n.state == Initializing || !n.peer.present || n.degraded {
		n.send(Management, hb)
	}
}

func (n *Node) send(p Path, hb Heartbeat) { n.emit(func() { n.act.SendHeartbeat(p, hb) }) }

// heartbeat is what this VSM announces.
func (n *Node) heartbeat(request bool) Heartbeat {
	return Heartbeat{
		Name:         n.cfg.Name,
		Domain:       n.cfg.Domain,
		Role:         n.cfg.Role,
		State:        n.state,
		Stable:       n.state == Standby && n.stable,
		Epoch:        n.epoch,
		Modules:      n.modules,
		LastConfig:   n.lastConfig,
		LastSwitch:   n.lastSwitch,
		Request:      request,
		Takeover:     n.state == Active && n.switchPending,
		ResetStandby: n.state == Active && n.resetStandby,
	}
}

// facts is what this VSM compares in a split brain.
func (n *Node) facts() Facts {
	return Facts{Name: n.cfg.Name, Role: n.cfg.Role, Modules: n.modules, LastConfig: n.lastConfig, LastSwitch: n.lastSwitch}
}
