package store

import (
	"maps"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// TestBindWritesOnlyWhatChanged drives Bind, Unbind and UnbindModule (which
// write only the objects they touch) through a sequence of steps and
// checks after each that the store is exactly what a full re-encode of
// its state would write: in memory, in the data file (reopened), with
// every port profile resolved, and that the change names just the
// objects that changed.
func TestBindWritesOnlyWhatChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	const portP = "6f1d2b7c-3e0a-4a5b-9c8d-0000000000aa"
	nw := netdef.Network{
		Segments: []spec.Segment{{Name: "web", Type: spec.SegmentVLAN, VLAN: 100}, {Name: "db", Type: spec.SegmentVXLAN, VNI: 5001}},
		Profiles: []spec.Profile{{Name: "sec", PortSecurity: true}},
		Ports:    []netdef.Port{{ID: portP, MAC: "52:54:00:00:01:01", Segment: "db", Profile: "sec"}},
	}
	if _, err := s.Sync(nw, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	type step struct {
		name string
		do   func() error
		// objs are the objects the change reports, "kind op name".
		objs []string
	}
	bind := func(host string, module int, iface string, req BindRequest) func() error {
		return func() error { _, err := s.Bind(host, module, iface, req); return err }
	}
	steps := []step{
		{"first bind of a pair", bind("hv1", 3, "tap1", BindRequest{MAC: "52:54:00:00:00:01", Segment: "web"}),
			[]string{"port-profile create vnn1", "binding create 3/tap1"}},
		{"same bind again", bind("hv1", 3, "tap1", BindRequest{MAC: "52:54:00:00:00:01", Segment: "web"}), nil},
		{"second port of the pair", bind("hv1", 3, "tap2", BindRequest{MAC: "52:54:00:00:00:02", Segment: "web"}),
			[]string{"binding create 3/tap2"}},
		{"pre-created port on another module", bind("hv2", 4, "tap1", BindRequest{ID: portP}),
			[]string{"port-profile create vnn2", "binding create 4/tap1"}},
		{"rebind to another segment", bind("hv1", 3, "tap2", BindRequest{MAC: "52:54:00:00:00:02", Segment: "db", Profile: "sec"}),
			[]string{"binding update 3/tap2"}},
		{"another port on the interface", bind("hv1", 3, "tap1", BindRequest{MAC: "52:54:00:00:00:03", Segment: "db"}),
			[]string{"port-profile create vnn3", "binding update 3/tap1", "port-profile delete vnn1"}},
		{"unbind", func() error { _, err := s.Unbind(3, "tap1"); return err },
			[]string{"binding delete 3/tap1", "port-profile delete vnn3"}},
		{"bind back gets its number", bind("hv1", 3, "tap9", BindRequest{MAC: "52:54:00:00:00:03", Segment: "web"}),
			[]string{"port-profile create vnn4", "binding create 3/tap9"}},
		{"unbind module", func() error { _, err := s.UnbindModule(3); return err },
			[]string{"binding delete 3/tap2", "binding delete 3/tap9", "port-profile delete vnn4"}},
	}
	for _, st := range steps {
		gen := s.Generation()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got []string
		if s.Generation() != gen {
			ch, err := s.Changes(gen)
			if err != nil || len(ch) != 1 {
				t.Fatalf("%s: changes %v, %v", st.name, ch, err)
			}
			for _, o := range ch[0].Objects {
				got = append(got, string(o.Kind)+" "+string(o.Op)+" "+o.Name)
			}
		}
		if !reflect.DeepEqual(got, st.objs) {
			t.Errorf("%s: change %q, want %q", st.name, got, st.objs)
		}
		full := s.cur.clone()
		if problems := full.resolve(); len(problems) > 0 {
			t.Fatalf("%s: state not resolvable: %v", st.name, problems)
		}
		if !reflect.DeepEqual(full.snapshot(), s.cur.snapshot()) {
			t.Errorf("%s: state not resolved:\n%+v\nresolved:\n%+v", st.name, s.cur.snapshot(), full.snapshot())
		}
		enc, err := s.cur.encode()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range objectBuckets {
			if !maps.EqualFunc(enc[b], s.enc[b], func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Errorf("%s: bucket %s in memory differs from the state's encoding:\n%q\n%q", st.name, b, s.enc[b], enc[b])
			}
		}
	}
	if got := s.cur.bindings[bindKey{3, "tap9"}]; got.Vethernet != 0 {
		t.Fatalf("3/tap9 still bound: %+v", got)
	}
	want := s.Snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if got := r.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened:\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(r.cur.veths, map[int]map[string]int{3: {"mac:52:54:00:00:00:01": 1, "mac:52:54:00:00:00:02": 2, "mac:52:54:00:00:00:03": 3}, 4: {"id:" + portP: 1}}) {
		t.Fatalf("remembered vEth numbers: %v", r.cur.veths)
	}
}
