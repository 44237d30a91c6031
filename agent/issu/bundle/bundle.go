package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Bundle is a bundle directory whose manifest was read and checked.
type Bundle struct {
	dir string
	m   Manifest
}

// Load reads dir's manifest and checks it and the files it lists (present,
// regular, no file the manifest does not list). Checksums are Verify's.
func Load(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	f, err := os.Open(filepath.Join(abs, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: read %s: %w", dir, ManifestFile, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	b := &Bundle{dir: abs, m: *m}
	if err := b.checkFiles(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	return b, nil
}

// Version is the bundle's version.
func (b *Bundle) Version() string { return b.m.Version }

// Agent is the absolute path of the bundle's vem-agent.
func (b *Bundle) Agent() string { return filepath.Join(b.dir, AgentFile) }

// Dir is the bundle's absolute directory.
func (b *Bundle) Dir() string { return b.dir }

// Manifest is a copy of the bundle's manifest.
func (b *Bundle) Manifest() Manifest {
	m := b.m
	m.Files = make(map[string]string, len(b.m.Files))
	for k, v := range b.m.Files {
		m.Files[k] = v
	}
	return m
}

// checkFiles checks that every listed file is a regular file (the agent
// executable) and that the directory holds nothing else.
func (b *Bundle) checkFiles() error {
	for _, name := range b.names() {
		p := filepath.Join(b.dir, filepath.FromSlash(name))
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("file %s listed in %s: %w", name, ManifestFile, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("file %s: not a regular file (%s)", name, fi.Mode().Type())
		}
		if name == AgentFile && fi.Mode().Perm()&0o100 == 0 {
			return fmt.Errorf("file %s: not executable (mode %v)", name, fi.Mode().Perm())
		}
	}
	return filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, ok := b.m.Files[rel]; !ok && rel != ManifestFile {
			return fmt.Errorf("file %s is not listed in %s", rel, ManifestFile)
		}
		return nil
	})
}

// names are the listed files, sorted.
func (b *Bundle) names() []string {
	names := make([]string, 0, len(b.m.Files))
	for n := range b.m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// errChecksum is a file whose content is not the manifest's.
var errChecksum = errors.New("checksum mismatch")

// checkSums compares every file's SHA-256 with the manifest's.
func (b *Bundle) checkSums() error {
	for _, name := range b.names() {
		sum, err := fileSum(filepath.Join(b.dir, filepath.FromSlash(name)))
		if err != nil {
			return fmt.Errorf("file %s: %w", name, err)
		}
		if sum != b.m.Files[name] {
			return fmt.Errorf("file %s: %w: sha256 %s, the manifest says %s", name, errChecksum, sum, b.m.Files[name])
		}
	}
	return nil
}

// fileSum is the hex SHA-256 of a file's content.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
