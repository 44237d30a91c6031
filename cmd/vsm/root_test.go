package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/store"
)

const portA = "6f1d2b7c-3e0a-4a5b-9c8d-00000000000a"

const network = `segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vxlan, vni: 5001}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {id: ` + portA + `, mac: "52:54:00:00:00:0a", segment: web, profile: default}
`

// vsmFile writes a VSM file whose api is addr and returns its path.
func vsmFile(t *testing.T, dir, addr string) string {
	t.Helper()
	path := filepath.Join(dir, "vsm.yaml")
	data := fmt.Sprintf("name: vsm-a\ndomain: 100\nlisten: 127.0.0.1:7443\napi: %s\ndataDir: %s\n", addr, filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve runs an API over a fresh store and returns it with a VSM file
// that points at it.
func serve(t *testing.T) (*store.Store, string, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(st, api.Info{Name: "vsm-a"}, nil))
	t.Cleanup(func() {
		srv.Close()
		_ = st.Close()
	})
	return st, vsmFile(t, dir, strings.TrimPrefix(srv.URL, "http://")), dir
}

func vsmCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

// fields splits table output into rows of words.
func fields(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestApplyAndShow(t *testing.T) {
	st, cfg, dir := serve(t)
	file := writeFile(t, dir, "network.yaml", network)
	code, out, errs := vsmCmd(t, "apply", "-f", file, "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "generation 1\n") || !strings.Contains(out, "created  segment  web") {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	if code, out, _ = vsmCmd(t, "apply", "-f", file, "--config", cfg); code != 0 || out != "generation 1: no change\n" {
		t.Fatalf("apply again: %d %q", code, out)
	}
	if _, err := st.Bind("hv1", 3, "tap-a", store.BindRequest{ID: portA}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd  string
		want [][]string // rows after the header and dashes
	}{
		{"segments", [][]string{{"db", "vxlan", "--", "5001", "1500", "--"}, {"web", "vlan", "100", "--", "--", "--"}}},
		{"ports", [][]string{{"3", "Vethernet1", "hv1", "tap-a", portA, "52:54:00:00:00:0a", "web", "default", "vnn1", "bound"}}},
		{"port-profiles", [][]string{{"vnn1", "default", "web", "1"}}},
		{"bridge-domains", [][]string{{"5001", "db", "1500", "--", "--"}}},
	} {
		code, out, errs := vsmCmd(t, "show", tc.cmd, "--config", cfg)
		if code != 0 {
			t.Fatalf("show %s: %d %s", tc.cmd, code, errs)
		}
		if rows := fields(out); len(rows) < 2 || fmt.Sprint(rows[2:]) != fmt.Sprint(tc.want) {
			t.Errorf("show %s:\n%s\nwant rows %v", tc.cmd, out, tc.want)
		}
	}
	code, out, _ = vsmCmd(t, "show", "profiles", "-o", "json", "--config", cfg)
	var pr api.ProfilesResponse
	if code != 0 || json.Unmarshal([]byte(out), &pr) != nil || pr.Generation != 2 || len(pr.Profiles) != 1 {
		t.Fatalf("show profiles -o json: %d %s", code, out)
	}
}

func TestSyncDryRunAndRefusal(t *testing.T) {
	st, cfg, dir := serve(t)
	file := writeFile(t, dir, "network.yaml", network)
	if code, _, errs := vsmCmd(t, "apply", "-f", file, "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	if _, err := st.Bind("hv1", 3, "tap-b", store.BindRequest{MAC: "52:54:00:00:00:0b", Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	smaller := writeFile(t, dir, "smaller.json", `{"segments": [{"name": "web", "type": "vlan", "vlan": 100}],
"profiles": [{"name": "default", "portSecurity": true}],
"ports": [{"id": "`+portA+`", "mac": "52:54:00:00:00:0a", "segment": "web", "profile": "default"}]}`)
	code, _, errs := vsmCmd(t, "sync", "-f", smaller, "--dry-run", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "smaller.json:1: segments: segment db is used by the port bound as Vethernet1 of module 3") {
		t.Fatalf("sync deleting a used segment: %d %s", code, errs)
	}
	if _, err := st.Unbind(3, "tap-b"); err != nil {
		t.Fatal(err)
	}
	code, out, errs := vsmCmd(t, "sync", "-f", smaller, "--dry-run", "-o", "json", "--config", cfg)
	var res store.Result
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.DryRun || len(res.Deleted) != 1 {
		t.Fatalf("dry run: %d %s %s", code, out, errs)
	}
	if code, out, _ := vsmCmd(t, "sync", "-f", smaller, "--config", cfg); code != 0 || !strings.Contains(out, "deleted  segment  db") {
		t.Fatalf("sync: %d %s", code, out)
	}
}

func TestApplyProblemsPointIntoTheFile(t *testing.T) {
	_, cfg, dir := serve(t)
	file := writeFile(t, dir, "network.yaml", strings.Replace(network, "vlan: 100", "vlan: 4095", 1)+"uplink: po1\n")
	code, _, errs := vsmCmd(t, "apply", "-f", file, "--config", cfg)
	if code != 1 || !strings.Contains(errs, file+":8: uplink: uplink is a host fact") {
		t.Fatalf("apply: %d %s", code, errs)
	}
	file = writeFile(t, dir, "network.yaml", strings.Replace(network, "vlan: 100", "vlan: 4095", 1))
	code, _, errs = vsmCmd(t, "apply", "-f", file, "--config", cfg)
	if code != 1 || !strings.Contains(errs, file+":2: segments[0].vlan: 4095 is outside 1..4094") {
		t.Fatalf("apply: %d %s", code, errs)
	}
}

func TestCommandLineErrors(t *testing.T) {
	_, cfg, dir := serve(t)
	bad := writeFile(t, dir, "bad.yaml", "name: vsm-a\ndomain: 100\nlisten: 127.0.0.1:7443\napi: 0.0.0.0:1\n")
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"show", "segments", "-o", "yaml", "--config", cfg}, "invalid --output", true},
		{[]string{"show", "nosuch"}, "unknown command", true},
		{[]string{"apply", "--config", cfg}, `"filename" not set`, false},
		{[]string{"apply", "-f", filepath.Join(dir, "none.yaml"), "--config", cfg}, "read network definition", false},
		{[]string{"show", "segments", "--config", filepath.Join(dir, "none.yaml")}, "find the VSM's API", false},
		{[]string{"run", "--config", bad}, "line 4: api: 0.0.0.0:1 is not a loopback address", false},
		{[]string{"show", "segments", "--timeout", "0s"}, "invalid --timeout", true},
	} {
		code, _, errs := vsmCmd(t, tc.args...)
		if code != 1 || !strings.Contains(errs, tc.want) || strings.Contains(errs, "for usage") != tc.usage {
			t.Errorf("vsm %s: %d %q; want ...%s... (usage pointer %v)", strings.Join(tc.args, " "), code, errs, tc.want, tc.usage)
		}
	}
}

func TestNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	code, _, errs := vsmCmd(t, "show", "segments", "--config", vsmFile(t, t.TempDir(), addr))
	if code != 1 || !strings.Contains(errs, "the VSM is not running") {
		t.Fatalf("%d %s", code, errs)
	}
}

// TestRunServesUntilCancelled runs `vsm run` in process and stops it.
func TestRunServesUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := vsmFile(t, t.TempDir(), addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errb bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, new(bytes.Buffer), &errb, os.Getenv) }()
	c := api.NewClient(addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil {
			if st.Name != "vsm-a" || st.Domain != 100 || st.Module != 1 {
				t.Fatalf("status %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vsm run did not serve: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("vsm run exited %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vsm run did not stop")
	}
}
