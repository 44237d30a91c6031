package ha

import "github.com/vem-switch/vem/vsm/config"

// Internal states of `show system redundancy status`: the guide's words
// where it gives them ("Active with HA standby", "Active with no
// standby", "HA standby"); the unsynchronised standby is "Cold standby".
const (
	InternalInitializing      = "Initializing"
	InternalActiveNoStandby   = "Active with no standby"
	InternalActiveHAStandby   = "Active with HA standby"
	InternalActiveColdStandby = "Active with cold standby"
	InternalHAStandby         = "HA standby"
	InternalColdStandby       = "Cold standby"
)

// PeerAbsent is the state of a peer not heard within the heartbeat-loss
// interval (the guide's "Not present").
const PeerAbsent = "absent"

// Status is `vsm show system redundancy status` in its JSON contract:
// role, state, internalState, peer {name, role, state} and epoch, extended
// with the module number, the degraded flag and the role collisions.
type Status struct {
	Role          config.Role `json:"role"`
	State         State       `json:"state"`
	InternalState string      `json:"internalState"`
	Peer          PeerStatus  `json:"peer"`
	Epoch         uint64      `json:"epoch"`
	Module        int         `json:"module"`
	// Degraded is set while the control path is silent and heartbeats
	// also go over the management path.
	Degraded bool `json:"degraded"`
	// Collisions are the VSMs of this role and domain heard in the last
	// hour, the latest first; CollisionsOverwritten counts the entries
	// overwritten past MaxCollisions.
	Collisions            []Collision `json:"collisions"`
	CollisionsOverwritten int         `json:"collisionsOverwritten"`
}

// PeerStatus is the other supervisor as last heard; its state is
// PeerAbsent once lost, its name and role empty if never heard.
type PeerStatus struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	State         string `json:"state"`
	InternalState string `json:"internalState,omitempty"`
}

// Status returns the redundancy status now.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Status{
		Role:                  n.cfg.Role,
		State:                 n.state,
		InternalState:         internalState(n.state, n.stable, n.peer),
		Epoch:                 n.epoch,
		Module:                n.cfg.Role.Module(),
		Degraded:              n.degraded,
		Collisions:            n.col.list(n.now()),
		CollisionsOverwritten: n.col.overwritten,
		Peer:                  PeerStatus{Name: n.peer.hb.Name, Role: string(n.peer.hb.Role), State: PeerAbsent},
	}
	if s.Collisions == nil {
		s.Collisions = []Collision{}
	}
	if n.peer.present {
		hb := n.peer.hb
		s.Peer.State = string(hb.State)
		self := peerView{present: true, hb: Heartbeat{State: n.state, Stable: n.state == Standby && n.stable}}
		s.Peer.InternalState = internalState(hb.State, hb.Stable, self)
	}
	return s
}

// internalState words a VSM's state; peer matters only to an active one.
func internalState(st State, stable bool, peer peerView) string {
	switch {
	case st == Initializing:
		return InternalInitializing
	case st == Standby && stable:
		return InternalHAStandby
	case st == Standby:
		return InternalColdStandby
	case !peer.present || peer.hb.State != Standby:
		return InternalActiveNoStandby
	case peer.hb.Stable:
		return InternalActiveHAStandby
	}
	return InternalActiveColdStandby
}
