package fsutil

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name    string
		before  func(t *testing.T, path string) // nil: path does not exist
		path    string                          // relative to the test's directory
		perm    fs.FileMode
		wantErr string // a substring; "" for success
	}{
		{name: "new file", path: "state.json", perm: 0o600},
		{name: "replaces", path: "state.json", perm: 0o644, before: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("old content that is longer"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "exact mode despite umask", path: "shared", perm: 0o666},
		{name: "creates parents", path: "a/b/state.json", perm: 0o640},
		{name: "replaces a symlink, not its target", path: "link", perm: 0o600, before: func(t *testing.T, path string) {
			if err := os.Symlink("target", path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "parent is a file", path: "file/state.json", perm: 0o600, wantErr: "is not a directory", before: func(t *testing.T, path string) {
			if err := os.WriteFile(filepath.Dir(path), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "path is a directory", path: "dir", perm: 0o600, wantErr: "file exists", before: func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, tt.path)
			if tt.before != nil {
				tt.before(t, path)
			}
			data := []byte("new content\n")
			err := WriteFileAtomic(path, data, tt.perm)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, want an error naming %s that contains %q", err, path, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("content %q, %v; want %q", got, err, data)
				}
				fi, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				if !fi.Mode().IsRegular() || fi.Mode().Perm() != tt.perm {
					t.Errorf("mode %v, want a regular file with %o", fi.Mode(), tt.perm)
				}
			}
			// No temporary file is left behind, whatever happened.
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), ".tmp-") {
					t.Errorf("temporary file left behind: %s", p)
				}
				return nil
			})
		})
	}
}

// TestWriteFileAtomicSyncsDirectory checks that the directory is synced
// after the rename, which is what makes the rename survive a crash, and
// that every directory created is synced into its parent.
func TestWriteFileAtomicSyncsDirectory(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "state.json")
	data := []byte("v2")
	var synced []string
	err := writeFileAtomic(path, data, 0o600, func(dir string) error {
		if dir == filepath.Dir(path) {
			// The rename has happened by the time its directory is synced.
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
				t.Errorf("directory synced before the rename: %q, %v", got, err)
			}
		}
		synced = append(synced, dir)
		return syncDir(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if !slices.Equal(synced, want) {
		t.Errorf("synced %q, want %q", synced, want)
	}
}

func TestWriteFileAtomicReportsDirectorySyncFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	err := writeFileAtomic(path, []byte("x"), 0o600, func(string) error { return syscall.EIO })
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "make the rename durable") {
		t.Errorf("got %v, want the sync's EIO", err)
	}
}
