package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the supervisor's own bookkeeping: not part of the network
// definition, so they neither move the generation nor appear in the
// change log. Files written before they existed gain them on first use.
const (
	bucketModules    = "modules"    // host → ModuleRecord (JSON)
	bucketSupervisor = "supervisor" // "epoch" → 8 bytes, big-endian
)

// ModuleRecord is what the VSM remembers of a VEM: the module number it
// was given, kept for its host across reattaches and VSM restarts, and the
// VTEP it last announced, which the MAC distribution of its bound ports
// names even while it is away (headless VEMs keep forwarding).
type ModuleRecord struct {
	Host   string `json:"host"`
	Module int    `json:"module"`
	VTEP   string `json:"vtep,omitempty"`
}

// AssignModule returns the module number of host, recording vtep as the
// host's VTEP. A host seen before keeps its number. A new host gets
// preferred when it is a VEM's number that no other host holds (the
// module the VEM says it held, so a VSM that lost its data file keeps the
// numbering), else the lowest free number from FirstVEMModule. A number
// is free when no other host is recorded with it and no binding of
// another host uses it.
func (s *Store) AssignModule(host string, preferred int, vtep string) (ModuleRecord, error) {
	if host == "" {
		return ModuleRecord{}, fmt.Errorf("assign module: no host")
	}
	s.modMu.Lock()
	defer s.modMu.Unlock()
	recs, err := s.modules()
	if err != nil {
		return ModuleRecord{}, fmt.Errorf("assign module to %s: %w", host, err)
	}
	old, known := recs[host]
	rec := old
	if !known {
		s.mu.RLock()
		closed := s.closed
		taken := map[int]string{}
		if !closed {
			for k, b := range s.cur.bindings {
				taken[k.module] = b.Host
			}
		}
		s.mu.RUnlock()
		if closed {
			return ModuleRecord{}, ErrClosed
		}
		for _, r := range recs {
			taken[r.Module] = r.Host
		}
		free := func(n int) bool { h, ok := taken[n]; return !ok || h == host }
		rec = ModuleRecord{Host: host, Module: preferred}
		if preferred < FirstVEMModule || !free(preferred) {
			for rec.Module = FirstVEMModule; !free(rec.Module); rec.Module++ {
			}
		}
	}
	if vtep != "" {
		rec.VTEP = vtep
	}
	if known && old == rec {
		return rec, nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return ModuleRecord{}, fmt.Errorf("assign module to %s: %w", host, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketModules))
		if err != nil {
			return err
		}
		return b.Put([]byte(host), data)
	})
	if err != nil {
		return ModuleRecord{}, fmt.Errorf("assign module to %s: %w", host, err)
	}
	recs[host] = rec
	s.wrote()
	return rec, nil
}

// modules is the module records, read from the data file the first time
// and again after a Restore; s.modMu is held. Only AssignModule writes
// them (and Restore, which marks them stale).
func (s *Store) modules() (map[string]ModuleRecord, error) {
	if s.mods != nil && !s.modsStale.Load() {
		return s.mods, nil
	}
	s.modsStale.Store(false)
	recs := map[string]ModuleRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketModules))
		if b == nil {
			return nil
		}
		var err error
		recs, err = readModules(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read modules: %w", err)
	}
	s.mods = recs
	return recs, nil
}

// ModuleRecords returns every VEM the VSM has given a module number,
// sorted by module.
func (s *Store) ModuleRecords() ([]ModuleRecord, error) {
	s.modMu.Lock()
	defer s.modMu.Unlock()
	recs, err := s.modules()
	if err != nil {
		return nil, err
	}
	out := slices.Collect(maps.Values(recs))
	slices.SortFunc(out, func(a, b ModuleRecord) int { return a.Module - b.Module })
	return out, nil
}

func readModules(b *bolt.Bucket) (map[string]ModuleRecord, error) {
	recs := map[string]ModuleRecord{}
	err := b.ForEach(func(k, v []byte) error {
		var r ModuleRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode module of %s: %w", k, err)
		}
		recs[string(k)] = r
		return nil
	})
	return recs, err
}

// Epoch is the supervisor's epoch, which grows at every takeover and goes
// into its heartbeats: 1 until SetEpoch records another.
func (s *Store) Epoch() (uint64, error) {
	epoch := uint64(1)
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucketSupervisor)); b != nil {
			if n := getUint(b, "epoch"); n > 0 {
				epoch = n
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read epoch: %w", err)
	}
	return epoch, nil
}

// SetEpoch records the supervisor's epoch (at least 1).
func (s *Store) SetEpoch(epoch uint64) error {
	if epoch == 0 {
		return fmt.Errorf("set epoch: 0 is not an epoch")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketSupervisor))
		if err != nil {
			return err
		}
		return putUint(b, "epoch", epoch)
	})
	if err != nil {
		return fmt.Errorf("set epoch %d: %w", epoch, err)
	}
	s.wrote()
	return nil
}
