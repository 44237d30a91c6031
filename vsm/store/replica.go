package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// WriteSnapshot writes a consistent copy of the whole data file (every
// bucket: the network, the bindings, the modules, the epoch and the
// change log) to w, as one bbolt read transaction sees it, and returns
// the generation it holds and the revision it is at (see Revision). A
// standby restores it with Restore.
func (s *Store) WriteSnapshot(w io.Writer) (gen, rev uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	gen, rev = s.cur.gen, s.rev
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("write snapshot of generation %d: %w", gen, err)
	}
	return gen, rev, nil
}

// Restore replaces everything the store holds with the data file in data
// (WriteSnapshot's output, from the active VSM), in one transaction, and
// returns the generation it now holds. A data file of another schema, or
// not a data file, is refused and leaves the store as it was. Waiters are
// woken even if the generation did not grow.
func (s *Store) Restore(data []byte) (uint64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(s.db.Path()), ".restore-*")
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	name := tmp.Name()
	defer func() { _ = os.Remove(name) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	src, err := bolt.Open(name, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("restore: not a data file: %w", err)
	}
	defer func() { _ = src.Close() }()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	err = src.View(func(stx *bolt.Tx) error {
		meta := stx.Bucket([]byte(bucketMeta))
		if meta == nil {
			return fmt.Errorf("%w: not a VSM data file (no %s bucket)", ErrSchema, bucketMeta)
		}
		if v := string(meta.Get([]byte("schema"))); v != strconv.Itoa(SchemaVersion) {
			return fmt.Errorf("%w: the snapshot's schema is version %q, this vsm reads version %d", ErrSchema, v, SchemaVersion)
		}
		return s.db.Update(func(tx *bolt.Tx) error {
			var names [][]byte
			if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, append([]byte(nil), name...))
				return nil
			}); err != nil {
				return err
			}
			for _, n := range names {
				if err := tx.DeleteBucket(n); err != nil {
					return err
				}
			}
			return stx.ForEach(func(name []byte, b *bolt.Bucket) error {
				dst, err := tx.CreateBucket(name)
				if err != nil {
					return err
				}
				return copyBucket(dst, b)
			})
		})
	})
	if err != nil {
		return s.cur.gen, fmt.Errorf("restore: %w", err)
	}
	s.modsStale.Store(true)
	if err := s.read(); err != nil {
		// The transaction committed a file this vsm reads (its schema
		// was checked), so this is a corrupt snapshot: say so loudly.
		return 0, fmt.Errorf("restore: read the restored state: %w", err)
	}
	s.signal()
	return s.cur.gen, nil
}

// copyBucket copies src's keys and nested buckets into dst.
func copyBucket(dst, src *bolt.Bucket) error {
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(k, v)
		}
		sb := src.Bucket(k)
		if sb == nil {
			return errors.New("restore: a key without a value or bucket")
		}
		db, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(db, sb)
	})
}
