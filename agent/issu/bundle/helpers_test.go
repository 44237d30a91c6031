package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The agents the tests bundle, built once per (tags, version) for the
// package in buildDir, removed by TestMain.
var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// agentBuild builds cmd/vem-agent with the build tags (the upgrade
// tests' vemfixture, vemnoconverters, or none) and version stamped.
func agentBuild(t testing.TB, tags, version string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := tags + "@" + version
	if bin, ok := built[key]; ok {
		return bin
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "vem-bundle-test")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	bin := filepath.Join(buildDir, fmt.Sprintf("vem-agent-%d", len(built)))
	args := []string{"build", "-ldflags", "-X main.version=" + version, "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if out, err := exec.Command("go", append(args, "../../../cmd/vem-agent")...).CombinedOutput(); err != nil {
		t.Fatalf("build vem-agent (tags %q, version %s): %v\n%s", tags, version, err, out)
	}
	built[key] = bin
	return bin
}

// makeBundle makes a bundle of a fresh build in a directory of t's.
func makeBundle(t testing.TB, tags, version string, o MakeOptions) *Bundle {
	t.Helper()
	b, err := Make(context.Background(), filepath.Join(t.TempDir(), "bundle-"+version), agentBuild(t, tags, version), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rewriteManifest edits a bundle's manifest in place (no checks: the
// point is to write bad ones).
func rewriteManifest(t testing.TB, b *Bundle, edit func(m *Manifest)) {
	t.Helper()
	m := b.Manifest()
	edit(&m)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir(), ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
