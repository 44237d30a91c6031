package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// Buckets of the data file. Objects are JSON values keyed by name; meta
// holds the schema version, the generation and the next vnn number;
// changes holds the change log keyed by generation (8 bytes, big-endian).
const (
	bucketMeta         = "meta"
	bucketChanges      = "changes"
	bucketSegments     = "segments"
	bucketProfiles     = "profiles"
	bucketPorts        = "ports"
	bucketBindings     = "bindings"
	bucketPortProfiles = "portProfiles"
	bucketVeths        = "veths" // "<module>/<identity>" → vEth number
)

// objectBuckets are the buckets of the state's objects, in the order a
// change creates them; it deletes them in reverse.
var objectBuckets = []string{bucketSegments, bucketProfiles, bucketPorts, bucketPortProfiles, bucketBindings, bucketVeths}

// kindOf is the kind each object bucket reports in changes; veths are
// bookkeeping, not reported.
var kindOf = map[string]Kind{
	bucketSegments:     KindSegment,
	bucketProfiles:     KindProfile,
	bucketPorts:        KindPort,
	bucketPortProfiles: KindPortProfile,
	bucketBindings:     KindBinding,
}

// encoded is a state as the data file holds it: bucket → key → value.
type encoded map[string]map[string][]byte

// encode renders s's objects as the data file holds them.
func (s *state) encode() (encoded, error) {
	e := encoded{}
	add := func(bucket, key string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", bucket, key, err)
		}
		if e[bucket] == nil {
			e[bucket] = map[string][]byte{}
		}
		e[bucket][key] = data
		return nil
	}
	for _, b := range objectBuckets {
		e[b] = map[string][]byte{}
	}
	for k, v := range s.segments {
		if err := add(bucketSegments, k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range s.profiles {
		if err := add(bucketProfiles, k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range s.ports {
		if err := add(bucketPorts, k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range s.dynamic {
		if err := add(bucketPortProfiles, k, v); err != nil {
			return nil, err
		}
	}
	for _, v := range s.bindings {
		if err := add(bucketBindings, v.Name(), v); err != nil {
			return nil, err
		}
	}
	for m, ids := range s.veths {
		for id, n := range ids {
			if err := add(bucketVeths, strconv.Itoa(m)+"/"+id, n); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// decodeState rebuilds a state from what the data file holds.
func decodeState(e encoded) (*state, error) {
	s := newState()
	for bucket, objs := range e {
		for key, data := range objs {
			if err := s.decodeObject(bucket, key, data); err != nil {
				return nil, fmt.Errorf("decode %s %q: %w", bucket, key, err)
			}
		}
	}
	return s, nil
}

func (s *state) decodeObject(bucket, key string, data []byte) error {
	switch bucket {
	case bucketSegments:
		var v spec.Segment
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		s.segments[key] = v
	case bucketProfiles:
		var v spec.Profile
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		s.profiles[key] = v
	case bucketPorts:
		var v netdef.Port
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		s.ports[key] = v
	case bucketPortProfiles:
		var v PortProfile
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		s.dynamic[key] = v
	case bucketBindings:
		var v Binding
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		s.bindings[bindKey{v.Module, v.Interface}] = v
	case bucketVeths:
		ms, id, ok := strings.Cut(key, "/")
		m, err := strconv.Atoi(ms)
		if !ok || err != nil {
			return fmt.Errorf("malformed key")
		}
		var n int
		if err := json.Unmarshal(data, &n); err != nil {
			return err
		}
		if s.veths[m] == nil {
			s.veths[m] = map[string]int{}
		}
		s.veths[m][id] = n
	default:
		return fmt.Errorf("unknown bucket")
	}
	return nil
}

// write is one key of the data file to put (value) or delete (nil).
type write struct {
	bucket, key string
	value       []byte
}

// diff compares two encoded states: the writes that turn old into new,
// and the reported object changes with their new values, creations and
// updates in objectBuckets order, then deletions in reverse.
func diff(old, new encoded) ([]write, []ObjectChange, error) {
	var writes []write
	var upserts, deletes []ObjectChange
	for _, b := range objectBuckets {
		for _, k := range slices.Sorted(maps.Keys(new[b])) {
			prev, existed := old[b][k]
			if existed && bytes.Equal(prev, new[b][k]) {
				continue
			}
			writes = append(writes, write{b, k, new[b][k]})
			kind, reported := kindOf[b]
			if !reported {
				continue
			}
			oc := ObjectChange{Op: OpUpdate, ObjectRef: ObjectRef{Kind: kind, Name: k}}
			if !existed {
				oc.Op = OpCreate
			}
			if err := oc.setValue(new[b][k]); err != nil {
				return nil, nil, fmt.Errorf("change of %s %s: %w", kind, k, err)
			}
			upserts = append(upserts, oc)
		}
	}
	for _, b := range slices.Backward(objectBuckets) {
		for _, k := range slices.Sorted(maps.Keys(old[b])) {
			if _, kept := new[b][k]; kept {
				continue
			}
			writes = append(writes, write{b, k, nil})
			if kind, reported := kindOf[b]; reported {
				deletes = append(deletes, ObjectChange{Op: OpDelete, ObjectRef: ObjectRef{Kind: kind, Name: k}})
			}
		}
	}
	return writes, append(upserts, deletes...), nil
}

// setValue decodes an object's new value into the field of its kind.
func (oc *ObjectChange) setValue(data []byte) error {
	var v any
	switch oc.Kind {
	case KindSegment:
		oc.Segment = new(spec.Segment)
		v = oc.Segment
	case KindProfile:
		oc.Profile = new(spec.Profile)
		v = oc.Profile
	case KindPort:
		oc.Port = new(netdef.Port)
		v = oc.Port
	case KindBinding:
		oc.Binding = new(Binding)
		v = oc.Binding
	case KindPortProfile:
		oc.PortProfile = new(PortProfile)
		v = oc.PortProfile
	}
	return json.Unmarshal(data, v)
}
