package lacp

import (
	"fmt"
	"net"
)

// MAC is an Ethernet address. Unlike net.HardwareAddr it is comparable.
type MAC [6]byte

// ParseMAC parses a colon-separated 48-bit Ethernet address.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	hw, err := net.ParseMAC(s)
	if err != nil {
		return m, fmt.Errorf("parse MAC %q: %w", s, err)
	}
	if len(hw) != len(m) {
		return m, fmt.Errorf("parse MAC %q: %d bytes, want %d", s, len(hw), len(m))
	}
	copy(m[:], hw)
	return m, nil
}

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// MarshalText returns the colon-separated form.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses the colon-separated form.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// SlowProtocolsMAC returns 01:80:c2:00:00:02, the destination of LACPDUs.
func SlowProtocolsMAC() MAC { return MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02} }

// Default priorities (802.1AX recommends the midpoint).
const (
	DefaultSystemPriority = 32768
	DefaultPortPriority   = 32768
)

// SystemID identifies an LACP system: lower values are better, and the
// better system of two partners decides which links are active when not
// all can be.
type SystemID struct {
	Priority uint16 `json:"priority"`
	MAC      MAC    `json:"mac"`
}

// Less reports whether s is the better (numerically lower) system ID.
func (s SystemID) Less(o SystemID) bool {
	if s.Priority != o.Priority {
		return s.Priority < o.Priority
	}
	for i := range s.MAC {
		if s.MAC[i] != o.MAC[i] {
			return s.MAC[i] < o.MAC[i]
		}
	}
	return false
}

// String returns "priority,mac", e.g. "32768,02:00:00:00:00:01".
func (s SystemID) String() string { return fmt.Sprintf("%d,%s", s.Priority, s.MAC) }
