package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

const portA = "6f1d2b7c-3e0a-4a5b-9c8d-00000000000a"

// network is a definition file; the bad vlan of badVLAN is on line 3.
const network = `segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.9]}
profiles:
  - {name: default, portSecurity: true}
  - {name: open}
ports:
  - {id: 6f1d2b7c-3e0a-4a5b-9c8d-00000000000a, mac: "52:54:00:00:00:0a", segment: web, profile: default}
`

type fixture struct {
	store  *store.Store
	srv    *httptest.Server
	client *api.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(st, api.Info{Name: "vsm-a", Domain: 100, Role: "standalone", Module: 1}, nil))
	t.Cleanup(func() {
		srv.Close()
		_ = st.Close()
	})
	return &fixture{store: st, srv: srv, client: api.NewClient(strings.TrimPrefix(srv.URL, "http://"))}
}

func (f *fixture) apply(t *testing.T) {
	t.Helper()
	if _, err := f.client.Apply(context.Background(), []byte(network), netdef.YAML); err != nil {
		t.Fatal(err)
	}
}

// request sends a raw request and returns the status, the decoded error
// body (if any) and the raw body.
func (f *fixture) request(t *testing.T, method, path, ctype, body string) (int, api.ErrorBody, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q: %s", method, path, ct, data)
	}
	if resp.Header.Get(api.GenerationHeader) == "" {
		t.Fatalf("%s %s: no %s header", method, path, api.GenerationHeader)
	}
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error == "" {
			t.Fatalf("%s %s: error body %q", method, path, data)
		}
	}
	return resp.StatusCode, eb, resp.Header
}

