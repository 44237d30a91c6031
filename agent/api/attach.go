package api

import (
	"fmt"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// AttachRequest is the body of POST /v1/ports: a vEth port to add at run
// time. It carries the fields of spec.Port, which has only YAML tags.
type AttachRequest struct {
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	Segment   string `json:"segment"`
	Profile   string `json:"profile,omitempty"`
}

// NewAttachRequest returns the request that attaches p.
func NewAttachRequest(p spec.Port) AttachRequest {
	return AttachRequest{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile}
}

// Port returns the port r asks for.
func (r AttachRequest) Port() spec.Port {
	return spec.Port{Interface: r.Interface, MAC: r.MAC, Segment: r.Segment, Profile: r.Profile}
}

// Validate checks what can be checked without the agent's configuration:
// the required fields and the MAC. Whether the segment and profile exist
// is the Backend's to say. Errors wrap ErrInvalid.
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
	return nil
}
