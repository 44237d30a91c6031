package portchannel

import (
	"slices"

	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/spec"
)

// Member statuses in static and mac-pinning modes, as PowerVM's
// `lsvnic` shows backing devices. LACP modes use the lacp.PortState names.
const (
	StatusOperational = "Operational"
	StatusLinkDown    = "Link Down"
)

// MemberStatus describes a member for `vemctl show port-channel`.
type MemberStatus struct {
	Name string `json:"name"`
	// Priority is the failover priority (mac-pinning) or LACP port
	// priority.
	Priority int `json:"priority"`
	// Status is StatusOperational or StatusLinkDown in static and
	// mac-pinning modes, the lacp.PortState (bundled, standby, ...) in
	// LACP modes.
	Status string `json:"status"`
	// Active: mac-pinning, vEths are pinned to it; other modes, it
	// distributes. Always false while the channel is down.
	Active bool `json:"active"`
	// VEths are the vEths pinned to it (mac-pinning), in the order given
	// to SetVEths.
	VEths []string `json:"veths,omitempty"`
}

// Status describes a port-channel for the CLI.
type Status struct {
	Name string           `json:"name"`
	Mode spec.ChannelMode `json:"mode"`
	// Up is true when at least MinLinks members qualify.
	Up       bool `json:"up"`
	MinLinks int  `json:"minLinks"`
	// AutoPriorityFailover is the mac-pinning setting; false in other
	// modes.
	AutoPriorityFailover bool           `json:"autoPriorityFailover"`
	Members              []MemberStatus `json:"members"`
	State                State          `json:"state"`
	// LACP is the protocol's view (partner, per-port actor and partner
	// information, machine states, last PDU, counters) in LACP modes; nil
	// otherwise. Its Ports are in member order.
	LACP *lacp.Status `json:"lacp,omitempty"`
}

// Status returns a snapshot for operators.
func (c *Channel) Status() Status {
	var ls *lacp.Status
	if c.runner != nil {
		// Taken before c.mu, so that the aggregator's lock and the
		// Channel's are never held together.
		s := c.runner.Status()
		ls = &s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		Name:     c.name,
		Mode:     c.mode,
		Up:       c.up,
		MinLinks: c.cfg.minLinks(),
		State:    c.state.clone(),
		LACP:     ls,
	}
	if c.mode == spec.ModeMACPinning {
		s.AutoPriorityFailover = c.cfg.AutoPriorityFailover
	}
	for _, m := range c.cfg.Members {
		ms := MemberStatus{Name: m.Name, Priority: m.Priority, Status: StatusLinkDown}
		if c.carrier[m.Name] {
			ms.Status = StatusOperational
		}
		switch {
		case ls != nil:
			if i := slices.IndexFunc(ls.Ports, func(p lacp.PortStatus) bool { return p.Name == m.Name }); i >= 0 {
				ms.Status = string(ls.Ports[i].State)
			}
			ms.Active = slices.Contains(s.State.Distributing, m.Name)
		case c.mode == spec.ModeMACPinning:
			for _, v := range c.vEths {
				if pinned, ok := s.State.Pins[v]; ok && pinned == m.Name {
					ms.VEths = append(ms.VEths, v)
				}
			}
			ms.Active = len(ms.VEths) > 0
		default:
			ms.Active = slices.Contains(s.State.Distributing, m.Name)
		}
		s.Members = append(s.Members, ms)
	}
	return s
}
