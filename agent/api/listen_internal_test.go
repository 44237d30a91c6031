package api

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestListenBindsPrivately checks the mechanism that keeps the socket
// from being reachable with a looser mode than SocketMode under any
// umask: while the socket still has the mode the umask gave it, it is in
// a directory only its owner can enter, and nothing is at its path yet.
func TestListenBindsPrivately(t *testing.T) {
	old := syscall.Umask(0) // the worst case; process-wide, so not parallel
	defer syscall.Umask(old)

	path := filepath.Join(t.TempDir(), "vem.sock")
	called := false
	ln, err := listen(path, func(private string) {
		called = true
		fi, err := os.Lstat(private)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket {
			t.Errorf("%s is %v, want a socket", private, fi.Mode())
		}
		di, err := os.Lstat(filepath.Dir(private))
		if err != nil {
			t.Fatal(err)
		}
		if got := di.Mode(); !got.IsDir() || got.Perm() != 0o700 {
			t.Errorf("socket bound in %s with mode %v, want a directory with 0700", filepath.Dir(private), got)
		}
		if st, ok := di.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			t.Errorf("private directory not owned by this process's user")
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("something at %s before the socket moved there: %v", path, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !called {
		t.Fatal("the bound hook was not called")
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != SocketMode {
		t.Errorf("socket mode %v, want a socket with %o", fi.Mode(), SocketMode)
	}
	if got := ln.Addr().String(); got != path {
		t.Errorf("listener address %q, want %q", got, path)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d entries beside the socket's, want none: %v", len(entries)-1, entries)
	}
	// The socket still answers after the move.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the moved socket: %v", err)
	}
	conn.Close()
}

// TestListenRefusesSocketThatAppears checks that a socket appearing at
// the path while Listen sets its own up is not replaced.
func TestListenRefusesSocketThatAppears(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vem.sock")
	var other net.Listener
	_, err := listen(path, func(string) {
		var err error
		if other, err = net.Listen("unix", path); err != nil {
			t.Fatal(err)
		}
	})
	if other == nil {
		t.Fatal("the bound hook was not called")
	}
	defer other.Close()
	want := "another agent is already serving on " + path + " (its socket appeared while this one was set up)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the other socket was replaced: %v", err)
	}
	conn.Close()
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("private directory left behind: %v", entries)
	}
}

// TestListenCloseKeepsSuccessor checks that closing a listener whose
// socket was replaced (a stale agent shutting down after a new one took
// over the path) leaves the new socket alone.
func TestListenCloseKeepsSuccessor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vem.sock")
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("closing the first listener removed the second's socket: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
}
