package deploy_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository, one directory up from this package.
const repoRoot = ".."

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds vem-agent, vemctl and vsm once for the package and returns
// the directory that holds them.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "vem-deploy-bin")
		if binErr != nil {
			return
		}
		for _, name := range []string{"vem-agent", "vemctl", "vsm"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "../cmd/"+name).CombinedOutput()
			if err != nil {
				binErr = &buildError{name: name, out: string(out), err: err}
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// libvirtBinary builds cmd/vem-libvirt (cgo against libvirt) into bins,
// once for the package, and returns its path.
func libvirtBinary(t *testing.T, bins string) string {
	t.Helper()
	bin := filepath.Join(bins, "vem-libvirt")
	libvirtOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, "../cmd/vem-libvirt").CombinedOutput()
		if err != nil {
			libvirtErr = fmt.Errorf("build vem-libvirt (cgo: needs libvirt-dev and pkg-config; make build-libvirt installs them): %v\n%s", err, out)
		}
	})
	if libvirtErr != nil {
		t.Fatal(libvirtErr)
	}
	return bin
}

var (
	libvirtOnce sync.Once
	libvirtErr  error
)

type buildError struct {
	name, out string
	err       error
}

func (e *buildError) Error() string { return "build " + e.name + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// unitValues returns every value of key in a unit file's section (keys
// may repeat; values are split on whitespace).
func unitValues(t *testing.T, path, section, key string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vals []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			cur = strings.Trim(line, "[]")
		case cur == section:
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == key {
				vals = append(vals, strings.Fields(v)...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vals
}

// unitValue is the single value of key, the whole of it.
func unitValue(t *testing.T, path, section, key string) string {
	t.Helper()
	return strings.Join(unitValues(t, path, section, key), " ")
}
