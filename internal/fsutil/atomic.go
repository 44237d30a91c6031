package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with data so that, after a
// crash or power loss at any moment, path holds either its old content
// or data, never a mix or nothing: it writes data to a temporary file
// beside path, syncs it, renames it over path and then syncs the
// directory, without which the rename itself may not survive a crash.
//
// The file gets exactly perm, whatever the umask. Missing parent
// directories are created (0755, under the umask), each synced into its
// own parent. A symbolic link at path is replaced, not followed.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(path, data, perm, syncDir)
}

// writeFileAtomic is WriteFileAtomic with the directory sync as a
// parameter, so that tests can see when it happens.
func writeFileAtomic(path string, data []byte, perm fs.FileMode, syncDir func(dir string) error) error {
	dir := filepath.Dir(path)
	if err := mkdirAll(dir, syncDir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: make the rename durable: %w", path, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents, syncing each new
// directory's parent so that its entry is durable too.
func mkdirAll(dir string, syncDir func(string) error) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent, syncDir); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created meanwhile by someone else, who syncs it
		}
		return err
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("make %s durable: %w", dir, err)
	}
	return nil
}

// syncDir flushes the directory dir: the entries created, removed or
// renamed in it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
