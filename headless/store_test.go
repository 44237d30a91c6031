package headless

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestLoadEmptyStore(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "cp.db"))
	defer s.Close()
	if _, ok, err := s.Load(); err != nil || ok {
		t.Fatalf("Load of a new store = ok %v, err %v; want none", ok, err)
	}
}

func TestSaveReopenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.db")
	s := openTest(t, path)
	for gen := uint64(1); gen <= 3; gen++ {
		if err := s.Save(testCheckpoint(t, gen)); err != nil {
			t.Fatalf("save %d: %v", gen, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	defer s.Close()
	got, ok, err := s.Load()
	if err != nil || !ok {
		t.Fatalf("Load after reopen = ok %v, err %v", ok, err)
	}
	if want := testCheckpoint(t, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("Load after reopen =\n%+v\nwant\n%+v", got, want)
	}
}

func TestSaveRefusesInvalid(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "cp.db"))
	defer s.Close()
	good := testCheckpoint(t, 1)
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Checkpoint)
	}{
		{"no switch", func(c *Checkpoint) { c.Switch = nil }},
		{"VSM module", func(c *Checkpoint) { c.Module = 1 }},
		{"bad remote MAC", func(c *Checkpoint) { c.RemoteMACs[0].MAC = "zz" }},
		{"remote VTEP not IPv4", func(c *Checkpoint) { c.RemoteMACs[0].VTEP = "2001:db8::1" }},
		{"unnamed binding", func(c *Checkpoint) { c.Bindings[0] = Binding{VEth: 1} }},
		{"invalid switch", func(c *Checkpoint) { sw := *c.Switch; sw.Host = ""; c.Switch = &sw }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCheckpoint(t, 2).Clone()
			tc.edit(&c)
			if err := s.Save(c); err == nil {
				t.Fatal("Save accepted an invalid checkpoint")
			}
			got, _, err := s.Load()
			if err != nil || got.Generation != 1 {
				t.Fatalf("after a refused save Load = generation %d, %v; want the previous one", got.Generation, err)
			}
		})
	}
}

// writeBolt makes a bbolt file at path laid out by fill.
func writeBolt(t *testing.T, path string, fill func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// ourBucket lays out a checkpoint bucket with these magic, schema and
// checkpoint values (nil: left out).
func ourBucket(m, schema, cp []byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketName)
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{"magic": m, "schema": schema, "checkpoint": cp} {
			if v != nil {
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		want  error
		words string
	}{
		{"text file", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ErrForeign, "not a vem checkpoint store"},
		{"other program's bbolt file", func(t *testing.T, p string) {
			writeBolt(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("objects")); return err })
		}, ErrForeign, "other buckets"},
		{"wrong magic", func(t *testing.T, p string) {
			writeBolt(t, p, ourBucket([]byte("something-else"), []byte("1"), nil))
		}, ErrForeign, "magic"},
		{"newer schema", func(t *testing.T, p string) {
			writeBolt(t, p, ourBucket(magic, []byte("2"), nil))
		}, ErrSchema, "schema 2"},
		{"garbled schema", func(t *testing.T, p string) {
			writeBolt(t, p, ourBucket(magic, []byte("one"), nil))
		}, ErrCorrupt, "schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.db")
			tc.make(t, path)
			s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the file")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q: want %v, naming the file and saying %q", err, tc.want, tc.words)
			}
		})
	}
}

func TestLoadRefusesDamagedValues(t *testing.T) {
	good, err := Encode(testCheckpoint(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		value []byte
		want  error
	}{
		{"truncated", good[:len(good)/2], ErrCorrupt},
		{"not JSON", []byte("\x00\x01\x02"), ErrCorrupt},
		{"newer schema", []byte(`{"schema":2,"generation":9}`), ErrSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.db")
			writeBolt(t, path, ourBucket(magic, []byte("1"), tc.value))
			s := openTest(t, path)
			defer s.Close()
			if _, ok, err := s.Load(); !errors.Is(err, tc.want) || ok {
				t.Errorf("Load = ok %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestOpenWaitsForAnotherHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.db")
	s := openTest(t, path)
	defer s.Close()
	if _, err := Open(path, Options{LockTimeout: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Open = %v; want it refused as held by another process", err)
	}
}
