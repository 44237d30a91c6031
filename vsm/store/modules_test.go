package store_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vem-switch/vem/vsm/store"
)

// TestAssignModule checks that module numbers start at 3, stay with
// their host (also across a reopen), honour a VEM's preferred number only
// when it is free, and skip numbers other hosts' bindings use.
func TestAssignModule(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s := open(t, path, store.Options{})
	if _, err := s.Apply(base()); err != nil {
		t.Fatal(err)
	}
	// A binding made before modules were recorded holds module 4 for hv9.
	if _, err := s.Bind("hv9", 4, "tap9", store.BindRequest{MAC: macD, Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		host      string
		preferred int
		vtep      string
		want      store.ModuleRecord
	}{
		{"hv1", 0, "198.51.100.1", store.ModuleRecord{Host: "hv1", Module: 3, VTEP: "198.51.100.1"}},
		{"hv2", 0, "198.51.100.2", store.ModuleRecord{Host: "hv2", Module: 5, VTEP: "198.51.100.2"}},
		{"hv1", 7, "", store.ModuleRecord{Host: "hv1", Module: 3, VTEP: "198.51.100.1"}},
		{"hv1", 0, "198.51.100.11", store.ModuleRecord{Host: "hv1", Module: 3, VTEP: "198.51.100.11"}},
		{"hv3", 9, "", store.ModuleRecord{Host: "hv3", Module: 9}},
		{"hv4", 3, "", store.ModuleRecord{Host: "hv4", Module: 6}},
		{"hv5", 1, "", store.ModuleRecord{Host: "hv5", Module: 7}},
		{"hv9", 0, "198.51.100.9", store.ModuleRecord{Host: "hv9", Module: 4, VTEP: "198.51.100.9"}},
	}
	for _, st := range steps {
		got, err := s.AssignModule(st.host, st.preferred, st.vtep)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Fatalf("AssignModule(%s, %d, %q) = %+v, want %+v", st.host, st.preferred, st.vtep, got, st.want)
		}
	}
	gen := s.Generation()
	before, err := s.ModuleRecords()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 6 || before[0].Module != 3 || before[5].Module != 9 {
		t.Fatalf("records: %+v", before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, store.Options{})
	after, err := s.ModuleRecords()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) || s.Generation() != gen {
		t.Fatalf("after reopen: %+v at %d, want %+v at %d", after, s.Generation(), before, gen)
	}
	if got, err := s.AssignModule("hv2", 0, ""); err != nil || got.Module != 5 {
		t.Fatalf("hv2 after reopen: %+v, %v", got, err)
	}
}

// TestEpoch checks the epoch is 1 until set, and persists.
func TestEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s := open(t, path, store.Options{})
	if e, err := s.Epoch(); err != nil || e != 1 {
		t.Fatalf("epoch of a new store: %d, %v", e, err)
	}
	if err := s.SetEpoch(0); err == nil {
		t.Fatal("epoch 0 accepted")
	}
	if err := s.SetEpoch(4); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, store.Options{})
	if e, err := s.Epoch(); err != nil || e != 4 {
		t.Fatalf("epoch after reopen: %d, %v", e, err)
	}
}
