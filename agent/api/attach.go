package api

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// AttachRequest is the body of POST /v1/ports: a vEth port to add at run
// time. The server decodes it strictly (see decode): its field names are
// exactly these JSON names, each given at most once.
type AttachRequest struct {
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	Segment   string `json:"segment"`
	Profile   string `json:"profile,omitempty"`
	// IPs are the port's IPv4 and IPv6 addresses (spec.Port.IPs): with
	// port security, the only sources it may use. Optional.
	IPs []string `json:"ips,omitempty"`
	// Incoming marks the port of a domain migrating (or being restored)
	// in: it forwards at once, but its MAC announcement waits for an
	// announce request (the domain resumed here; see AnnounceRequest).
	// Optional; an agent that does not know it announces at once.
	Incoming bool `json:"incoming,omitempty"`
}

// NewAttachRequest returns the request that attaches p.
func NewAttachRequest(p spec.Port) AttachRequest {
	return AttachRequest{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile, IPs: slices.Clone(p.IPs)}
}

// Port returns the port r asks for.
func (r AttachRequest) Port() spec.Port {
	return spec.Port{Interface: r.Interface, MAC: r.MAC, Segment: r.Segment, Profile: r.Profile, IPs: slices.Clone(r.IPs)}
}

// Validate checks what can be checked without the agent's configuration:
// the required fields, the MAC and the IP addresses. Whether the segment
// and profile exist is the Backend's to say. Errors wrap ErrInvalid.
func (r AttachRequest) Validate() error {
	var missing []string
	if r.Interface == "" {
		missing = append(missing, "interface")
	}
	if r.MAC == "" {
		missing = append(missing, "mac")
	}
	if r.Segment == "" {
		missing = append(missing, "segment")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrInvalid, strings.Join(missing, ", "))
	}
	if _, err := spec.ParseMAC(r.MAC); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for i, s := range r.IPs {
		if err := CheckPortIP(s); err != nil {
			return fmt.Errorf("%w: ips[%d]: %w", ErrInvalid, i, err)
		}
	}
	return nil
}

// CheckPortIP checks that s can be a port's address: an IPv4 or IPv6
// address in its usual notation, without a zone or prefix length, that a
// host can have as its own (not unspecified, multicast or broadcast).
func CheckPortIP(s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return fmt.Errorf("invalid IP address %q", s)
	case a.Zone() != "":
		return fmt.Errorf("IP address %q has a zone", s)
	case a.Is4In6():
		return fmt.Errorf("IP address %q is IPv4-mapped: write it as IPv4", s)
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("IP address %q is not a host address", s)
	}
	return nil
}
