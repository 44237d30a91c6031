package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// DefaultRoot is where versions are installed side by side.
const DefaultRoot = "/usr/lib/vem"

// The install root's symlinks: the version started next, and the one it
// replaced.
const (
	CurrentLink  = "current"
	PreviousLink = "previous"
)

// Install copies the bundle into root/<version>/ (through a temporary
// directory renamed into place, each file's checksum compared as it is
// copied) and returns the installed bundle. A version installed already
// with the same files is kept as it is; with other files it is refused.
// Nothing is promoted.
func (b *Bundle) Install(root string) (*Bundle, error) {
	dst := filepath.Join(root, b.m.Version)
	if _, err := os.Stat(dst); err == nil {
		inst, err := Load(dst)
		if err != nil {
			return nil, fmt.Errorf("install %s: %s exists and is not a bundle: %w", b.m.Version, dst, err)
		}
		if err := inst.checkSums(); err != nil {
			return nil, fmt.Errorf("install %s: installed already, but not intact: %w", b.m.Version, err)
		}
		if !sameFiles(inst.m.Files, b.m.Files) {
			return nil, fmt.Errorf("install %s: %s holds another build of that version", b.m.Version, dst)
		}
		return inst, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	tmp, err := os.MkdirTemp(root, ".install-"+b.m.Version+"-")
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	for _, name := range b.names() {
		if err := b.copyFile(tmp, name); err != nil {
			return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
		}
	}
	// The manifest Load checked, not the file as it may be now.
	data, err := b.m.Marshal()
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, ManifestFile), data, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	if err := syncDir(tmp); err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	done = true
	if err := syncDir(root); err != nil {
		return nil, fmt.Errorf("install %s: %w", b.m.Version, err)
	}
	return Load(dst)
}

// copyFile copies one listed file of the bundle into dir, with its mode,
// and compares the checksum of what it copied with the manifest's.
func (b *Bundle) copyFile(dir, name string) error {
	src := filepath.Join(b.dir, filepath.FromSlash(name))
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fi.Mode().Perm())
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != b.m.Files[name] {
		return fmt.Errorf("file %s: %w while copying", name, errChecksum)
	}
	return nil
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Promote makes version, installed under root, the one started next:
// root/current points at it (a new symlink renamed over the old one, so a
// start at any moment finds one version or the other), and root/previous
// at the version current named before (unless that is version). The
// version's bundle must load (its manifest checked, its files present).
// A rollback is a Promote of Previous.
func Promote(root, version string) error {
	if err := CheckVersion(version); err != nil {
		return fmt.Errorf("promote: version %w", err)
	}
	if _, err := Load(filepath.Join(root, version)); err != nil {
		return fmt.Errorf("promote %s: %w", version, err)
	}
	cur, err := Current(root)
	switch {
	case errors.Is(err, os.ErrNotExist):
		cur = ""
	case err != nil:
		return fmt.Errorf("promote %s: %w", version, err)
	}
	if cur != "" && cur != version {
		if err := setLink(root, PreviousLink, cur); err != nil {
			return fmt.Errorf("promote %s: %w", version, err)
		}
	}
	if err := setLink(root, CurrentLink, version); err != nil {
		return fmt.Errorf("promote %s: %w", version, err)
	}
	if err := syncDir(root); err != nil {
		return fmt.Errorf("promote %s: %w", version, err)
	}
	return nil
}

// setLink points root/name at target (relative) atomically: a symlink
// beside it, renamed over it.
func setLink(root, name, target string) error {
	tmp := filepath.Join(root, fmt.Sprintf(".%s.%d.tmp", name, os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(root, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Current is the version root/current names: the one started next. An
// install root without it gives an error wrapping os.ErrNotExist.
func Current(root string) (string, error) {
	return readLink(root, CurrentLink)
}

// Previous is the version current replaced (the rollback target); an
// error wrapping os.ErrNotExist if there is none.
func Previous(root string) (string, error) {
	return readLink(root, PreviousLink)
}

func readLink(root, name string) (string, error) {
	target, err := os.Readlink(filepath.Join(root, name))
	if err != nil {
		return "", fmt.Errorf("%s version: %w", name, err)
	}
	if err := CheckVersion(target); err != nil {
		return "", fmt.Errorf("%s version: %s points at %w", name, filepath.Join(root, name), err)
	}
	return target, nil
}

// Versions lists the versions installed under root (directories whose
// name can be a version), sorted.
func Versions(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("installed versions: %w", err)
	}
	var vs []string
	for _, e := range entries {
		if e.IsDir() && CheckVersion(e.Name()) == nil {
			vs = append(vs, e.Name())
		}
	}
	sort.Strings(vs)
	return vs, nil
}
