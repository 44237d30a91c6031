package store_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vem-switch/vem/vsm/store"
)

// TestModuleRecordsFollowRestore: the module records a store keeps in
// memory are those of the data file, also after a Restore replaced it
// under records it had read and assigned, and after a reopen.
func TestModuleRecordsFollowRestore(t *testing.T) {
	active := withBase(t)
	for _, h := range []string{"hv1", "hv2"} {
		if _, err := active.AssignModule(h, 0, "198.51.100."+h[2:]); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, _, err := active.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), store.FileName)
	standby := open(t, path, store.Options{})
	// The standby numbered hosts of its own before it follows the active.
	for _, h := range []string{"hv9", "hv2"} {
		if _, err := standby.AssignModule(h, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := standby.Restore(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	want := []store.ModuleRecord{{Host: "hv1", Module: 3, VTEP: "198.51.100.1"}, {Host: "hv2", Module: 4, VTEP: "198.51.100.2"}}
	if recs, err := standby.ModuleRecords(); err != nil || !reflect.DeepEqual(recs, want) {
		t.Fatalf("after restore: %+v, %v; want %+v", recs, err, want)
	}
	cases := []struct {
		host, vtep string
		want       store.ModuleRecord
	}{
		{"hv2", "", want[1]},
		{"hv9", "", store.ModuleRecord{Host: "hv9", Module: 5}},
		{"hv1", "198.51.100.11", store.ModuleRecord{Host: "hv1", Module: 3, VTEP: "198.51.100.11"}},
	}
	for _, c := range cases {
		got, err := standby.AssignModule(c.host, 0, c.vtep)
		if err != nil || got != c.want {
			t.Fatalf("assign %s: %+v, %v; want %+v", c.host, got, err, c.want)
		}
	}
	recs, _ := standby.ModuleRecords()
	if err := standby.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := open(t, path, store.Options{})
	if got, err := reopened.ModuleRecords(); err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("reopened: %+v, %v; want %+v", got, err, recs)
	}
}
