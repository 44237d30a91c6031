package pair

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

// Limits of the wire.
const (
	// MaxFrame bounds one heartbeat or sync request frame.
	MaxFrame = 1024
	// MaxSnapshot bounds a replicated data file.
	MaxSnapshot = 256 << 20
	// WireVersion is the version of the pair's messages this source
	// defines; a build may speak another (see wireVersionOverride). A
	// VSM accepts the versions next to the one it speaks, so that both
	// builds of a rolling upgrade interoperate during the mixed window;
	// a newer peer's fields this build does not know are ignored.
	WireVersion = 1
	maxName     = 64
)

// wireVersionOverride, when not empty, is the wire version this build
// speaks instead of WireVersion, set at link time (-ldflags "-X
// github.com/vem-switch/vem/vsm/pair.wireVersionOverride=2") to rehearse
// a rolling upgrade between builds that differ in it.
var wireVersionOverride string

// wireVersion is the wire version this build speaks.
var wireVersion = func() int {
	if wireVersionOverride == "" {
		return WireVersion
	}
	v, err := strconv.Atoi(wireVersionOverride)
	if err != nil || v < 1 {
		panic(fmt.Sprintf("pair: the build's wire version %q is not a positive number", wireVersionOverride))
	}
	return v
}()

// Stream kinds: the first byte a dialling VSM writes after the TLS
// handshake says what the connection carries.
const (
	streamHeartbeats byte = 'H'
	streamSync       byte = 'S'
)

// ErrMalformed is the error of a frame that does not decode.
var ErrMalformed = errors.New("malformed message")

// wireHeartbeat is ha.Heartbeat on the wire (JSON, camelCase).
type wireHeartbeat struct {
	Version      int         `json:"v"`
	Name         string      `json:"name"`
	Domain       int         `json:"domain"`
	Role         config.Role `json:"role"`
	State        ha.State    `json:"state"`
	Stable       bool        `json:"stable,omitempty"`
	Epoch        uint64      `json:"epoch"`
	Modules      int         `json:"modules"`
	LastConfig   time.Time   `json:"lastConfig"`
	LastSwitch   time.Time   `json:"lastSwitch"`
	Request      bool        `json:"request,omitempty"`
	Takeover     bool        `json:"takeover,omitempty"`
	ResetStandby bool        `json:"resetStandby,omitempty"`
}

// EncodeHeartbeat is hb as one frame: a 2-byte big-endian length and
// that many bytes of JSON.
func EncodeHeartbeat(hb ha.Heartbeat) ([]byte, error) {
	w := wireHeartbeat{Version: wireVersion, Name: hb.Name, Domain: hb.Domain, Role: hb.Role, State: hb.State,
		Stable: hb.Stable, Epoch: hb.Epoch, Modules: hb.Modules, LastConfig: hb.LastConfig.UTC(),
		LastSwitch: hb.LastSwitch.UTC(), Request: hb.Request, Takeover: hb.Takeover, ResetStandby: hb.ResetStandby}
	return frame(w)
}

// DecodeHeartbeat decodes one frame's body strictly: one JSON object of
// known fields only (a newer neighbour's unknown ones aside), of this
// wire version or a neighbouring one, with a name, a domain in 1..4095,
// a paired role, a known state and a non-negative module count.
func DecodeHeartbeat(body []byte) (ha.Heartbeat, error) {
	var w wireHeartbeat
	if err := versionedJSON(body, &w, "heartbeat"); err != nil {
		return ha.Heartbeat{}, err
	}
	var errs []error
	if w.Name == "" || len(w.Name) > maxName {
		errs = append(errs, fmt.Errorf("name %q is empty or longer than %d", w.Name, maxName))
	}
	if w.Domain < 1 || w.Domain > config.MaxDomain {
		errs = append(errs, fmt.Errorf("domain %d is not in 1..%d", w.Domain, config.MaxDomain))
	}
	if !w.Role.Paired() {
		errs = append(errs, fmt.Errorf("role %q is not primary or secondary", w.Role))
	}
	switch w.State {
	case ha.Initializing, ha.Active, ha.Standby:
	default:
		errs = append(errs, fmt.Errorf("state %q is not initializing, active or standby", w.State))
	}
	if w.Modules < 0 {
		errs = append(errs, fmt.Errorf("modules %d is negative", w.Modules))
	}
	if err := errors.Join(errs...); err != nil {
		return ha.Heartbeat{}, fmt.Errorf("%w: heartbeat: %w", ErrMalformed, err)
	}
	return ha.Heartbeat{Name: w.Name, Domain: w.Domain, Role: w.Role, State: w.State, Stable: w.Stable,
		Epoch: w.Epoch, Modules: w.Modules, LastConfig: w.LastConfig, LastSwitch: w.LastSwitch,
		Request: w.Request, Takeover: w.Takeover, ResetStandby: w.ResetStandby}, nil
}

// syncRequest is a standby's request for the active's state: Full for a
// whole snapshot now; otherwise the standby holds generation After (which
// acknowledges it) at the active's store revision Revision, and waits for
// a later revision.
type syncRequest struct {
	Version  int    `json:"v"`
	Domain   int    `json:"domain"`
	Full     bool   `json:"full,omitempty"`
	After    uint64 `json:"after"`
	Revision uint64 `json:"revision"`
}

// syncHeader precedes Size bytes of data file; Size 0 means nothing
// changed since the request's generation (a keepalive).
type syncHeader struct {
	Version    int    `json:"v"`
	Generation uint64 `json:"generation"`
	Revision   uint64 `json:"revision"`
	Epoch      uint64 `json:"epoch"`
	Size       int64  `json:"size"`
}

func decodeSyncRequest(body []byte) (syncRequest, error) {
	var r syncRequest
	err := versionedJSON(body, &r, "sync request")
	return r, err
}

func decodeSyncHeader(body []byte) (syncHeader, error) {
	var h syncHeader
	if err := versionedJSON(body, &h, "sync header"); err != nil {
		return h, err
	}
	if h.Size < 0 || h.Size > MaxSnapshot {
		return h, fmt.Errorf("%w: snapshot of %d bytes (at most %d)", ErrMalformed, h.Size, MaxSnapshot)
	}
	return h, nil
}

// versionedJSON decodes one message of what: its version ("v") must be
// this build's or a neighbouring one; its fields must be known, but
// those of a newer neighbour are ignored (it may have added some).
func versionedJSON(body []byte, v any, what string) error {
	var hdr struct {
		Version int `json:"v"`
	}
	if err := decodeJSON(body, &hdr, false); err != nil {
		return err
	}
	if d := hdr.Version - wireVersion; d < -1 || d > 1 || hdr.Version < 1 {
		return fmt.Errorf("%w: %s of version %d, this vsm speaks %d and accepts %d..%d", ErrMalformed, what,
			hdr.Version, wireVersion, max(wireVersion-1, 1), wireVersion+1)
	}
	return decodeJSON(body, v, hdr.Version <= wireVersion)
}

// decodeJSON decodes exactly one JSON object into v; strict refuses
// fields v does not know.
func decodeJSON(body []byte, v any, strict bool) error {
	if len(body) > MaxFrame {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformed, len(body), MaxFrame)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the message", ErrMalformed)
	}
	return nil
}

// frame encodes v as a length-prefixed JSON frame.
func frame(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFrame {
		return nil, fmt.Errorf("message of %d bytes exceeds %d", len(data), MaxFrame)
	}
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(data)), uint16(len(data))), data...), nil
}

// readFrame reads one frame's body.
func readFrame(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size == 0 || size > MaxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes (1..%d)", ErrMalformed, size, MaxFrame)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}
