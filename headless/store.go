package headless

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The file's layout: one bucket holding the magic value, the schema and
// the checkpoint.
var (
	bucketName    = []byte("vem.headless")
	keyMagic      = []byte("magic")
	keySchema     = []byte("schema")
	keyCheckpoint = []byte("checkpoint")
	magic         = []byte("vem-headless-checkpoint")
)

// DefaultLockTimeout is how long Open waits by default for another process
// (an agent still running) to release the file.
const DefaultLockTimeout = 2 * time.Second

// Options tune Open.
type Options struct {
	// LockTimeout is how long to wait for another process's lock on the
	// file; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is a checkpoint file. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens the checkpoint store at path, creating it if the file does
// not exist or is empty. A file of another program is refused with
// ErrForeign, one of another schema with ErrSchema.
func Open(path string, o Options) (*Store, error) {
	timeout := o.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	db, err := openBolt(path, timeout)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the bbolt file, turning a file bbolt cannot read into
// ErrForeign. bbolt may panic on a damaged file; that is refused too.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("checkpoint %s: %w: %v", path, ErrForeign, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("checkpoint %s: another process holds it (waited %v): %w", path, timeout, err)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, fmt.Errorf("checkpoint %s: %w: %v", path, ErrForeign, err)
	case err != nil:
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return db, nil
}

// init checks the file's bucket, magic and schema, or lays them out in a
// new file.
func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			others := 0
			if err := tx.ForEach(func([]byte, *bolt.Bucket) error { others++; return nil }); err != nil {
				return err
			}
			if others > 0 {
				return fmt.Errorf("%w: a bbolt file with %d other buckets and no %s", ErrForeign, others, bucketName)
			}
			b, err := tx.CreateBucket(bucketName)
			if err != nil {
				return err
			}
			if err := b.Put(keyMagic, magic); err != nil {
				return err
			}
			return b.Put(keySchema, []byte(strconv.Itoa(Schema)))
		}
		if m := b.Get(keyMagic); string(m) != string(magic) {
			return fmt.Errorf("%w: magic %q", ErrForeign, truncate(m))
		}
		v := b.Get(keySchema)
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("%w: schema %q", ErrCorrupt, truncate(v))
		}
		if n != Schema {
			return fmt.Errorf("%w: file of schema %d, this version reads %d", ErrSchema, n, Schema)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	return nil
}

// truncate shortens a stored value for an error message.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// Save replaces the checkpoint, in one transaction synced to disk before
// it returns: after a crash the file holds this checkpoint or the one
// before, whole. A checkpoint that fails Check is not written.
func (s *Store) Save(c Checkpoint) error {
	data, err := Encode(c)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrCorrupt, bucketName)
		}
		return b.Put(keyCheckpoint, data)
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: save generation %d: %w", s.path, c.Generation, err)
	}
	return nil
}

// Load returns the stored checkpoint; ok is false when none was ever
// saved. A stored value that does not decode is an error (ErrCorrupt,
// ErrSchema), never an empty checkpoint.
func (s *Store) Load() (c Checkpoint, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, ok, err = Checkpoint{}, false, fmt.Errorf("checkpoint %s: %w: %v", s.path, ErrCorrupt, r)
		}
	}()
	var data []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrCorrupt, bucketName)
		}
		if v := b.Get(keyCheckpoint); v != nil {
			data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	if data == nil {
		return Checkpoint{}, false, nil
	}
	c, err = Decode(data)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	return c, true, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("checkpoint %s: close: %w", s.path, err)
	}
	return nil
}
