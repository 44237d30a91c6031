package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

const (
	portA = "6f1d2b7c-3e0a-4a5b-9c8d-00000000000a"
	portB = "6f1d2b7c-3e0a-4a5b-9c8d-00000000000b"
	macA  = "52:54:00:00:00:0a"
	macB  = "52:54:00:00:00:0b"
	macC  = "52:54:00:00:00:0c"
	macD  = "52:54:00:00:00:0d"
)

func open(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), store.FileName)
	}
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// base is a network of two segments, two profiles and one pre-created port.
func base() netdef.Network {
	return netdef.Network{
		Segments: []spec.Segment{
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001},
		},
		Profiles: []spec.Profile{{Name: "default", PortSecurity: true}, {Name: "open"}},
		Ports:    []netdef.Port{{ID: portA, MAC: macA, Segment: "web", Profile: "default"}},
	}
}

func withBase(t *testing.T) *store.Store {
	t.Helper()
	s := open(t, "", store.Options{})
	if _, err := s.Apply(base()); err != nil {
		t.Fatal(err)
	}
	return s
}

func refs(kind store.Kind, names ...string) []store.ObjectRef {
	out := []store.ObjectRef{}
	for _, n := range names {
		out = append(out, store.ObjectRef{Kind: kind, Name: n})
	}
	return out
}

func mustBind(t *testing.T, s *store.Store, module int, iface string, req store.BindRequest) store.Binding {
	t.Helper()
	b, err := s.Bind("hv"+string(rune('0'+module)), module, iface, req)
	if err != nil {
		t.Fatalf("bind %s on %d: %v", iface, module, err)
	}
	return b
}

func problems(t *testing.T, err error) []spec.Problem {
	t.Helper()
	var ve *spec.ValidationError
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ve):
		return ve.Problems
	case errors.As(err, &ce):
		return ce.Problems
	}
	t.Fatalf("got %v, want a validation or conflict error", err)
	return nil
}

func hasProblem(ps []spec.Problem, field, msgPart string) bool {
	for _, p := range ps {
		if p.Field == field && strings.Contains(p.Msg, msgPart) {
			return true
		}
	}
	return false
}

func TestApplyReportsAndBumpsOnlyOnChange(t *testing.T) {
	s := open(t, "", store.Options{})
	r, err := s.Apply(base())
	if err != nil {
		t.Fatal(err)
	}
	if r.Generation != 1 || len(r.Created) != 5 || len(r.Updated)+len(r.Deleted) != 0 {
		t.Fatalf("first apply: %+v", r)
	}
	r, err = s.Apply(base())
	if err != nil || r.Generation != 1 || r.Changed() {
		t.Fatalf("same apply again: %+v, %v; want generation 1 and no change", r, err)
	}
	// Written another way (upper case, default MTU spelt out): the same.
	n := base()
	n.Ports[0].ID = strings.ToUpper(portA)
	n.Segments[1].MTU = spec.DefaultSegmentMTU
	if r, err = s.Apply(n); err != nil || r.Changed() || s.Generation() != 1 {
		t.Fatalf("equivalent apply: %+v, %v", r, err)
	}
	n = netdef.Network{Segments: []spec.Segment{{Name: "web", Type: spec.SegmentVLAN, VLAN: 200}}}
	r, err = s.Apply(n)
	if err != nil || r.Generation != 2 || !reflect.DeepEqual(r.Updated, refs(store.KindSegment, "web")) || len(r.Created)+len(r.Deleted) != 0 {
		t.Fatalf("update: %+v, %v", r, err)
	}
	if got := s.Snapshot().Network.Segments; len(got) != 2 {
		t.Fatalf("apply deleted what it did not name: %+v", got)
	}
}

func TestApplyValidationNamesRequestFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     netdef.Network
		field string
		msg   string
	}{
		{"vlan range", netdef.Network{Segments: []spec.Segment{{Name: "x", Type: spec.SegmentVLAN, VLAN: 5000}}}, "segments[0].vlan", "outside"},
		{"vlan of a stored segment", netdef.Network{Segments: []spec.Segment{{Name: "x", Type: spec.SegmentLocal}, {Name: "y", Type: spec.SegmentVLAN, VLAN: 100}}}, "segments[1].vlan", "also segment web"},
		{"vni of a stored segment", netdef.Network{Segments: []spec.Segment{{Name: "x", Type: spec.SegmentVXLAN, VNI: 5001}}}, "segments[0].vni", "also segment db"},
		{"duplicate in the request", netdef.Network{Profiles: []spec.Profile{{Name: "p"}, {Name: "p"}}}, "profiles[1].name", "duplicate"},
		{"dynamic name", netdef.Network{Profiles: []spec.Profile{{Name: "vnn7"}}}, "profiles[0].name", "dynamic port profiles"},
		{"bad uuid", netdef.Network{Ports: []netdef.Port{{ID: "nope", MAC: macB, Segment: "web"}}}, "ports[0].id", "not a UUID"},
		{"unknown segment", netdef.Network{Ports: []netdef.Port{{ID: portB, MAC: macB, Segment: "nosuch"}}}, "ports[0].segment", "no segment"},
		{"mac of a stored port", netdef.Network{Ports: []netdef.Port{{ID: portB, MAC: macA, Segment: "web"}}}, "ports[0].mac", "duplicate"},
		{"vtep", netdef.Network{Segments: []spec.Segment{{Name: "x", Type: spec.SegmentVXLAN, VNI: 9, VTEPs: []string{"127.0.0.1"}}}}, "segments[0].vteps[0]", "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withBase(t)
			_, err := s.Apply(tc.n)
			if ps := problems(t, err); !hasProblem(ps, tc.field, tc.msg) {
				t.Fatalf("problems %v; want %s: ...%s...", ps, tc.field, tc.msg)
			}
			if s.Generation() != 1 {
				t.Fatalf("a refused apply changed the generation to %d", s.Generation())
			}
		})
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	s := withBase(t)
	_, err := s.Create(netdef.Network{Segments: []spec.Segment{{Name: "new", Type: spec.SegmentLocal}, {Name: "web", Type: spec.SegmentVLAN, VLAN: 7}}})
	if !errors.Is(err, store.ErrConflict) || !hasProblem(problems(t, err), "segments[1].name", "exists") {
		t.Fatalf("got %v", err)
	}
	if _, ok := (&netdef.Network{Segments: s.Snapshot().Network.Segments}).Segment("new"); ok {
		t.Fatal("a refused create created")
	}
}

func TestDynamicPortProfiles(t *testing.T) {
	s := withBase(t)
	b1 := mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "web", Profile: "open"})
	b2 := mustBind(t, s, 4, "tap2", store.BindRequest{MAC: macC, Segment: "web", Profile: "open"})
	b3 := mustBind(t, s, 3, "tap3", store.BindRequest{MAC: macD, Segment: "db"})
	if b1.PortProfile != "vnn1" || b2.PortProfile != "vnn1" || b3.PortProfile != "vnn2" {
		t.Fatalf("port profiles %s %s %s; want a shared vnn1 for (open, web), vnn2 for (default policy, db)", b1.PortProfile, b2.PortProfile, b3.PortProfile)
	}
	want := []store.PortProfile{{Name: "vnn1", Profile: "open", Segment: "web"}, {Name: "vnn2", Profile: "", Segment: "db"}}
	if got := s.Snapshot().PortProfiles; !reflect.DeepEqual(got, want) {
		t.Fatalf("port profiles %+v, want %+v", got, want)
	}
	if _, err := s.Unbind(3, "tap1"); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot().PortProfiles; len(got) != 2 {
		t.Fatalf("vnn1 went while tap2 still uses it: %+v", got)
	}
	r, err := s.Unbind(4, "tap2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Deleted, append(refs(store.KindBinding, "4/tap2"), refs(store.KindPortProfile, "vnn1")...)) {
		t.Fatalf("unbinding the last user: %+v; want the binding and vnn1 deleted", r)
	}
	// A number is never reused: the pair comes back under a new name.
	if b := mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "web", Profile: "open"}); b.PortProfile != "vnn3" {
		t.Fatalf("rebound pair is %s, want vnn3", b.PortProfile)
	}
}

func TestDynamicPortProfilesAreReadOnly(t *testing.T) {
	s := withBase(t)
	mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "web"})
	if _, err := s.Delete(store.KindPortProfile, "vnn1"); !errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), "never edited directly") {
		t.Fatalf("delete vnn1: %v", err)
	}
	if _, err := s.Apply(netdef.Network{Profiles: []spec.Profile{{Name: "vnn1", AdminDown: true}}}); !hasProblem(problems(t, err), "profiles[0].name", "vnn") {
		t.Fatalf("apply a profile named vnn1: %v", err)
	}
	if _, err := s.Delete(store.KindBinding, "3/tap1"); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("delete a binding: %v", err)
	}
}

func TestDeleteInUseRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kind  store.Kind
		obj   string
		field string
		msg   string
	}{
		{"segment of a binding", store.KindSegment, "db", "segments", "Vethernet1 of module 3"},
		{"profile of a binding", store.KindProfile, "open", "profiles", "Vethernet1 of module 3"},
		{"segment of a pre-created port", store.KindSegment, "web", "segments", portA},
		{"profile of a pre-created port", store.KindProfile, "default", "profiles", portA},
		{"bound pre-created port", store.KindPort, portA, "ports", "unbind it before deleting it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withBase(t)
			mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "db", Profile: "open"})
			mustBind(t, s, 3, "tap2", store.BindRequest{ID: portA})
			gen := s.Generation()
			_, err := s.Delete(tc.kind, tc.obj)
			if !errors.Is(err, store.ErrConflict) || !hasProblem(problems(t, err), tc.field, tc.msg) {
				t.Fatalf("got %v; want a conflict on %s: ...%s...", err, tc.field, tc.msg)
			}
			if s.Generation() != gen {
				t.Fatal("a refused delete changed the generation")
			}
		})
	}
	s := withBase(t)
	if _, err := s.Delete(store.KindSegment, "nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete nosuch: %v", err)
	}
	if r, err := s.Delete(store.KindSegment, "db"); err != nil || !reflect.DeepEqual(r.Deleted, refs(store.KindSegment, "db")) {
		t.Fatalf("delete unused segment: %+v, %v", r, err)
	}
}

func TestSyncAppliesTheDifference(t *testing.T) {
	s := withBase(t)
	n := base()
	n.Segments[0].VLAN = 101                                                     // web updated
	n.Segments = n.Segments[:1]                                                  // db deleted
	n.Profiles = append(n.Profiles, spec.Profile{Name: "shut", AdminDown: true}) // created
	r, err := s.Sync(n, store.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Result{Generation: 2, Created: refs(store.KindProfile, "shut"), Updated: refs(store.KindSegment, "web"), Deleted: refs(store.KindSegment, "db")}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("sync: %+v\nwant %+v", r, want)
	}
	if r, err = s.Sync(n, store.SyncOptions{}); err != nil || r.Changed() || r.Generation != 2 {
		t.Fatalf("same sync again: %+v, %v", r, err)
	}
	// Dry run: reported, not made.
	r, err = s.Sync(netdef.Network{}, store.SyncOptions{DryRun: true})
	if err != nil || !r.DryRun || len(r.Deleted) != 5 || s.Generation() != 2 || len(s.Snapshot().Network.Segments) != 1 {
		t.Fatalf("dry run: %+v, %v, generation %d", r, err, s.Generation())
	}
}

func TestSyncRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(n *netdef.Network)
		field string
		msg   string
	}{
		{"invalid", func(n *netdef.Network) {
			n.Segments = append(n.Segments, spec.Segment{Name: "x", Type: spec.SegmentVLAN, VLAN: 100})
		}, "segments[2].vlan", "also segment web"},
		{"deletes a bound port's segment", func(n *netdef.Network) {
			n.Segments = n.Segments[:1]
			n.Profiles = append(n.Profiles, spec.Profile{Name: "new"})
		}, "segments", "segment db is used by the port bound as Vethernet1 of module 3"},
		{"deletes a bound pre-created port", func(n *netdef.Network) { n.Ports = nil }, "ports", "unbind it before deleting it"},
		{"changes a bound port's MAC", func(n *netdef.Network) { n.Ports[0].MAC = macD }, "ports[0].mac", "unbind it before changing its MAC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withBase(t)
			mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "db"})
			mustBind(t, s, 3, "tap2", store.BindRequest{ID: portA})
			before := s.Snapshot()
			n := base()
			tc.edit(&n)
			_, err := s.Sync(n, store.SyncOptions{})
			if !hasProblem(problems(t, err), tc.field, tc.msg) {
				t.Fatalf("got %v; want %s: ...%s...", err, tc.field, tc.msg)
			}
			if after := s.Snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused sync changed the state:\n%+v\n%+v", before, after)
			}
		})
	}
}

func TestBindByIDFollowsThePort(t *testing.T) {
	s := withBase(t)
	b := mustBind(t, s, 3, "tap1", store.BindRequest{ID: strings.ToUpper(portA), MAC: macA})
	if b.Segment != "web" || b.Profile != "default" || b.MAC != macA || b.PortProfile != "vnn1" || b.Vethernet != 1 {
		t.Fatalf("binding %+v", b)
	}
	// The orchestrator moves the port to another profile: the binding
	// follows, and so does its dynamic port profile.
	n := base()
	n.Ports[0].Profile = "open"
	r, err := s.Apply(netdef.Network{Ports: n.Ports})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Created, refs(store.KindPortProfile, "vnn2")) || !reflect.DeepEqual(r.Deleted, refs(store.KindPortProfile, "vnn1")) {
		t.Fatalf("apply: %+v", r)
	}
	if got := s.Snapshot().Bindings[0]; got.Profile != "open" || got.PortProfile != "vnn2" {
		t.Fatalf("binding after the port changed: %+v", got)
	}
}

func TestBindRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   string
		module int
		iface  string
		req    store.BindRequest
		is     error
		field  string
	}{
		{"module of a VSM", "hv", 2, "tap9", store.BindRequest{MAC: macD, Segment: "web"}, nil, "module"},
		{"no host", "", 3, "tap9", store.BindRequest{MAC: macD, Segment: "web"}, nil, "host"},
		{"bad interface", "hv3", 3, "tap/9", store.BindRequest{MAC: macD, Segment: "web"}, nil, "interface"},
		{"no mac", "hv3", 3, "tap9", store.BindRequest{Segment: "web"}, nil, "mac"},
		{"multicast mac", "hv3", 3, "tap9", store.BindRequest{MAC: "01:00:5e:00:00:01", Segment: "web"}, nil, "mac"},
		{"no segment", "hv3", 3, "tap9", store.BindRequest{MAC: macD}, nil, "segment"},
		{"bad ip", "hv3", 3, "tap9", store.BindRequest{MAC: macD, Segment: "web", IPs: []string{"x"}}, nil, "ips[0]"},
		{"unknown segment", "hv3", 3, "tap9", store.BindRequest{MAC: macD, Segment: "nosuch"}, store.ErrNotFound, ""},
		{"unknown profile", "hv3", 3, "tap9", store.BindRequest{MAC: macD, Segment: "web", Profile: "nosuch"}, store.ErrNotFound, ""},
		{"unknown port", "hv3", 3, "tap9", store.BindRequest{ID: portB}, store.ErrNotFound, ""},
		{"port bound elsewhere", "hv4", 4, "tap9", store.BindRequest{ID: portA}, store.ErrConflict, "id"},
		{"port's MAC differs", "hv3", 3, "tap9", store.BindRequest{ID: portA, MAC: macD}, store.ErrConflict, "mac"},
		{"port's segment differs", "hv3", 3, "tap9", store.BindRequest{ID: portA, Segment: "db"}, store.ErrConflict, "segment"},
		{"MAC of a pre-created port", "hv3", 3, "tap9", store.BindRequest{MAC: macA, Segment: "db"}, store.ErrConflict, "mac"},
		{"MAC taken in the segment", "hv4", 4, "tap9", store.BindRequest{MAC: macB, Segment: "web"}, store.ErrConflict, "mac"},
		{"module under another host", "other", 3, "tap9", store.BindRequest{MAC: macD, Segment: "web"}, store.ErrConflict, "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withBase(t)
			mustBind(t, s, 3, "tap1", store.BindRequest{ID: portA})
			mustBind(t, s, 3, "tap2", store.BindRequest{MAC: macB, Segment: "web"})
			gen := s.Generation()
			_, err := s.Bind(tc.host, tc.module, tc.iface, tc.req)
			switch {
			case err == nil:
				t.Fatal("bound")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("got %v, want %v", err, tc.is)
			}
			if tc.field != "" && !hasProblem(problems(t, err), tc.field, "") {
				t.Fatalf("got %v, want a problem on %s", err, tc.field)
			}
			if s.Generation() != gen {
				t.Fatal("a refused bind changed the generation")
			}
		})
	}
}

