package portchannel

import (
	"fmt"
	"time"

	"github.com/vem-switch/vem/lacp"
)

// EventKind classifies an Event.
type EventKind uint8

// Event kinds.
const (
	// EventMemberUp: a member's carrier came up (static, mac-pinning).
	EventMemberUp EventKind = iota + 1
	// EventMemberDown: a member's carrier went down (static, mac-pinning).
	EventMemberDown
	// EventPinMoved: a vEth was pinned to another member, or pinned for
	// the first time (From empty), or lost its member (To empty).
	EventPinMoved
	// EventChannelUp: MinLinks members qualify; the channel carries
	// traffic.
	EventChannelUp
	// EventChannelDown: fewer than MinLinks members qualify.
	EventChannelDown
	// EventLACP: a protocol event of the LACP aggregator; Event.LACP says
	// which.
	EventLACP
)

var eventNames = [...]string{
	EventMemberUp:    "member-up",
	EventMemberDown:  "member-down",
	EventPinMoved:    "pin-moved",
	EventChannelUp:   "channel-up",
	EventChannelDown: "channel-down",
	EventLACP:        "lacp",
}

// String returns the kind's name, e.g. "pin-moved".
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// MarshalText returns the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is a notable change of a port-channel, for logs.
type Event struct {
	Time time.Time `json:"time"`
	Kind EventKind `json:"kind"`
	// PortChannel is Config.Name.
	PortChannel string `json:"portChannel"`
	// Member is the member concerned; empty for channel events.
	Member string `json:"member,omitempty"`
	// VEth, From and To describe a pin move: the vEth and its old and
	// new member (either may be empty).
	VEth string `json:"veth,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// LACP is the protocol event's kind when Kind is EventLACP.
	LACP lacp.EventKind `json:"lacp,omitempty"`
	// Message is a human-readable account.
	Message string `json:"message"`
}

// String returns a one-line account for logs.
func (e Event) String() string {
	kind := e.Kind.String()
	if e.Kind == EventLACP {
		kind = "lacp " + e.LACP.String()
	}
	if e.Member == "" {
		return fmt.Sprintf("%s: %s: %s", e.PortChannel, kind, e.Message)
	}
	return fmt.Sprintf("%s %s: %s: %s", e.PortChannel, e.Member, kind, e.Message)
}

// fromLACP wraps a protocol event.
func fromLACP(e lacp.Event) Event {
	return Event{
		Time:        e.Time,
		Kind:        EventLACP,
		PortChannel: e.PortChannel,
		Member:      e.Port,
		LACP:        e.Kind,
		Message:     e.Message,
	}
}
