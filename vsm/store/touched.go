package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/vem-switch/vem/vsm/netdef"
)

// objKey names one object of the data file: a key of an object bucket.
type objKey struct{ bucket, key string }

// bindEdit is a copy of a state for a change of bindings only (Bind,
// Unbind, UnbindModule): the maps such a change edits (bindings, the
// dynamic port profiles, the vEth numbers of the module it concerns) are
// copied, the network's are shared with the state it copies, which no
// one edits.
func (s *state) bindEdit(module int) *state {
	c := *s
	c.bindings = maps.Clone(s.bindings)
	c.dynamic = maps.Clone(s.dynamic)
	c.veths = maps.Clone(s.veths)
	if v, ok := s.veths[module]; ok {
		c.veths[module] = maps.Clone(v)
	}
	return &c
}

// updateTouched makes a change of bindings as update does, but writes
// and reports only the objects edit says it may have touched (it returns
// them): a bind costs what it changes, not what the store holds. edit
// gets a bindEdit of the state for module and must leave it resolved
// (every binding with its port profile, no port profile unused): it does
// so with resolveBinding for the bindings it changes.
func (s *Store) updateTouched(cause string, module int, edit func(next *state) ([]objKey, error)) (Result, *state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Result{}, nil, ErrClosed
	}
	cur := s.cur
	next := cur.bindEdit(module)
	touched, err := edit(next)
	if err != nil {
		return Result{Generation: cur.gen}, nil, err
	}
	oldPart, newPart := encoded{}, encoded{}
	for _, b := range objectBuckets {
		oldPart[b], newPart[b] = map[string][]byte{}, map[string][]byte{}
	}
	for _, k := range touched {
		if v, ok := s.enc[k.bucket][k.key]; ok {
			oldPart[k.bucket][k.key] = v
		}
		v, ok, err := next.encodeObject(k)
		if err != nil {
			return Result{Generation: cur.gen}, nil, err
		}
		if ok {
			newPart[k.bucket][k.key] = v
		}
	}
	writes, objs, err := diff(oldPart, newPart)
	if err != nil {
		return Result{Generation: cur.gen}, nil, err
	}
	if len(writes) == 0 {
		return resultOf(cur.gen, nil), cur, nil
	}
	next.gen = cur.gen + 1
	change := Change{Generation: next.gen, Time: s.now().UTC(), Cause: cause, Objects: objs}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.commit(tx, next, writes, &change) }); err != nil {
		return Result{Generation: cur.gen}, nil, fmt.Errorf("%s: commit generation %d: %w", cause, next.gen, err)
	}
	for _, w := range writes {
		if w.value == nil {
			delete(s.enc[w.bucket], w.key)
		} else {
			s.enc[w.bucket][w.key] = w.value
		}
	}
	s.cur = next
	s.signal()
	return resultOf(next.gen, objs), next, nil
}

// encodeObject is one object of s as the data file holds it; false when s
// does not hold it.
func (s *state) encodeObject(k objKey) ([]byte, bool, error) {
	var v any
	switch k.bucket {
	case bucketBindings:
		ms, iface, ok := strings.Cut(k.key, "/")
		m, err := strconv.Atoi(ms)
		if !ok || err != nil {
			return nil, false, fmt.Errorf("encode binding %q: malformed key", k.key)
		}
		b, ok := s.bindings[bindKey{m, iface}]
		if !ok {
			return nil, false, nil
		}
		v = b
	case bucketPortProfiles:
		pp, ok := s.dynamic[k.key]
		if !ok {
			return nil, false, nil
		}
		v = pp
	case bucketVeths:
		ms, id, ok := strings.Cut(k.key, "/")
		m, err := strconv.Atoi(ms)
		if !ok || err != nil {
			return nil, false, fmt.Errorf("encode veth %q: malformed key", k.key)
		}
		n, ok := s.veths[m][id]
		if !ok {
			return nil, false, nil
		}
		v = n
	default:
		return nil, false, fmt.Errorf("encode %s %s: not a binding's object", k.bucket, k.key)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, false, fmt.Errorf("encode %s %s: %w", k.bucket, k.key, err)
	}
	return data, true, nil
}

// resolveBinding gives the binding at k (if any) the dynamic port profile
// of its pair, creating it, and removes the port profile old (the one the
// binding, or a binding removed, had) when no binding uses it any more.
// It returns the port profiles it may have touched. The rest of s must
// be resolved already.
func (s *state) resolveBinding(k bindKey, old string) []objKey {
	var touched []objKey
	if b, ok := s.bindings[k]; ok {
		name := ""
		for n, pp := range s.dynamic {
			if pp.Profile == b.Profile && pp.Segment == b.Segment {
				name = n
				break
			}
		}
		if name == "" {
			name = fmt.Sprintf("%s%d", netdef.DynamicPrefix, s.vnnNext)
			s.vnnNext++
			s.dynamic[name] = PortProfile{Name: name, Profile: b.Profile, Segment: b.Segment}
			touched = append(touched, objKey{bucketPortProfiles, name})
		}
		b.PortProfile = name
		s.bindings[k] = b
	}
	if old != "" && !s.portProfileUsed(old) {
		delete(s.dynamic, old)
		touched = append(touched, objKey{bucketPortProfiles, old})
	}
	return touched
}

// portProfileUsed reports whether a binding uses the port profile name.
func (s *state) portProfileUsed(name string) bool {
	for _, b := range s.bindings {
		if b.PortProfile == name {
			return true
		}
	}
	return false
}
