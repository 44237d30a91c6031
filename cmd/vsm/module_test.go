package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/store"
)

// TestShowModule prints show module from an API whose VEMs are hv1 (ok,
// one port) and hv2 (absent), as a table and as the JSON contract.
func TestShowModule(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info := api.Info{Name: "vsm-a", Module: 1, Modules: func() ([]api.Module, error) {
		return []api.Module{
			{Module: 3, Host: "hv1", Status: "ok", VSM: "vsm-a", VTEP: "198.51.100.1", Generation: 2, SentGeneration: 2},
			{Module: 4, Host: "hv2", Status: "absent", VTEP: "198.51.100.2", Nack: "no uplink"},
		}, nil
	}}
	srv := httptest.NewServer(api.NewServer(st, info, nil))
	defer srv.Close()
	cfg := vsmFile(t, dir, strings.TrimPrefix(srv.URL, "http://"))
	if code, _, errs := vsmCmd(t, "apply", "-f", writeFile(t, dir, "network.yaml", network), "--config", cfg); code != 0 {
		t.Fatal(errs)
	}
	if _, err := st.Bind("hv1", 3, "tap-a", store.BindRequest{ID: portA}); err != nil {
		t.Fatal(err)
	}

	code, out, errs := vsmCmd(t, "show", "module", "--config", cfg)
	if code != 0 {
		t.Fatal(errs)
	}
	rows := fields(out)
	wantRows := [][]string{
		{"Mod", "Ports", "Module-Type", "Model", "Status"},
		{"1", "0", "Virtual", "Supervisor", "Module", "vem-vsm", "active", "*"},
		{"3", "1", "Virtual", "Ethernet", "Module", "vem-agent", "ok"},
		{"4", "0", "Virtual", "Ethernet", "Module", "vem-agent", "absent"},
	}
	if len(rows) < 5 || fmt.Sprint(rows[0]) != fmt.Sprint(wantRows[0]) || fmt.Sprint(rows[2:5]) != fmt.Sprint(wantRows[1:]) {
		t.Fatalf("show module:\n%s", out)
	}
	if !strings.Contains(out, "Server-Name") || !strings.Contains(out, "no uplink") || !strings.Contains(out, "2/2") {
		t.Fatalf("show module lacks the server table:\n%s", out)
	}

	code, out, errs = vsmCmd(t, "show", "module", "-o", "json", "--config", cfg)
	if code != 0 {
		t.Fatal(errs)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := []map[string]any{
		{"module": 1.0, "host": "vsm-a", "status": "active", "ports": 0.0, "vsm": "vsm-a"},
		{"module": 3.0, "host": "hv1", "status": "ok", "ports": 1.0, "vsm": "vsm-a"},
		{"module": 4.0, "host": "hv2", "status": "absent", "ports": 0.0, "vsm": ""},
	}
	if len(got) != len(want) {
		t.Fatalf("show module -o json:\n%s", out)
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Fatalf("module %d: %s = %v, want %v\n%s", i, k, got[i][k], v, out)
			}
		}
	}
}

// TestCertsInit writes a development PKI and refuses to write over it
// or to run without its flags.
func TestCertsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout, or stderr when it fails
	}{
		{"no dir", []string{"certs", "init", "--vsm", "vsm-a"}, 1, "--dir is required"},
		{"no vsm", []string{"certs", "init", "--dir", dir, "--host", "hv1"}, 1, "--vsm is required"},
		{"bad name", []string{"certs", "init", "--dir", dir, "--vsm", "../x"}, 1, "is not"},
		{"init", []string{"certs", "init", "--dir", dir, "--vsm", "vsm-a", "--vsm", "vsm-b", "--host", "hv1,hv2"}, 0, filepath.Join(dir, "hv2-key.pem")},
		{"again", []string{"certs", "init", "--dir", dir, "--vsm", "vsm-a", "--host", "hv1"}, 1, "never written over"},
	}
	for _, c := range cases {
		code, out, errs := vsmCmd(t, c.args...)
		text := out
		if c.code != 0 {
			text = errs
		}
		if code != c.code || !strings.Contains(text, c.want) {
			t.Fatalf("%s: %d\n%s%s", c.name, code, out, errs)
		}
	}
	for _, n := range []string{"ca", "vsm-a", "vsm-b", "hv1", "hv2"} {
		if _, err := os.Stat(filepath.Join(dir, n+".pem")); err != nil {
			t.Fatal(err)
		}
	}
}
