// Package store is the VSM's state: the network definition (segments with
// their bridge domains, policy profiles, pre-created ports), the ports
// VEMs have bound, and the dynamic port profiles (vnn<N>) of every pair of
// policy profile and segment the bound ports use.
//
// Every accepted change is one bbolt transaction that writes the objects
// it changed, a record of the change and the new configuration
// generation, so a VSM that restarts finds everything, and a change that
// fails (validation, conflict, or the disk) leaves nothing behind. The
// generation grows by one with every change that changes something, and
// only then. Readers take a Snapshot, then follow Changes since its
// generation (Wait blocks until there are some): what the VEM protocol
// turns into configuration updates.
//
// The store is safe for concurrent use; changes are serialised.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the data file this store reads and
// writes. A file of another version is refused (ErrSchema) rather than
// misread; a later version migrates older files up.
const SchemaVersion = 1

// FileName is the data file's name in the VSM's dataDir.
const FileName = "vsm.db"

// DefaultKeepChanges is how many generations of changes the log keeps.
const DefaultKeepChanges = 1024

// Options tune Open.
type Options struct {
	// KeepChanges is how many generations the change log keeps; 0 means
	// DefaultKeepChanges.
	KeepChanges int
	// LockTimeout is how long Open waits for another process to release
	// the data file; 0 means one second.
	LockTimeout time.Duration
	// Now tells the time of changes; nil means time.Now.
	Now func() time.Time
}

// Store holds the VSM's state in memory and in a bbolt data file.
type Store struct {
	db   *bolt.DB
	keep int
	now  func() time.Time

	mu  sync.RWMutex
	cur *state
	enc encoded
	// changed is closed, and replaced, by every commit: Wait's signal.
	changed chan struct{}
	// rev counts every write to the data file since Open (changes, module
	// numbers, the epoch, restores): what the HA pair replicates.
	rev    uint64
	closed bool

	// modMu serialises AssignModule and guards mods, the module records
	// as the data file holds them (nil until first read); Restore marks
	// them stale. It is taken before mu, never while mu is held.
	modMu     sync.Mutex
	mods      map[string]ModuleRecord
	modsStale atomic.Bool
}

// Open opens (creating it and its directory if need be) the data file at
// path and loads the state it holds. Only one process may have a data
// file open; another waits opts.LockTimeout and fails.
func Open(path string, opts Options) (*Store, error) {
	if opts.KeepChanges <= 0 {
		opts.KeepChanges = DefaultKeepChanges
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: in use by another process (is another vsm running on this dataDir?)", path)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, keep: opts.KeepChanges, now: opts.Now, changed: make(chan struct{})}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the data file; the store answers no more.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.changed)
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// load initialises a new data file or checks the schema of an existing
// one, and reads its state.
func (s *Store) load() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: not a VSM data file (no %s bucket)", ErrSchema, bucketMeta)
			}
			return initialise(tx)
		}
		v := meta.Get([]byte("schema"))
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("%w: schema version %q is not a number", ErrSchema, v)
		}
		if n != SchemaVersion {
			return fmt.Errorf("%w: the data file's schema is version %d, this vsm reads version %d", ErrSchema, n, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.read()
}

// read loads the state the data file holds into memory.
func (s *Store) read() error {
	return s.db.View(func(tx *bolt.Tx) error {
		e := encoded{}
		for _, b := range objectBuckets {
			e[b] = map[string][]byte{}
			bk := tx.Bucket([]byte(b))
			if bk == nil {
				return fmt.Errorf("%w: bucket %s missing", ErrSchema, b)
			}
			if err := bk.ForEach(func(k, v []byte) error {
				e[b][string(k)] = append([]byte(nil), v...)
				return nil
			}); err != nil {
				return err
			}
		}
		st, err := decodeState(e)
		if err != nil {
			return err
		}
		meta := tx.Bucket([]byte(bucketMeta))
		st.gen = getUint(meta, "generation")
		st.vnnNext = max(getUint(meta, "vnnNext"), 1)
		s.cur, s.enc = st, e
		return nil
	})
}

func initialise(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket([]byte(bucketMeta))
	if err != nil {
		return err
	}
	for _, b := range append([]string{bucketChanges}, objectBuckets...) {
		if _, err := tx.CreateBucket([]byte(b)); err != nil {
			return err
		}
	}
	if err := meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return err
	}
	if err := putUint(meta, "generation", 0); err != nil {
		return err
	}
	return putUint(meta, "vnnNext", 1)
}

