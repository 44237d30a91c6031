package lacp

import (
	"fmt"
	"time"
)

// EventKind classifies an Event.
type EventKind uint8

// Event kinds.
const (
	// EventPartnerChanged: a port hears a partner system other than the
	// one it heard before; it is treated as a new partner.
	EventPartnerChanged EventKind = iota + 1
	// EventPartnerSelected: the port-channel aggregates towards a new
	// partner (system and key); Port is empty.
	EventPartnerSelected
	// EventPartnerTimeout: no LACPDU within the current_while time.
	EventPartnerTimeout
	// EventPartnerDefaulted: the port gave up on its partner and uses the
	// administrative defaults.
	EventPartnerDefaulted
	// EventKeyMismatch: the port's actor key, or its partner key, differs
	// from the port-channel's.
	EventKeyMismatch
	// EventPartnerMismatch: the port's partner is another system than the
	// port-channel's (cabled to a different switch).
	EventPartnerMismatch
	// EventIndividual: the partner declares its port Individual.
	EventIndividual
	// EventActorChurn: the actor stayed out of sync for the churn
	// detection time.
	EventActorChurn
	// EventPartnerChurn: the partner stayed out of sync for the churn
	// detection time.
	EventPartnerChurn
	// EventBundled: the port started collecting and distributing.
	EventBundled
	// EventUnbundled: the port stopped collecting and distributing.
	EventUnbundled
	// EventStandby: the port became a hot-standby member.
	EventStandby
	// EventAggregateUp: MinLinks members are collecting/distributing.
	EventAggregateUp
	// EventAggregateDown: fewer than MinLinks members are.
	EventAggregateDown
	// EventCheckpointIgnored: Config.Resume, or one port of it, was not
	// used; the message says why. Port is empty when the whole checkpoint
	// was ignored.
	EventCheckpointIgnored
	// EventResumed: the port started collecting and distributing from
	// the checkpoint, without renegotiating.
	EventResumed
	// EventResumeConfirmed: the first LACPDU of a resumed port's partner
	// agreed with the checkpoint.
	EventResumeConfirmed
	// EventResumeContradicted: the first LACPDU of a resumed port's
	// partner disagreed with the checkpoint (another partner, or out of
	// sync); the port left the aggregate to negotiate afresh.
	EventResumeContradicted
)

var eventNames = [...]string{
	EventPartnerChanged:   "partner-changed",
	EventPartnerSelected:  "partner-selected",
	EventPartnerTimeout:   "partner-timeout",
	EventPartnerDefaulted: "partner-defaulted",
	EventKeyMismatch:      "key-mismatch",
	EventPartnerMismatch:  "partner-mismatch",
	EventIndividual:       "individual",
	EventActorChurn:       "actor-churn",
	EventPartnerChurn:     "partner-churn",
	EventBundled:          "bundled",
	EventUnbundled:        "unbundled",
	EventStandby:          "standby",
	EventAggregateUp:      "aggregate-up",
	EventAggregateDown:    "aggregate-down",

	EventCheckpointIgnored:  "checkpoint-ignored",
	EventResumed:            "resumed",
	EventResumeConfirmed:    "resume-confirmed",
	EventResumeContradicted: "resume-contradicted",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// MarshalText returns the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is a notable protocol event, for logs.
type Event struct {
	Time time.Time `json:"time"`
	Kind EventKind `json:"kind"`
	// PortChannel is the Config.Name of the Aggregator.
	PortChannel string `json:"portChannel"`
	// Port is the member port, or empty for a port-channel event.
	Port string `json:"port,omitempty"`
	// Message is a human-readable account.
	Message string `json:"message"`
}

func (e Event) String() string {
	if e.Port == "" {
		return fmt.Sprintf("%s: %s: %s", e.PortChannel, e.Kind, e.Message)
	}
	return fmt.Sprintf("%s %s: %s: %s", e.PortChannel, e.Port, e.Kind, e.Message)
}
