package spec

import (
	"fmt"
	"net"
)

// ParseMAC parses a port's MAC address: six colon-separated hex octets
// ("52:54:00:00:00:0a", either case) naming a unicast station, so neither
// multicast, broadcast nor all-zero.
func ParseMAC(s string) (net.HardwareAddr, error) {
	// net.ParseMAC also takes dashes, dots and 8- or 20-octet addresses;
	// the file format is the one libvirt and ip(8) print.
	if len(s) != len("00:00:00:00:00:00") {
		return nil, fmt.Errorf("invalid MAC %q: want six colon-separated hex octets", s)
	}
	for i := 2; i < len(s); i += 3 {
		if s[i] != ':' {
			return nil, fmt.Errorf("invalid MAC %q: want six colon-separated hex octets", s)
		}
	}
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("invalid MAC %q: want six colon-separated hex octets", s)
	}
	switch {
	case mac[0]&1 == 1: // the I/G bit, also set in broadcast
		return nil, fmt.Errorf("MAC %s is multicast, not a station address", mac)
	case isZero(mac):
		return nil, fmt.Errorf("MAC %s is all-zero, not a station address", mac)
	}
	return mac, nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
