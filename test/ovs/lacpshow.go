package ovs

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MemberStatus is the LACP receive state of a bond member as lacp/show
// reports it.
type MemberStatus string

// Member statuses.
const (
	// MemberCurrent: the partner's LACPDUs are arriving in time.
	MemberCurrent MemberStatus = "current"
	// MemberExpired: the partner fell silent (or the carrier changed); the
	// member waits one more timeout before defaulting.
	MemberExpired MemberStatus = "expired"
	// MemberDefaulted: no partner; the administrative defaults apply.
	MemberDefaulted MemberStatus = "defaulted"
)

// LACPMember is one member of a bond in lacp/show.
type LACPMember struct {
	Name   string
	Status MemberStatus
	// Attached is true when the member is attached to the bond's
	// aggregator ("attached" rather than "detached").
	Attached bool
	// PortID and PortPriority are the member's own LACP port ID and
	// priority.
	PortID       uint16
	PortPriority uint16
	// MayEnable is true when LACP lets the bond use the member.
	MayEnable bool
	Actor     Info
	Partner   Info
}

// LACPStatus is ovs-appctl lacp/show for one bond.
type LACPStatus struct {
	Bond string
	// Active is true for lacp=active, false for passive.
	Active bool
	// Negotiated is true when OVS has heard a partner on some member.
	Negotiated bool
	// System is OVS's actor system ID for the bond.
	System SystemID
	// AggregationKey is the bond's key; 0 when lacp/show says "none".
	AggregationKey uint16
	// Fast is true for lacp_time fast (1 s), false for slow (30 s).
	Fast    bool
	Members []LACPMember
}

// Member returns the member named name.
func (s LACPStatus) Member(name string) (LACPMember, bool) {
	for _, m := range s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return LACPMember{}, false
}

// ParseLACPShow parses the output of ovs-appctl lacp/show for a single
// bond. Lines it does not know are ignored; malformed values are errors.
func ParseLACPShow(out string) (LACPStatus, error) {
	var (
		st     LACPStatus
		member *LACPMember
		header bool
	)
	for i, raw := range strings.Split(out, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if name, ok := bondHeader(line); ok {
			if header {
				return st, fmt.Errorf("line %d: a second bond %q: want the output for one bond", i+1, name)
			}
			st.Bond, header = name, true
			continue
		}
		if !header {
			return st, fmt.Errorf("line %d: %q before the \"---- bond ----\" header", i+1, line)
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if key == "member" || key == "slave" { // "slave" before OVS 2.14
			m, err := parseMemberLine(val)
			if err != nil {
				return st, fmt.Errorf("line %d: %w", i+1, err)
			}
			st.Members = append(st.Members, m)
			member = &st.Members[len(st.Members)-1]
			continue
		}
		var err error
		if member == nil {
			err = st.setField(key, val)
		} else {
			err = member.setField(key, val)
		}
		if err != nil {
			return st, fmt.Errorf("line %d: %q: %w", i+1, line, err)
		}
	}
	if !header {
		return st, errors.New("no \"---- bond ----\" header")
	}
	return st, nil
}

// bondHeader recognises "---- NAME ----".
func bondHeader(line string) (string, bool) {
	name, ok := strings.CutPrefix(line, "---- ")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, " ----")
	return name, ok && name != ""
}

// parseMemberLine parses "p1: current attached".
func parseMemberLine(v string) (LACPMember, error) {
	name, rest, ok := strings.Cut(v, ":")
	words := strings.Fields(rest)
	if !ok || name == "" || len(words) != 2 {
		return LACPMember{}, fmt.Errorf("member line %q: want \"NAME: STATUS attached|detached\"", v)
	}
	m := LACPMember{Name: name, Status: MemberStatus(words[0])}
	switch m.Status {
	case MemberCurrent, MemberExpired, MemberDefaulted:
	default:
		return m, fmt.Errorf("member %s: unknown status %q", name, words[0])
	}
	switch words[1] {
	case "attached":
		m.Attached = true
	case "detached":
	default:
		return m, fmt.Errorf("member %s: %q: want attached or detached", name, words[1])
	}
	return m, nil
}

func (s *LACPStatus) setField(key, val string) error {
	var err error
	switch key {
	case "status":
		words := strings.Fields(val)
		if len(words) == 0 || (words[0] != "active" && words[0] != "passive") {
			return fmt.Errorf("want active or passive")
		}
		s.Active = words[0] == "active"
		s.Negotiated = len(words) > 1 && words[1] == "negotiated"
	case "sys_id":
		s.System.MAC, err = net.ParseMAC(val)
	case "sys_priority":
		s.System.Priority, err = parseUint16(val)
	case "aggregation key":
		if val != "none" {
			s.AggregationKey, err = parseUint16(val)
		}
	case "lacp_time":
		s.Fast = val == "fast"
	}
	return err
}

func (m *LACPMember) setField(key, val string) error {
	var err error
	switch key {
	case "port_id":
		m.PortID, err = parseUint16(val)
	case "port_priority":
		m.PortPriority, err = parseUint16(val)
	case "may_enable":
		m.MayEnable, err = strconv.ParseBool(val)
	default:
		side, field, ok := strings.Cut(key, " ")
		switch {
		case ok && side == "actor":
			err = m.Actor.setField(field, val)
		case ok && side == "partner":
			err = m.Partner.setField(field, val)
		}
	}
	return err
}

func (in *Info) setField(key, val string) error {
	var err error
	switch key {
	case "sys_id":
		in.System.MAC, err = net.ParseMAC(val)
	case "sys_priority":
		in.System.Priority, err = parseUint16(val)
	case "port_id":
		in.Port, err = parseUint16(val)
	case "port_priority":
		in.PortPriority, err = parseUint16(val)
	case "key":
		in.Key, err = parseUint16(val)
	case "state":
		in.State, err = parseState(val)
	}
	return err
}

func parseUint16(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	return uint16(n), err
}
