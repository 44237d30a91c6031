package store_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/store"
)

func TestSnapshotRestore(t *testing.T) {
	active := withBase(t)
	if _, err := active.AssignModule("hv1", 0, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if err := active.SetEpoch(5); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gen, _, err := active.WriteSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	standby := open(t, filepath.Join(t.TempDir(), store.FileName), store.Options{})
	got, err := standby.Restore(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got != gen || standby.Generation() != gen {
		t.Fatalf("restored generation %d (store %d), want %d", got, standby.Generation(), gen)
	}
	if !reflect.DeepEqual(standby.Snapshot(), active.Snapshot()) {
		t.Fatalf("restored %+v, want %+v", standby.Snapshot(), active.Snapshot())
	}
	if e, _ := standby.Epoch(); e != 5 {
		t.Fatalf("epoch %d, want 5", e)
	}
	if recs, _ := standby.ModuleRecords(); len(recs) != 1 || recs[0].Host != "hv1" {
		t.Fatalf("modules %+v", recs)
	}
	if ch, err := standby.Changes(0); err != nil || len(ch) != int(gen) {
		t.Fatalf("changes %v, %v", ch, err)
	}
	// Not a data file: refused, nothing changed.
	if _, err := standby.Restore([]byte("not a bbolt file")); err == nil {
		t.Fatal("garbage restored")
	}
	if !reflect.DeepEqual(standby.Snapshot(), active.Snapshot()) {
		t.Fatal("a refused restore changed the store")
	}
}

func TestRestoreRefusesAnotherSchema(t *testing.T) {
	s := withBase(t)
	if _, err := s.Restore(nil); err == nil {
		t.Fatal("an empty snapshot restored")
	}
	var buf bytes.Buffer
	other := open(t, filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if _, _, err := other.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(buf.Bytes()); err != nil {
		t.Fatal(err) // an empty store is a valid one
	}
	if s.Generation() != 0 {
		t.Fatalf("generation %d", s.Generation())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(buf.Bytes()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("restore on a closed store: %v", err)
	}
}

// TestWaitWakesOnRestoreToAnOlderGeneration: a standby that restores an
// active's older state (a lost split brain) wakes its followers, which
// must see the generation go back.
func TestWaitWakesOnRestoreToAnOlderGeneration(t *testing.T) {
	ahead := withBase(t)
	if _, err := ahead.Delete(store.KindPort, portA); err != nil {
		t.Fatal(err)
	}
	behind := withBase(t)
	var buf bytes.Buffer
	want, _, err := behind.WriteSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	gen := ahead.Generation()
	if gen <= want {
		t.Fatalf("generations %d and %d", gen, want)
	}
	woke := make(chan uint64, 1)
	go func() {
		g, _ := ahead.Wait(context.Background(), gen)
		woke <- g
	}()
	if _, err := ahead.Restore(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-woke:
		if g != want {
			t.Fatalf("woke at generation %d, want %d", g, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake")
	}
}

// TestRevisionCountsEveryWrite: changes, module numbers and the epoch
// move the revision (what the pair replicates on); a module number that
// does not change does not.
func TestRevisionCountsEveryWrite(t *testing.T) {
	s := withBase(t)
	r0 := s.Revision()
	woke := make(chan uint64, 1)
	go func() {
		r, _ := s.WaitRevision(context.Background(), r0)
		woke <- r
	}()
	if _, err := s.AssignModule("hv1", 0, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woke:
		if r != r0+1 {
			t.Fatalf("revision %d after a module number, want %d", r, r0+1)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRevision did not wake")
	}
	if _, err := s.AssignModule("hv1", 0, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if r := s.Revision(); r != r0+1 {
		t.Fatalf("revision %d after the same module number, want %d", r, r0+1)
	}
	if err := s.SetEpoch(3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(store.KindPort, portA); err != nil {
		t.Fatal(err)
	}
	if r := s.Revision(); r != r0+3 {
		t.Fatalf("revision %d after the epoch and a change, want %d", r, r0+3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitRevision(ctx, r0+3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRevision without a write: %v", err)
	}
}
