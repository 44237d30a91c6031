package portchannel

import (
	"maps"
	"slices"
)

// State is what the datapath needs of a port-channel.
type State struct {
	// Distributing are the members frames may leave on, in configuration
	// order; the datapath picks one by flow hash (mac-pinning: by the
	// vEth's pin). Empty while the channel is down.
	Distributing []string `json:"distributing"`
	// Collecting are the members frames are accepted on, in configuration
	// order; frames on other members are dropped (LACPDUs excepted).
	Collecting []string `json:"collecting"`
	// Pins maps each pinned vEth to its member in mac-pinning mode; a
	// vEth with no operational member, or any vEth while the channel is
	// down, is absent. nil in other modes.
	Pins map[string]string `json:"pins,omitempty"`
}

// Equal reports whether s and o describe the same state.
func (s State) Equal(o State) bool {
	return slices.Equal(s.Distributing, o.Distributing) &&
		slices.Equal(s.Collecting, o.Collecting) &&
		(s.Pins == nil) == (o.Pins == nil) &&
		maps.Equal(s.Pins, o.Pins)
}

// clone returns a deep copy, so that callers cannot alias the Channel's.
func (s State) clone() State {
	c := State{
		Distributing: slices.Clone(s.Distributing),
		Collecting:   slices.Clone(s.Collecting),
		Pins:         maps.Clone(s.Pins),
	}
	if c.Distributing == nil {
		c.Distributing = []string{}
	}
	if c.Collecting == nil {
		c.Collecting = []string{}
	}
	return c
}
