package lacp

import "fmt"

// State is the actor or partner state octet of a LACPDU (802.1AX 5.4.2.2).
type State uint8

// State bits, least significant first.
const (
	// StateActivity is set for an active port, clear for a passive one.
	StateActivity State = 1 << iota
	// StateTimeout is set for the short (fast) timeout, clear for long.
	StateTimeout
	// StateAggregation is set when the port may be aggregated, clear
	// when it is Individual.
	StateAggregation
	// StateSynchronization is set when the port is attached to the right
	// aggregator ("in sync").
	StateSynchronization
	// StateCollecting is set when the port collects (receives) frames.
	StateCollecting
	// StateDistributing is set when the port distributes (sends) frames.
	StateDistributing
	// StateDefaulted is set when the partner information is the
	// administrative default, no LACPDU having been received.
	StateDefaulted
	// StateExpired is set when the receive machine is EXPIRED.
	StateExpired
)

// stateLetters are the letters String prints for the bits, in bit order.
const stateLetters = "ATGSCDFE"

// Has reports whether every bit of f is set in s.
func (s State) Has(f State) bool { return s&f == f }

// with returns s with the bits of f set or cleared.
func (s State) with(f State, on bool) State {
	if on {
		return s | f
	}
	return s &^ f
}

// String returns the state as eight letters in bit order, '.' for a clear
// bit: A activity (active), T short timeout, G aggregatable, S in sync,
// C collecting, D distributing, F defaulted, E expired. For example a
// bundled fast active port is "ATGSCD..".
func (s State) String() string {
	var b [8]byte
	for i := range b {
		if s&(1<<i) != 0 {
			b[i] = stateLetters[i]
		} else {
			b[i] = '.'
		}
	}
	return string(b[:])
}

// MarshalText returns the letters of String, so JSON shows "ATGSCD..".
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the eight letters of String (each position its own
// letter or '.'), so that a State read back from JSON (a Checkpoint) is the
// one written.
func (s *State) UnmarshalText(b []byte) error {
	if len(b) != len(stateLetters) {
		return fmt.Errorf("lacp: state %q: want %d characters like %q", b, len(stateLetters), "ATGSCD..")
	}
	var v State
	for i, c := range b {
		switch c {
		case stateLetters[i]:
			v |= 1 << i
		case '.':
		default:
			return fmt.Errorf("lacp: state %q: position %d is %q, want %q or '.'", b, i+1, c, stateLetters[i])
		}
	}
	*s = v
	return nil
}
