package ovs

import (
	"fmt"
	"net"
	"strings"
)

// State is an LACP actor or partner state octet as lacp/show prints it, with
// the 802.1AX bit layout (activity is bit 0, expired bit 7).
type State uint8

// State bits, as 802.1AX numbers them.
const (
	StateActivity State = 1 << iota
	StateTimeout
	StateAggregation
	StateSynchronization
	StateCollecting
	StateDistributing
	StateDefaulted
	StateExpired
)

// stateWords are the words lacp/show prints for the bits, in bit order.
var stateWords = [8]string{"activity", "timeout", "aggregation", "synchronized", "collecting", "distributing", "defaulted", "expired"}

// Has reports whether every bit of f is set in s.
func (s State) Has(f State) bool { return s&f == f }

// String returns the set bits as lacp/show words, e.g. "activity timeout
// aggregation synchronized collecting distributing", or "none".
func (s State) String() string {
	var words []string
	for i, w := range stateWords {
		if s&(1<<i) != 0 {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return "none"
	}
	return strings.Join(words, " ")
}

// parseState parses the words lacp/show prints after "actor state:".
func parseState(v string) (State, error) {
	var s State
	for _, w := range strings.Fields(v) {
		found := false
		for i, name := range stateWords {
			if w == name {
				s |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("state %q: unknown flag %q", v, w)
		}
	}
	return s, nil
}

// SystemID is an LACP system ID: priority and MAC address.
type SystemID struct {
	Priority uint16
	MAC      net.HardwareAddr
}

// String returns "priority,mac", e.g. "65534,e2:e2:78:96:91:42", the form
// vem's lacp.SystemID prints.
func (s SystemID) String() string { return fmt.Sprintf("%d,%s", s.Priority, s.MAC) }

// Info is the actor or partner information of a bond member.
type Info struct {
	System       SystemID
	Key          uint16
	Port         uint16
	PortPriority uint16
	State        State
}
