package headless

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Schema is the version of the stored checkpoint this package writes and
// reads. A change that older readers would misread bumps it.
const Schema = 1

// MaxStoredSize bounds a stored checkpoint's encoding, so that a damaged
// file cannot make the agent allocate without bound.
const MaxStoredSize = 64 << 20

// stored is a checkpoint as written: the schema beside the value.
type stored struct {
	Schema     int `json:"schema"`
	Checkpoint     // embedded: its fields sit beside the schema
}

// Encode is the stored form of a checkpoint, which must pass Check.
func Encode(c Checkpoint) ([]byte, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	data, err := json.Marshal(stored{Schema: Schema, Checkpoint: c})
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	if len(data) > MaxStoredSize {
		return nil, fmt.Errorf("encode checkpoint: %d bytes, more than %d", len(data), MaxStoredSize)
	}
	return data, nil
}

// Decode reads a stored checkpoint: the schema first (ErrSchema unless it
// is Schema), then the value strictly (unknown fields and trailing data
// refused) and its Check; anything else is ErrCorrupt.
func Decode(data []byte) (Checkpoint, error) {
	if len(data) > MaxStoredSize {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, more than %d", ErrCorrupt, len(data), MaxStoredSize)
	}
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	switch {
	case head.Schema == nil:
		return Checkpoint{}, fmt.Errorf("%w: no schema version", ErrCorrupt)
	case *head.Schema != Schema:
		return Checkpoint{}, fmt.Errorf("%w: schema %d, this version reads %d", ErrSchema, *head.Schema, Schema)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s stored
	if err := dec.Decode(&s); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Checkpoint{}, fmt.Errorf("%w: trailing data after the checkpoint", ErrCorrupt)
	}
	if err := s.Checkpoint.Check(); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return s.Checkpoint, nil
}