func getUint(b *bolt.Bucket, key string) uint64 {
	v := b.Get([]byte(key))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, key string, n uint64) error {
	return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, n))
}

// Generation returns the current configuration generation: 0 for a new
// store, one more with every change.
func (s *Store) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.gen
}

// Snapshot returns everything the store holds, at one generation.
func (s *Store) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.snapshot()
}

// signal records a write and wakes the waiters; s.mu is held.
func (s *Store) signal() {
	s.rev++
	close(s.changed)
	s.changed = make(chan struct{})
}

// wrote is signal for writes made without s.mu.
func (s *Store) wrote() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.signal()
	}
}

// Revision counts the writes to the data file since it was opened: every
// change, module number, epoch and restore. Unlike the generation it is
// not persisted; the HA pair replicates on it.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// WaitRevision blocks until the revision is other than after, and returns
// it; or until ctx ends or the store closes, with their error.
func (s *Store) WaitRevision(ctx context.Context, after uint64) (uint64, error) {
	for {
		s.mu.RLock()
		rev, ch, closed := s.rev, s.changed, s.closed
		s.mu.RUnlock()
		switch {
		case closed:
			return rev, ErrClosed
		case rev != after:
			return rev, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return rev, ctx.Err()
		}
	}
}

// Wait blocks until the generation is other than after (past it, or
// below it once Restore replaced the state with an older one), and
// returns it; or until ctx ends or the store closes, with their error.
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		s.mu.RLock()
		gen, ch, closed := s.cur.gen, s.changed, s.closed
		s.mu.RUnlock()
		switch {
		case closed:
			return gen, ErrClosed
		case gen != after:
			return gen, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return gen, ctx.Err()
		}
	}
}

// update makes one change: edit changes a copy of the state, which must
// then resolve (bindings fit the network; dynamic port profiles follow),
// and what differs is committed in one transaction with the next
// generation and a record of the change. Nothing different: nothing is
// written and the generation stays. dryRun computes the result only. An
// error of edit, of resolving or of the commit leaves the state as it
// was.
func (s *Store) update(cause string, dryRun bool, edit func(next *state) error, locate locator) (Result, error) {
	r, _, err := s.updateState(cause, dryRun, edit, locate)
	return r, err
}

// updateState is update that also returns the state it leaves: the one
// committed, or the current one when nothing changed.
func (s *Store) updateState(cause string, dryRun bool, edit func(next *state) error, locate locator) (Result, *state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Result{}, nil, ErrClosed
	}
	cur := s.cur
	next := cur.clone()
	if err := edit(next); err != nil {
		return Result{Generation: cur.gen}, nil, err
	}
	if problems := next.resolve(); len(problems) > 0 {
		return Result{Generation: cur.gen}, nil, conflictOf(problems, locate)
	}
	enc, err := next.encode()
	if err != nil {
		return Result{Generation: cur.gen}, nil, err
	}
	writes, objs, err := diff(s.enc, enc)
	if err != nil {
		return Result{Generation: cur.gen}, nil, err
	}
	if len(writes) == 0 {
		r := resultOf(cur.gen, nil)
		r.DryRun = dryRun
		return r, cur, nil
	}
	next.gen = cur.gen + 1
	if dryRun {
		r := resultOf(cur.gen, objs)
		r.DryRun = true
		return r, cur, nil
	}
	change := Change{Generation: next.gen, Time: s.now().UTC(), Cause: cause, Objects: objs}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.commit(tx, next, writes, &change) }); err != nil {
		return Result{Generation: cur.gen}, nil, fmt.Errorf("%s: commit generation %d: %w", cause, next.gen, err)
	}
	s.cur, s.enc = next, enc
	s.signal()
	return resultOf(next.gen, objs), next, nil
}

// commit writes one change in tx.
func (s *Store) commit(tx *bolt.Tx, next *state, writes []write, change *Change) error {
	for _, w := range writes {
		b := tx.Bucket([]byte(w.bucket))
		var err error
		if w.value == nil {
			err = b.Delete([]byte(w.key))
		} else {
			err = b.Put([]byte(w.key), w.value)
		}
		if err != nil {
			return fmt.Errorf("write %s %s: %w", w.bucket, w.key, err)
		}
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if err := putUint(meta, "generation", next.gen); err != nil {
		return err
	}
	if err := putUint(meta, "vnnNext", next.vnnNext); err != nil {
		return err
	}
	return s.logChange(tx, change)
}
