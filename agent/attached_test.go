package agent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/spec"
)

func TestAttachedStoreRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		ports []spec.Port
	}{
		{"empty", []spec.Port{}},
		{"two ports", []spec.Port{
			{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "secure"},
			{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "lab"}, // no profile
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The instance directory does not exist yet on a first attach.
			s := attachedStore{path: filepath.Join(t.TempDir(), "default", "attached-ports.json")}
			if err := s.save(tt.ports); err != nil {
				t.Fatal(err)
			}
			got, err := s.load()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.ports) {
				t.Errorf("load = %+v, want %+v", got, tt.ports)
			}
		})
	}
}

func TestAttachedStoreReplace(t *testing.T) {
	dir := t.TempDir()
	s := attachedStore{path: filepath.Join(dir, "attached-ports.json")}
	long := []spec.Port{
		{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "secure"},
		{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "web", Profile: "secure"},
		{Interface: "tap-c", MAC: "52:54:00:00:00:0c", Segment: "web", Profile: "secure"},
	}
	short := long[1:2]
	for _, ports := range [][]spec.Port{long, short} {
		if err := s.save(ports); err != nil {
			t.Fatal(err)
		}
	}
	// A shorter list replaces a longer one whole: no tail of the old file.
	got, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, short) {
		t.Errorf("load = %+v, want %+v", got, short)
	}
	// Written through a temporary file that is renamed into place: none
	// may be left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"attached-ports.json"}) {
		t.Errorf("directory holds %v, want only attached-ports.json", names)
	}
}