func hasProblem(ps []api.Problem, line int, field, msg string) bool {
	for _, p := range ps {
		if p.Line == line && p.Field == field && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

func TestApplyAndViews(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.client.Apply(ctx, []byte(network), netdef.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 1 || len(res.Created) != 5 {
		t.Fatalf("apply: %+v", res)
	}
	segs, err := f.client.Segments(ctx)
	if err != nil || segs.Generation != 1 || len(segs.Segments) != 2 || segs.Segments[0].Name != "db" || segs.Segments[0].MTU != spec.DefaultSegmentMTU {
		t.Fatalf("segments: %+v, %v", segs, err)
	}
	if _, err := f.store.Bind("hv1", 3, "tap-a", store.BindRequest{ID: portA}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Bind("hv1", 3, "tap-b", store.BindRequest{MAC: "52:54:00:00:00:0b", Segment: "db", Profile: "open"}); err != nil {
		t.Fatal(err)
	}
	ports, err := f.client.Ports(ctx)
	if err != nil || len(ports.Ports) != 2 || ports.Ports[0].ID != portA || ports.Ports[0].Binding == nil ||
		ports.Ports[0].Binding.Vethernet != 1 || ports.Ports[1].ID != "" || ports.Ports[1].Binding.PortProfile != "vnn2" {
		t.Fatalf("ports: %+v, %v", ports, err)
	}
	pps, err := f.client.PortProfiles(ctx)
	if err != nil || len(pps.PortProfiles) != 2 || pps.PortProfiles[0].Ports != 1 || pps.Generation != 3 {
		t.Fatalf("port profiles: %+v, %v", pps, err)
	}
	bds, err := f.client.BridgeDomains(ctx)
	want := []api.BridgeDomain{{VNI: 5001, Segment: "db", MTU: 1500, StaticVTEPs: []string{"198.51.100.9"}, Modules: []int{3}}}
	if err != nil || !reflect.DeepEqual(bds.BridgeDomains, want) {
		t.Fatalf("bridge domains: %+v, %v", bds, err)
	}
	st, err := f.client.Status(ctx)
	if err != nil || st.Name != "vsm-a" || st.Generation != 3 || st.Schema != store.SchemaVersion {
		t.Fatalf("status: %+v, %v", st, err)
	}
	cs, err := f.client.Changes(ctx, 1)
	if err != nil || len(cs.Changes) != 2 || cs.Changes[0].Objects[0].Kind != store.KindPortProfile {
		t.Fatalf("changes: %+v, %v", cs, err)
	}
	net, err := f.client.Network(ctx)
	if err != nil || len(net.Ports) != 1 || len(net.Profiles) != 2 {
		t.Fatalf("network: %+v, %v", net, err)
	}
}

func TestApplyProblemsNameFieldsAndLines(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		line              int
		field, msg        string
	}{
		{"vlan range", "application/yaml", strings.Replace(network, "vni: 5001", "vni: 0", 1), 400, 3, "segments[1].vni", "required"},
		{"host fact", "", "segments: []\nvtep: {address: 198.51.100.1}\n", 400, 2, "vtep", "host fact"},
		{"port interface", "", "ports:\n  - {id: " + portA + ", interface: tap-a}\n", 400, 2, "ports[0].interface", "named by its id"},
		{"dynamic name", "", "profiles:\n  - name: vnn1\n", 400, 2, "profiles[0].name", "dynamic port profiles"},
		{"json duplicate", "application/json", "{\"profiles\": [{\"name\": \"a\",\n \"name\": \"b\"}]}", 400, 2, "profiles[0].name", "more than once"},
		{"json unknown", "application/json", "{\"profiles\": [{\"name\": \"a\",\n \"Trusted\": true}]}", 400, 2, "profiles[0].Trusted", "case-sensitive"},
		{"json trailing", "application/json", `{"profiles": []} {}`, 400, 0, "", ""},
		{"empty", "application/yaml", "", 400, 0, "", ""},
		{"content type", "text/plain", "segments: []\n", 415, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			status, eb, _ := f.request(t, http.MethodPost, "/v1/apply", tc.ctype, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%+v), want %d", status, eb, tc.status)
			}
			if tc.field != "" && !hasProblem(eb.Problems, tc.line, tc.field, tc.msg) {
				t.Fatalf("problems %+v; want line %d: %s: ...%s...", eb.Problems, tc.line, tc.field, tc.msg)
			}
		})
	}
}

func TestObjectCRUD(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	web := spec.Segment{Name: "web", Type: spec.SegmentVLAN, VLAN: 100}
	if res, err := f.client.Create(ctx, store.KindSegment, web); err != nil || res.Generation != 1 {
		t.Fatalf("create: %+v, %v", res, err)
	}
	if _, err := f.client.Create(ctx, store.KindSegment, web); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create again: %v, want a conflict", err)
	}
	web.VLAN = 200
	if res, err := f.client.Put(ctx, store.KindSegment, "web", web); err != nil || len(res.Updated) != 1 {
		t.Fatalf("put: %+v, %v", res, err)
	}
	port := netdef.Port{ID: strings.ToUpper(portA), MAC: "52:54:00:00:00:0a", Segment: "web"}
	if _, err := f.client.Put(ctx, store.KindPort, strings.ToUpper(portA), port); err != nil {
		t.Fatalf("put port: %v", err)
	}
	status, _, _ := f.request(t, http.MethodGet, "/v1/ports/"+strings.ToUpper(portA), "", "")
	if status != http.StatusOK {
		t.Fatalf("get port by upper-case ID: %d", status)
	}
	if _, err := f.client.Delete(ctx, store.KindSegment, "web"); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), portA) {
		t.Fatalf("delete a segment a port uses: %v", err)
	}
	if _, err := f.client.Delete(ctx, store.KindPort, portA); err != nil {
		t.Fatal(err)
	}
	if res, err := f.client.Delete(ctx, store.KindSegment, "web"); err != nil || len(res.Deleted) != 1 {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	if _, err := f.client.Delete(ctx, store.KindSegment, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	if status, _, _ := f.request(t, http.MethodGet, "/v1/segments/web", "", ""); status != http.StatusNotFound {
		t.Fatalf("get deleted: %d", status)
	}
}

// TestStrictObjectDecoding checks the refusals of single-object bodies.
func TestStrictObjectDecoding(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		line                     int
		field, msg               string
	}{
		{"unknown field", "PUT", "/v1/segments/web", "{\"name\": \"web\",\n\"colour\": \"red\"}", 2, "colour", "unknown field"},
		{"case", "PUT", "/v1/segments/web", "{\"name\": \"web\", \"type\": \"vlan\",\n\"VLAN\": 100}", 2, "VLAN", "case-sensitive"},
		{"duplicate", "PUT", "/v1/segments/web", "{\"name\": \"web\", \"type\": \"vlan\", \"vlan\": 1,\n\"vlan\": 2}", 2, "vlan", "more than once"},
		{"type", "PUT", "/v1/segments/web", "{\"name\": \"web\", \"type\": \"vlan\",\n\"vlan\": \"100\"}", 2, "vlan", "integer"},
		{"validation", "PUT", "/v1/segments/web", "{\"name\": \"web\", \"type\": \"vlan\",\n\"vlan\": 4095}", 2, "vlan", "outside"},
		{"path and body disagree", "PUT", "/v1/segments/web", "{\"name\": \"db\", \"type\": \"local\"}", 1, "name", "the name in the path"},
		{"vnn profile", "POST", "/v1/profiles", "{\"name\": \"vnn3\"}", 1, "name", "dynamic"},
		{"port id", "POST", "/v1/ports", "{\"id\": \"x\",\n\"mac\": \"52:54:00:00:00:0a\", \"segment\": \"web\"}", 1, "id", "UUID"},
		{"port segment", "POST", "/v1/ports", "{\"id\": \"" + portA + "\",\n\"mac\": \"52:54:00:00:00:0a\",\n\"segment\": \"nosuch\"}", 3, "segment", "no segment"},
		{"trailing data", "PUT", "/v1/segments/web", `{"name": "web", "type": "local"} {}`, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			status, eb, _ := f.request(t, tc.method, tc.path, "application/json", tc.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d (%+v), want 400", status, eb)
			}
			if tc.field != "" && !hasProblem(eb.Problems, tc.line, tc.field, tc.msg) {
				t.Fatalf("problems %+v; want line %d: %s: ...%s...", eb.Problems, tc.line, tc.field, tc.msg)
			}
			if eb.Generation != 0 {
				t.Fatalf("generation %d after a refused request", eb.Generation)
			}
		})
	}
}

func TestSyncDiffAndRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.apply(t)
	if _, err := f.store.Bind("hv1", 3, "tap-b", store.BindRequest{MAC: "52:54:00:00:00:0b", Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	// The orchestrator's whole set: web's VLAN changed, open gone, shut new.
	desired := `{"segments": [{"name": "web", "type": "vlan", "vlan": 101}, {"name": "db", "type": "vxlan", "vni": 5001, "vteps": ["198.51.100.9"]}],
"profiles": [{"name": "default", "portSecurity": true}, {"name": "shut", "adminDown": true}],
"ports": [{"id": "` + portA + `", "mac": "52:54:00:00:00:0a", "segment": "web", "profile": "default"}]}`
	dry, err := f.client.Sync(ctx, []byte(desired), netdef.JSON, store.SyncOptions{DryRun: true})
	if err != nil || !dry.DryRun || dry.Generation != 2 || len(dry.Created)+len(dry.Updated)+len(dry.Deleted) != 3 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	res, err := f.client.Sync(ctx, []byte(desired), netdef.JSON, store.SyncOptions{})
	want := store.Result{Generation: 3,
		Created: []store.ObjectRef{{Kind: store.KindProfile, Name: "shut"}},
		Updated: []store.ObjectRef{{Kind: store.KindSegment, Name: "web"}},
		Deleted: []store.ObjectRef{{Kind: store.KindProfile, Name: "open"}}}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("sync: %+v, %v\nwant %+v", res, err, want)
	}
	if res, err := f.client.Sync(ctx, []byte(desired), netdef.JSON, store.SyncOptions{}); err != nil || res.Changed() || res.Generation != 3 {
		t.Fatalf("the same sync again: %+v, %v", res, err)
	}

	// A sync that would delete db, which tap-b uses, while also creating
	// a segment: refused whole.
	before, _ := f.client.Network(ctx)
	bad := strings.Replace(desired, `{"name": "db", "type": "vxlan", "vni": 5001, "vteps": ["198.51.100.9"]}`, `{"name": "new", "type": "local"}`, 1)
	status, eb, hdr := f.request(t, http.MethodPut, "/v1/sync", "application/json", bad)
	if status != http.StatusConflict || !hasProblem(eb.Problems, 1, "segments", "segment db is used by the port bound as Vethernet1 of module 3 (hv1, tap-b)") {
		t.Fatalf("sync deleting a used segment: %d %+v", status, eb)
	}
	if hdr.Get(api.GenerationHeader) != "3" || eb.Generation != 3 {
		t.Fatalf("generation after a refused sync: %s / %d", hdr.Get(api.GenerationHeader), eb.Generation)
	}
	after, _ := f.client.Network(ctx)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused sync changed the network:\n%+v\n%+v", before, after)
	}
	// Invalid, with the problem on the line of the body.
	status, eb, _ = f.request(t, http.MethodPut, "/v1/sync", "application/yaml", "segments:\n  - {name: a, type: vlan, vlan: 1}\n  - {name: b, type: vlan, vlan: 1}\n")
	if status != http.StatusBadRequest || !hasProblem(eb.Problems, 3, "segments[1].vlan", "also segment a") {
		t.Fatalf("invalid sync: %d %+v", status, eb)
	}
	if status, _, _ := f.request(t, http.MethodPut, "/v1/sync?dryrun=true", "application/json", desired); status != http.StatusBadRequest {
		t.Fatalf("misspelt query parameter: %d", status)
	}
}

