package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// logChange records change in the change log and drops the generations
// older than the log keeps.
func (s *Store) logChange(tx *bolt.Tx, change *Change) error {
	data, err := json.Marshal(change)
	if err != nil {
		return fmt.Errorf("encode change: %w", err)
	}
	log := tx.Bucket([]byte(bucketChanges))
	if err := log.Put(genKey(change.Generation), data); err != nil {
		return fmt.Errorf("log change: %w", err)
	}
	if change.Generation <= uint64(s.keep) {
		return nil
	}
	oldest := change.Generation - uint64(s.keep) + 1
	c := log.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < oldest; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("compact change log: %w", err)
		}
	}
	return nil
}

func genKey(gen uint64) []byte { return binary.BigEndian.AppendUint64(nil, gen) }

// Changes returns the changes after generation since, oldest first: none
// when since is the current generation. Changes older than the log keeps
// are ErrCompacted: the caller starts again from a Snapshot. A generation
// in the future is an error too (the caller saw another store).
func (s *Store) Changes(since uint64) ([]Change, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	gen := s.cur.gen
	if since > gen {
		return nil, fmt.Errorf("changes since generation %d: the store is at generation %d", since, gen)
	}
	if since == gen {
		return nil, nil
	}
	var out []Change
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketChanges)).Cursor()
		k, v := c.Seek(genKey(since + 1))
		if k == nil || binary.BigEndian.Uint64(k) != since+1 {
			return fmt.Errorf("changes since generation %d: %w (the log keeps the last %d generations)", since, ErrCompacted, s.keep)
		}
		for ; k != nil; k, v = c.Next() {
			var ch Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("decode change %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, ch)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