func TestVethernetStableAcrossReattach(t *testing.T) {
	s := withBase(t)
	a := mustBind(t, s, 3, "tap1", store.BindRequest{ID: portA})
	b := mustBind(t, s, 3, "tap2", store.BindRequest{MAC: macB, Segment: "web"})
	c := mustBind(t, s, 4, "tap1", store.BindRequest{MAC: macC, Segment: "web"})
	if a.Vethernet != 1 || b.Vethernet != 2 || c.Vethernet != 1 {
		t.Fatalf("vEths %d %d %d; want 1 and 2 on module 3, 1 on module 4", a.Vethernet, b.Vethernet, c.Vethernet)
	}
	gen := s.Generation()
	if again := mustBind(t, s, 3, "tap2", store.BindRequest{MAC: macB, Segment: "web"}); !reflect.DeepEqual(again, b) || s.Generation() != gen {
		t.Fatalf("binding again: %+v (generation %d→%d); want the same binding, no change", again, gen, s.Generation())
	}
	// The VEM goes and comes back; the VM restarts under another tap name.
	if _, err := s.UnbindModule(3); err != nil {
		t.Fatal(err)
	}
	d := mustBind(t, s, 3, "tap9", store.BindRequest{MAC: macD, Segment: "web"}) // a newcomer first
	b2 := mustBind(t, s, 3, "tap7", store.BindRequest{MAC: macB, Segment: "web"})
	a2 := mustBind(t, s, 3, "tap1", store.BindRequest{ID: portA})
	if a2.Vethernet != 1 || b2.Vethernet != 2 || d.Vethernet != 3 {
		t.Fatalf("after reattach vEths %d %d, newcomer %d; want 1 and 2 back, 3 for the newcomer", a2.Vethernet, b2.Vethernet, d.Vethernet)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(base()); err != nil {
		t.Fatal(err)
	}
	mustBind(t, s, 3, "tap1", store.BindRequest{ID: portA})
	mustBind(t, s, 3, "tap2", store.BindRequest{MAC: macB, Segment: "db", VM: portB})
	if _, err := s.Unbind(3, "tap2"); err != nil {
		t.Fatal(err)
	}
	before := s.Snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, store.Options{})
	if after := s.Snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatalf("reopened:\n%+v\nwant\n%+v", after, before)
	}
	changes, err := s.Changes(0)
	if err != nil || len(changes) != int(before.Generation) {
		t.Fatalf("changes after reopening: %d, %v; want %d", len(changes), err, before.Generation)
	}
	// The vnn counter and the vEth memory survived too.
	b := mustBind(t, s, 3, "tap5", store.BindRequest{MAC: macB, Segment: "db"})
	if b.PortProfile != "vnn3" || b.Vethernet != 2 {
		t.Fatalf("after reopening: %+v; want vnn3 (vnn2 was used) and Vethernet2 back", b)
	}
}

func TestSchemaVersionChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill func(tx *bolt.Tx) error
		want string
	}{
		{"newer schema", func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("schema"), []byte("99"))
		}, "version 99"},
		{"not a VSM file", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("something"))
			return err
		}, "not a VSM data file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), store.FileName)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tc.fill); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			_, err = store.Open(path, store.Options{})
			if !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrSchema: ...%s...", err, tc.want)
			}
		})
	}
}

func TestSecondOpenRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	open(t, path, store.Options{})
	if _, err := store.Open(path, store.Options{LockTimeout: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "another vsm") {
		t.Fatalf("second open: %v", err)
	}
}

func TestChangesLogAndCompaction(t *testing.T) {
	s := open(t, "", store.Options{KeepChanges: 3})
	for vlan := 1; vlan <= 5; vlan++ {
		if _, err := s.Apply(netdef.Network{Segments: []spec.Segment{{Name: "web", Type: spec.SegmentVLAN, VLAN: vlan}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Changes(1); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("changes since 1: %v, want ErrCompacted", err)
	}
	cs, err := s.Changes(2)
	if err != nil || len(cs) != 3 || cs[0].Generation != 3 || cs[2].Generation != 5 {
		t.Fatalf("changes since 2: %+v, %v", cs, err)
	}
	if o := cs[2].Objects; len(o) != 1 || o[0].Op != store.OpUpdate || o[0].Segment == nil || o[0].Segment.VLAN != 5 || cs[2].Cause != "apply" {
		t.Fatalf("change 5: %+v", cs[2])
	}
	if cs, err := s.Changes(5); err != nil || len(cs) != 0 {
		t.Fatalf("changes since now: %v, %v", cs, err)
	}
	if _, err := s.Changes(6); err == nil {
		t.Fatal("changes since the future: no error")
	}
}

func TestChangeOrderDependenciesFirst(t *testing.T) {
	s := withBase(t)
	mustBind(t, s, 3, "tap1", store.BindRequest{MAC: macB, Segment: "web"})
	cs, err := s.Changes(1)
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	var got []store.Kind
	for _, o := range cs[0].Objects {
		got = append(got, o.Kind)
	}
	if want := []store.Kind{store.KindPortProfile, store.KindBinding}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bind changed %v, want %v (the port profile before the binding using it)", got, want)
	}
}

func TestWait(t *testing.T) {
	s := open(t, "", store.Options{})
	done := make(chan uint64)
	go func() {
		gen, _ := s.Wait(context.Background(), 0)
		done <- gen
	}()
	if _, err := s.Apply(base()); err != nil {
		t.Fatal(err)
	}
	select {
	case gen := <-done:
		if gen != 1 {
			t.Fatalf("woke at %d", gen)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing new: %v", err)
	}
}