func TestPortProfilesReadOnly(t *testing.T) {
	f := newFixture(t)
	f.apply(t)
	if _, err := f.store.Bind("hv1", 3, "tap-a", store.BindRequest{ID: portA}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodPost} {
		for _, path := range []string{"/v1/port-profiles/vnn1", "/v1/port-profiles"} {
			status, eb, hdr := f.request(t, m, path, "application/json", `{"name": "vnn1"}`)
			if status != http.StatusMethodNotAllowed || hdr.Get("Allow") != http.MethodGet || !strings.Contains(eb.Error, "never edited directly") {
				t.Fatalf("%s %s: %d %+v Allow %q", m, path, status, eb, hdr.Get("Allow"))
			}
		}
	}
	if status, _, _ := f.request(t, http.MethodGet, "/v1/port-profiles/vnn1", "", ""); status != http.StatusOK {
		t.Fatalf("get vnn1: %d", status)
	}
	if status, _, _ := f.request(t, http.MethodGet, "/v1/port-profiles/vnn2", "", ""); status != http.StatusNotFound {
		t.Fatalf("get vnn2: %d", status)
	}
}

func TestRequestErrors(t *testing.T) {
	f := newFixture(t)
	f.apply(t)
	for _, tc := range []struct {
		method, path, ctype, body string
		status                    int
	}{
		{"GET", "/v1/nosuch", "", "", 404},
		{"DELETE", "/v1/segments", "", "", 405},
		{"GET", "/v1/segments?x=1", "", "", 400},
		{"GET", "/v1/changes?since=abc", "", "", 400},
		{"GET", "/v1/changes?since=99", "", "", 400},
		{"GET", "/v1/changes", "", "", 400},
		{"PUT", "/v1/segments/web", "application/yaml", "name: web\n", 415},
		{"DELETE", "/v1/profiles/nosuch", "", "", 404},
		{"DELETE", "/v1/profiles/default", "", "", 409},
	} {
		status, eb, _ := f.request(t, tc.method, tc.path, tc.ctype, tc.body)
		if status != tc.status {
			t.Errorf("%s %s: %d %+v, want %d", tc.method, tc.path, status, eb, tc.status)
		}
	}
	big := bytes.Repeat([]byte(" "), api.MaxRequestBody+1)
	status, _, _ := f.request(t, http.MethodPost, "/v1/apply", "application/json", string(big))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", status)
	}
}

func TestChangesCompacted(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{KeepChanges: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(api.NewServer(st, api.Info{}, nil))
	defer srv.Close()
	c := api.NewClient(strings.TrimPrefix(srv.URL, "http://"))
	for i := range 3 {
		seg := spec.Segment{Name: "s" + strconv.Itoa(i), Type: spec.SegmentLocal}
		if _, err := c.Create(context.Background(), store.KindSegment, seg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Changes(context.Background(), 0); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("compacted changes: %v", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	if _, err := api.NewClient(addr).Status(context.Background()); !errors.Is(err, api.ErrNotRunning) {
		t.Fatalf("got %v, want ErrNotRunning", err)
	}
}
