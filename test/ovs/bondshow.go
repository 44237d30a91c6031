package ovs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// BondHash is a hash bucket a balanced bond assigns to a member, with the
// traffic recently sent through it.
type BondHash struct {
	Hash   int
	LoadKB uint64
}

// BondMember is one member of a bond in bond/show.
type BondMember struct {
	Name string
	// Enabled is true when the bond sends and receives on the member.
	Enabled bool
	// Active is true for the bond's active member ("active member").
	Active bool
	// MayEnable is false while the member's carrier or LACP forbids it.
	MayEnable bool
	// Hashes are the hash buckets on the member; only balanced bonds
	// (balance-slb, balance-tcp) list them, and only once traffic has
	// assigned them.
	Hashes []BondHash
}

// BondStatus is ovs-appctl bond/show for one bond.
type BondStatus struct {
	Bond string
	// Mode is bond_mode, e.g. "balance-tcp".
	Mode string
	// LACP is lacp_status: "negotiated", "configured" or "off".
	LACP string
	// Fields holds every "key: value" line of the bond's header, Mode and
	// LACP included, as printed.
	Fields  map[string]string
	Members []BondMember
}

// Member returns the member named name.
func (s BondStatus) Member(name string) (BondMember, bool) {
	for _, m := range s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return BondMember{}, false
}

// Enabled returns the names of the enabled members, in bond/show order.
func (s BondStatus) Enabled() []string {
	var names []string
	for _, m := range s.Members {
		if m.Enabled {
			names = append(names, m.Name)
		}
	}
	return names
}

// ParseBondShow parses the output of ovs-appctl bond/show for a single bond.
// Lines it does not know are ignored; malformed member lines are errors.
func ParseBondShow(out string) (BondStatus, error) {
	st := BondStatus{Fields: map[string]string{}}
	var member *BondMember
	header := false
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
		if rest, ok := memberPrefix(line); ok {
			name, state, ok := strings.Cut(rest, ":")
			state = strings.TrimSpace(state)
			if !ok || name == "" || (state != "enabled" && state != "disabled") {
				return st, fmt.Errorf("line %d: member line %q: want \"member NAME: enabled|disabled\"", i+1, line)
			}
			st.Members = append(st.Members, BondMember{Name: name, Enabled: state == "enabled"})
			member = &st.Members[len(st.Members)-1]
			continue
		}
		if member == nil {
			key, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			val = strings.TrimSpace(val)
			st.Fields[key] = val
			switch key {
			case "bond_mode":
				st.Mode = val
			case "lacp_status":
				st.LACP = val
			}
			continue
		}
		if err := member.parseLine(line); err != nil {
			return st, fmt.Errorf("line %d: %q: %w", i+1, line, err)
		}
	}
	if !header {
		return st, errors.New("no \"---- bond ----\" header")
	}
	return st, nil
}

// memberPrefix recognises "member NAME: ..." ("slave" before OVS 2.14).
func memberPrefix(line string) (string, bool) {
	for _, p := range []string{"member ", "slave "} {
		if rest, ok := strings.CutPrefix(line, p); ok {
			return rest, true
		}
	}
	return "", false
}

// parseLine parses a line inside a member's block.
func (m *BondMember) parseLine(line string) error {
	switch {
	case line == "active member" || line == "active slave":
		m.Active = true
	case strings.HasPrefix(line, "may_enable:"):
		v, err := strconv.ParseBool(strings.TrimSpace(strings.TrimPrefix(line, "may_enable:")))
		if err != nil {
			return err
		}
		m.MayEnable = v
	case strings.HasPrefix(line, "hash "):
		// "hash 77: 22327 kB load"
		var h BondHash
		if _, err := fmt.Sscanf(line, "hash %d: %d kB load", &h.Hash, &h.LoadKB); err != nil {
			return fmt.Errorf("hash line: %w", err)
		}
		m.Hashes = append(m.Hashes, h)
	}
	return nil
}
