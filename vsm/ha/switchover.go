package ha

import "errors"

// refusal is an operator-facing refusal, worded as the guide prints it.
type refusal string

func (r refusal) Error() string { return string(r) }

// Refusals of Switchover.
var (
	// ErrStandbyNotReady refuses a switchover without a stable (HA)
	// standby, or while another switchover waits for one.
	ErrStandbyNotReady error = refusal("Failed to switchover (standby not ready to takeover)")
	// ErrNotActive refuses a switchover asked of a VSM that is not active.
	ErrNotActive = errors.New("switchover: this supervisor is not active")
)

// Switchover starts a manual switchover to the standby: only an active
// VSM whose peer is a stable standby may, and not again until a stable
// standby exists after the last switchover. The standby takes over when
// it hears the request; if that does not complete within the switchover
// timeout (28 s), this VSM resets.
func (n *Node) Switchover() error {
	var err error
	n.do(func() {
		switch {
		case n.state != Active:
			err = ErrNotActive
		case n.switchPending, n.switchBlocked, !n.peer.present,
			n.peer.hb.State != Standby, !n.peer.hb.Stable:
			err = ErrStandbyNotReady
		default:
			n.switchPending, n.switchBlocked = true, true
			n.arm(&n.switchover, n.cfg.SwitchoverTimeout, func() { n.reboot(ReasonSwitchoverTimeout) })
			n.sendRequests()
		}
	})
	return err
}
