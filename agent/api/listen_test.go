package api_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

// staleSocket leaves a socket file at path with nothing listening, as a
// killed agent does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

func TestListenCreatesDirectoryAndSetsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "vem", "default.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o755&^umask(t) {
		t.Errorf("directory mode %o, want %o", got, 0o755&^umask(t))
	}
	fi, err = os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != api.SocketMode {
		t.Errorf("socket mode %v, want a socket with %o", fi.Mode(), api.SocketMode)
	}
}

// umask reads the process umask from /proc, as setting it would race
// with other tests.
func umask(t *testing.T) fs.FileMode {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("read umask: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			var m uint32
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%o", &m); err == nil {
				return fs.FileMode(m)
			}
		}
	}
	t.Skip("no umask in /proc/self/status")
	return 0
}

func TestListenRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vem.sock")
	staleSocket(t, path)
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer ln.Close()
	srv := api.NewServer(&apitest.Backend{StatusInfo: api.Status{Host: "hv1"}}, nil)
	go srv.Serve(ln)
	defer srv.Close()
	st, err := api.NewClient(path).Status(context.Background())
	if err != nil || st.Host != "hv1" {
		t.Errorf("status over the new socket: %+v, %v", st, err)
	}
}

func TestListenRefusesWhileServing(t *testing.T) {
	path := apitest.Serve(t, &apitest.Backend{})
	_, err := api.Listen(path)
	want := "another agent is already serving on " + path
	if err == nil || err.Error() != want {
		t.Fatalf("second listen: got %v, want %q", err, want)
	}
	// The first agent still answers.
	if _, err := api.NewClient(path).Status(context.Background()); err != nil {
		t.Errorf("first agent after second listen: %v", err)
	}
}

func TestListenKeepsNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vem.sock")
	if err := os.WriteFile(path, []byte("not a socket"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Listen(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("listen over a regular file: got %v, want a not-a-socket error", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "not a socket" {
		t.Errorf("regular file changed: %q, %v", data, err)
	}
}

func TestClientNotRunning(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	stale := filepath.Join(dir, "stale.sock")
	staleSocket(t, stale)

	tests := []struct {
		name, socket, want string
	}{
		{"no socket", missing, "vem-agent is not running (no socket at " + missing + "): connect: no such file or directory"},
		{"stale socket", stale, "vem-agent is not running (nothing is listening on " + stale + "): connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.NewClient(tt.socket).Ports(context.Background())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
			if !errors.Is(err, api.ErrNotRunning) {
				t.Errorf("errors.Is(%v, ErrNotRunning) = false", err)
			}
		})
	}
}

// TestClientForeignServer checks the error of a server on the socket that
// does not answer in the API's JSON.
func TestClientForeignServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "foreign.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream gone", http.StatusBadGateway)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	_, err = api.NewClient(path).Status(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway {
		t.Fatalf("got %v, want an *api.Error with status 502", err)
	}
	if want := "agent answered 502 Bad Gateway: upstream gone"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
