package ovsport

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Bounds on what a row may hold. ovsdb-server itself is trusted to frame
// its messages; what others wrote into the rows is not.
const (
	// MaxExternalIDs bounds the keys of one row's external_ids.
	MaxExternalIDs = 256
	// maxName bounds a row's name and an external_ids key as stored.
	maxName = 256
	// maxStored bounds an external_ids value as stored; the values the
	// source reads are held to maxValue.
	maxStored = 64 << 10
)

// Row is one row of the Interface table, with the columns the source
// monitors.
type Row struct {
	// UUID is the row's _uuid.
	UUID string
	// Name is the interface's name: the tap.
	Name string
	// ExternalIDs is the row's external_ids column.
	ExternalIDs map[string]string
	// Bad says why the row could not be decoded: such a row is refused
	// and never written.
	Bad error
}

// Installed reports whether the row carries ovn-installed="true".
func (r *Row) Installed() bool { return r.ExternalIDs[KeyInstalled] == "true" }

// DecodeRow decodes a row as OVSDB's wire format writes it (RFC 7047 5.1)
// from a monitor reply or update: the object of the monitored columns,
// name (a string) and external_ids (["map", [[key, value], ...]]).
func DecodeRow(uuid string, data []byte) (*Row, error) {
	var cols struct {
		Name        *string         `json:"name"`
		ExternalIDs json.RawMessage `json:"external_ids"`
	}
	if err := json.Unmarshal(data, &cols); err != nil {
		return nil, fmt.Errorf("row %s: %w", uuid, err)
	}
	if cols.Name == nil {
		return nil, fmt.Errorf("row %s: no name column", uuid)
	}
	r := &Row{UUID: uuid, Name: *cols.Name}
	if len(r.Name) > maxName || !utf8.ValidString(r.Name) {
		return nil, fmt.Errorf("row %s: name is not UTF-8 of at most %d bytes", uuid, maxName)
	}
	ids, err := decodeMap(cols.ExternalIDs)
	if err != nil {
		return nil, fmt.Errorf("interface %q: external_ids: %w", r.Name, err)
	}
	r.ExternalIDs = ids
	return r, nil
}

// decodeMap decodes an OVSDB map of strings to strings. A missing column
// is an empty map.
func decodeMap(data json.RawMessage) (map[string]string, error) {
	if len(data) == 0 || string(data) == "null" {
		return map[string]string{}, nil
	}
	var datum []json.RawMessage
	if err := json.Unmarshal(data, &datum); err != nil {
		return nil, fmt.Errorf("not an OVSDB map: %w", err)
	}
	var tag string
	if len(datum) != 2 || json.Unmarshal(datum[0], &tag) != nil || tag != "map" {
		return nil, errors.New(`not an OVSDB map: want ["map", [[key, value], ...]]`)
	}
	var pairs [][]json.RawMessage
	if err := json.Unmarshal(datum[1], &pairs); err != nil {
		return nil, fmt.Errorf("map pairs: %w", err)
	}
	if len(pairs) > MaxExternalIDs {
		return nil, fmt.Errorf("%d keys, more than %d", len(pairs), MaxExternalIDs)
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		var k, v string
		if len(p) != 2 || json.Unmarshal(p[0], &k) != nil || json.Unmarshal(p[1], &v) != nil {
			return nil, errors.New("a map pair is not two strings")
		}
		if len(k) > maxName || len(v) > maxStored {
			return nil, fmt.Errorf("key %q or its value is too long", clip(k))
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("key %q given twice", clip(k))
		}
		m[k] = v
	}
	return m, nil
}

// clip shortens a value from a row for a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