// TestAttachedStoreFailedSave: a save that cannot be renamed into place
// (here the path is a directory) fails and leaves no temporary file.
func TestAttachedStoreFailedSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attached-ports.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	err := attachedStore{path: path}.save([]spec.Port{{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web"}})
	if err == nil {
		t.Fatal("save onto a directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "attached-ports.json" {
			t.Errorf("failed save left %s behind", e.Name())
		}
	}
}

func TestAttachedStoreLoad(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		wantErr bool
	}{
		{"missing file", nil, false},
		{"corrupt", ptr(`[{"interface": "tap-a", "mac": `), true},
		{"wrong shape", ptr(`{"interface": "tap-a"}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "attached-ports.json")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := attachedStore{path: path}.load()
			switch {
			case tt.wantErr && err == nil:
				t.Fatalf("load = %+v, want an error", got)
			case tt.wantErr && !strings.Contains(err.Error(), path):
				// The operator must learn which file to fix or remove.
				t.Errorf("error %q does not name %s", err, path)
			case !tt.wantErr && (err != nil || len(got) != 0):
				t.Errorf("load = %+v, %v; want no ports", got, err)
			}
		})
	}
}

// TestAttachedStoreNoPath: without a state path nothing is kept and
// nothing is written.
func TestAttachedStoreNoPath(t *testing.T) {
	t.Chdir(t.TempDir())
	var s attachedStore
	if err := s.save([]spec.Port{{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.load(); err != nil || len(got) != 0 {
		t.Errorf("load = %+v, %v; want no ports", got, err)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("save with no path wrote %d files", len(entries))
	}
}

func ptr[T any](v T) *T { return &v }

// commitAgent is an agent with only what commitAttachedLocked uses: an
// engine over a fake datapath, the state file and a file's base.
func commitAgent(t *testing.T, storePath string) (*Agent, *fakeDatapath) {
	t.Helper()
	dp := newFakeDatapath()
	base := mustParse(t, "host: hv1\nsegments: [{name: lab, type: local}]\nports:\n  - {interface: tap-a, mac: \"52:54:00:00:00:0a\", segment: lab}\n")
	e := NewEngine(EngineOptions{Datapath: dp, Links: testLinks, Limits: spec.DefaultLimits,
		Forwarding: &fakeForwarding{on: map[string]bool{}}})
	if err := e.Apply(context.Background(), Desired{Switch: base}); err != nil {
		t.Fatal(err)
	}
	return &Agent{log: zap.NewNop(), engine: e, store: attachedStore{path: storePath}, base: base}, dp
}

// TestCommitAttached: the state file and the datapath move together; a
// refused apply puts the file back, a failed save puts the datapath back.
func TestCommitAttached(t *testing.T) {
	tapB := spec.Port{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "lab"}
	tapC := spec.Port{Interface: "tap-c", MAC: "52:54:00:00:00:0c", Segment: "lab"}
	dup := spec.Port{Interface: "tap-d", MAC: "52:54:00:00:00:0a", Segment: "lab"} // tap-a's static MAC
	for _, tt := range []struct {
		name        string
		attach      []spec.Port
		badStore    bool
		wantErr     string
		wantInFile  []spec.Port
		wantIfindex []int // vEths in the datapath besides tap-a (12)
	}{
		{"attach", []spec.Port{tapB, tapC}, false, "", []spec.Port{tapB, tapC}, []int{11, 10}},
		{"refused", []spec.Port{tapB, dup}, false, "desired state refused", []spec.Port{tapB}, []int{11}},
		{"save fails", []spec.Port{tapB, tapC}, true, "save attached ports", nil, []int{11}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "attached-ports.json")
			a, dp := commitAgent(t, path)
			if err := a.commitAttachedLocked(context.Background(), tt.attach[:1]); err != nil {
				t.Fatal(err)
			}
			if tt.badStore {
				// The file cannot be replaced: its path is a directory.
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := a.commitAttachedLocked(context.Background(), tt.attach)
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("commit %v: error %v, want %q", tt.attach, err, tt.wantErr)
			}
			if tt.wantErr != "" && !reflect.DeepEqual(a.attached, tt.attach[:1]) {
				t.Errorf("attached after a failed commit: %v, want the old %v", a.attached, tt.attach[:1])
			}
			if !tt.badStore {
				got, err := a.store.load()
				if err != nil || !reflect.DeepEqual(got, tt.wantInFile) {
					t.Errorf("state file holds %v (%v), want %v", got, err, tt.wantInFile)
				}
			}
			for _, ifindex := range append([]int{12}, tt.wantIfindex...) {
				if _, ok := dp.ports[ifindex]; !ok {
					t.Errorf("datapath lacks ifindex %d", ifindex)
				}
			}
			if n := len(dp.ports); n != 1+len(tt.wantIfindex) {
				t.Errorf("datapath has %d ports, want %d", n, 1+len(tt.wantIfindex))
			}
		})
	}
}

// TestAttachSkipsNextHopSync: a port attach on a VXLAN host does not wait
// for the remote VTEPs' next hops to be looked up again; a change of the
// VTEPs does.
func TestAttachSkipsNextHopSync(t *testing.T) {
	dp := newFakeDatapath()
	syncs := 0
	e := NewEngine(EngineOptions{Datapath: dp, Links: testLinks, Limits: spec.DefaultLimits,
		Forwarding: &fakeForwarding{on: map[string]bool{}},
		NextHops:   func(*plan, func(int) bool) { syncs++ }})
	file := func(vteps string) *spec.Switch {
		return mustParse(t, "host: hv1\nuplink: eth1\nvtep: {address: 198.51.100.1}\n"+
			"segments: [{name: blue, type: vxlan, vni: 5001, vteps: ["+vteps+"]}]\n"+
			"ports:\n  - {interface: tap-a, mac: \"52:54:00:00:00:0a\", segment: blue}\n")
	}
	tapB := spec.Port{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "blue"}
	for _, step := range []struct {
		what     string
		d        Desired
		wantSync bool
	}{
		{"first apply", Desired{Switch: file("198.51.100.2")}, true},
		{"attach", Desired{Switch: file("198.51.100.2"), Attached: []spec.Port{tapB}}, false},
		{"detach", Desired{Switch: file("198.51.100.2")}, false},
		{"another VTEP", Desired{Switch: file("198.51.100.2, 198.51.100.3")}, true},
	} {
		before := syncs
		if err := e.Apply(context.Background(), step.d); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if got := syncs > before; got != step.wantSync {
			t.Errorf("%s: next hops synced %v, want %v", step.what, got, step.wantSync)
		}
	}
}
