package bundle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vem-switch/vem/protocol"
)

func TestMakeAndLoad(t *testing.T) {
	b := makeBundle(t, "", "1.1.0", MakeOptions{UpgradesFrom: "1.0.0", DowngradesTo: "1.0.0"})
	v := protocol.CurrentVersion()
	m := b.Manifest()
	if b.Version() != "1.1.0" || m.Protocol != fmt.Sprintf("%d.%d", v.GetMajor(), v.GetMinor()) || m.UpgradesFrom != "1.0.0" {
		t.Fatalf("manifest %+v", m)
	}
	if !filepath.IsAbs(b.Agent()) || filepath.Base(b.Agent()) != AgentFile {
		t.Fatalf("Agent() = %s", b.Agent())
	}
	sum, err := fileSum(b.Agent())
	if err != nil || m.Files[AgentFile] != sum {
		t.Fatalf("manifest sum %s, file %s (%v)", m.Files[AgentFile], sum, err)
	}
	// A build without a stamped version is "dev", which cannot carry
	// version floors.
	if _, err := Make(context.Background(), t.TempDir(), agentBuild(t, "", "dev"), MakeOptions{UpgradesFrom: "1.0.0"}); err == nil ||
		!strings.Contains(err.Error(), "cannot be ordered") {
		t.Fatalf("dev build with a floor: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, dir string)
		want string
	}{
		{"no manifest", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, ManifestFile))) }, "manifest.json: no such file"},
		{"no agent", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, AgentFile))) }, "file vem-agent listed in manifest.json"},
		{"unlisted file", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "extra.sh"), []byte("#!/bin/sh\n"), 0o755))
		}, "file extra.sh is not listed"},
		{"agent is a symlink", func(t *testing.T, dir string) {
			must(t, os.Rename(filepath.Join(dir, AgentFile), filepath.Join(dir, "real")))
			must(t, os.Symlink("real", filepath.Join(dir, AgentFile)))
		}, "not a regular file"},
		{"agent not executable", func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, AgentFile), 0o644)) }, "not executable"},
		{"manifest field", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
			must(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(strings.Replace(string(data), `"protocol": "`, `"protocol": "x`, 1)), 0o644))
		}, "manifest.json: protocol:"},
	} {
		b := makeBundle(t, "", "1.1.0", MakeOptions{})
		tc.edit(t, b.Dir())
		_, err := Load(b.Dir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// TestVerifyRefusesBundle: a bundle whose files, version or protocol are
// not what its manifest says, or whose version may not follow the running
// one, is refused before its agent's dry run, the problem named.
func TestVerifyRefusesBundle(t *testing.T) {
	running := &Manifest{Version: "1.2.0", Protocol: "1.0", DowngradesTo: "1.2.0"}
	for _, tc := range []struct {
		name      string
		loadFirst bool // edited after Load (Load would refuse it), else before
		edit      func(t *testing.T, b *Bundle)
		o         VerifyOptions
		want      string
	}{
		{"agent changed", true, func(t *testing.T, b *Bundle) {
			f, err := os.OpenFile(b.Agent(), os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			f.Write([]byte{0})
			f.Close()
		}, VerifyOptions{}, "file vem-agent: checksum mismatch"},
		{"file added", true, func(t *testing.T, b *Bundle) {
			must(t, os.WriteFile(filepath.Join(b.Dir(), "x"), nil, 0o644))
		}, VerifyOptions{}, "file x is not listed"},
		{"manifest lies about the version", false, func(t *testing.T, b *Bundle) {
			rewriteManifest(t, b, func(m *Manifest) { m.Version = "1.4.0" })
		}, VerifyOptions{}, "--version says version 1.1.0, the manifest 1.4.0"},
		{"manifest lies about the protocol", false, func(t *testing.T, b *Bundle) {
			rewriteManifest(t, b, func(m *Manifest) { m.Protocol = "1.7" })
		}, VerifyOptions{}, "--version says protocol 1.0, the manifest 1.7"},
		{"not an executable", false, func(t *testing.T, b *Bundle) {
			must(t, os.WriteFile(b.Agent(), []byte("#!/bin/false\n"), 0o755))
			sum, err := fileSum(b.Agent())
			must(t, err)
			rewriteManifest(t, b, func(m *Manifest) { m.Files[AgentFile] = sum })
		}, VerifyOptions{}, "vem-agent --version: exit status 1"},
		{"below the running one's downgrade floor", false, func(*testing.T, *Bundle) {}, VerifyOptions{Running: running},
			"can be downgraded to 1.2.0 or later, not to 1.1.0"},
	} {
		b := makeBundle(t, "", "1.1.0", MakeOptions{})
		if !tc.loadFirst {
			tc.edit(t, b)
		}
		loaded, err := Load(b.Dir())
		must(t, err)
		if tc.loadFirst {
			tc.edit(t, loaded) // changed after Load: Verify checks again
		}
		err = loaded.Verify(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || IsCheckError(err) {
			t.Errorf("%s: err = %v, want one saying %q before upgrade-check", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyUpgradeCheck runs the new agent's dry run for an instance
// that has never run here: the file with the new version's rules, the
// programs through the verifier. A file it refuses is named with its line.
func TestVerifyUpgradeCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: upgrade-check loads the eBPF programs (run the tests as root; CI does)")
	}
	b := makeBundle(t, "", "1.1.0", MakeOptions{})
	dir := t.TempDir()
	instance := fmt.Sprintf("bt%d", os.Getpid())
	cfg := filepath.Join(dir, "vem.yaml")
	must(t, os.WriteFile(cfg, []byte("host: hv1\ninstance: "+instance+"\nsocket: "+filepath.Join(dir, "s.sock")+
		"\nsegments:\n  - {name: lab, type: local}\nports:\n  - {interface: tap-none, mac: \"52:54:00:00:00:0a\", segment: lab}\n"), 0o644))
	o := VerifyOptions{Instance: instance, ConfigFile: cfg, StateDir: filepath.Join(dir, "state")}
	if err := b.Verify(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/bpf/vem", instance)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dry run made the instance's pin directory: %v", err)
	}
	if _, err := os.Stat(o.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dry run made the state directory: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	must(t, os.WriteFile(bad, []byte("host: hv1\ninstance: "+instance+"\nsegments:\n  - {name: lab, type: bogus}\n"), 0o644))
	for _, tc := range []struct {
		name string
		o    VerifyOptions
		want string
	}{
		{"file refused", VerifyOptions{Instance: instance, ConfigFile: bad, StateDir: o.StateDir}, "line 4: segments[0].type"},
		{"other instance", VerifyOptions{Instance: "other", ConfigFile: cfg, StateDir: o.StateDir}, `names instance "` + instance + `", not "other"`},
		{"no file", VerifyOptions{ConfigFile: filepath.Join(dir, "none.yaml")}, "none.yaml"},
	} {
		err := b.Verify(context.Background(), tc.o)
		if !IsCheckError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want upgrade-check's refusal saying %q", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

func TestInstallPromoteRollback(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lib-vem")
	b1 := makeBundle(t, "", "1.1.0", MakeOptions{})
	b2 := makeBundle(t, "vemfixture", "1.2.0", MakeOptions{UpgradesFrom: "1.1.0", DowngradesTo: "1.1.0"})

	if _, err := Current(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Current of an empty root: %v", err)
	}
	if err := Promote(root, "1.1.0"); err == nil {
		t.Fatal("promoted a version that is not installed")
	}
	i1, err := b1.Install(root)
	must(t, err)
	if i1.Dir() != filepath.Join(root, "1.1.0") {
		t.Fatalf("installed in %s", i1.Dir())
	}
	if _, err := b1.Install(root); err != nil {
		t.Fatalf("installing the same bundle again: %v", err)
	}
	must(t, Promote(root, "1.1.0"))
	if _, err := b2.Install(root); err != nil {
		t.Fatal(err)
	}
	if v, _ := Current(root); v != "1.1.0" {
		t.Fatalf("installing 1.2.0 changed current to %s", v)
	}

	// The unit's path: root/current/vem-agent runs the current version.
	says := func() string {
		out, err := exec.Command(filepath.Join(root, CurrentLink, AgentFile), "--version").Output()
		must(t, err)
		return strings.Fields(string(out))[1]
	}
	for _, step := range []struct {
		promote, current, previous string
	}{
		{"1.2.0", "1.2.0", "1.1.0"}, // upgrade committed
		{"1.1.0", "1.1.0", "1.2.0"}, // rollback: Promote(Previous)
		{"1.1.0", "1.1.0", "1.2.0"}, // again: previous stays
	} {
		must(t, Promote(root, step.promote))
		cur, err := Current(root)
		must(t, err)
		prev, err := Previous(root)
		must(t, err)
		if cur != step.current || prev != step.previous || says() != step.current {
			t.Fatalf("promote %s: current %s, previous %s, the agent says %s", step.promote, cur, prev, says())
		}
	}

	// Another build under an installed version's name is refused.
	other := makeBundle(t, "vemfixture", "1.1.0", MakeOptions{})
	if _, err := other.Install(root); err == nil || !strings.Contains(err.Error(), "another build") {
		t.Fatalf("install of another 1.1.0: %v", err)
	}
	// A bundle changed after Load is refused while copying, and nothing is
	// left of it.
	b3 := makeBundle(t, "", "1.3.0", MakeOptions{})
	must(t, os.WriteFile(b3.Agent(), []byte("#!/bin/sh\n"), 0o755))
	if _, err := b3.Install(root); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("install of a changed bundle: %v", err)
	}
	vs, err := Versions(root)
	must(t, err)
	if !slices.Equal(vs, []string{"1.1.0", "1.2.0"}) {
		t.Fatalf("installed versions %v", vs)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("left %s in the root", e.Name())
		}
	}
	for _, bad := range []string{"../x", "current", "9.9.9"} {
		if err := Promote(root, bad); err == nil {
			t.Fatalf("promoted %q", bad)
		}
	}
	if v, _ := Current(root); v != "1.1.0" {
		t.Fatalf("refused promotes changed current to %s", v)
	}
}

// TestPromoteIsAtomic: while current flips between two versions, a start
// (here: opening root/current/vem-agent) always finds one of them.
func TestPromoteIsAtomic(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"1.1.0", "1.2.0"} {
		dir := filepath.Join(root, v)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, AgentFile), []byte(v), 0o755))
		sum, err := fileSum(filepath.Join(dir, AgentFile))
		must(t, err)
		m := Manifest{Format: Format, Version: v, Protocol: "1.0", Files: map[string]string{AgentFile: sum}}
		data, err := m.Marshal()
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644))
	}
	must(t, Promote(root, "1.1.0"))
	var stop atomic.Bool
	var opens, missed atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := os.ReadFile(filepath.Join(root, CurrentLink, AgentFile)); err != nil {
					missed.Add(1)
				}
				opens.Add(1)
			}
		}()
	}
	for i := range 300 {
		must(t, Promote(root, []string{"1.2.0", "1.1.0"}[i%2]))
	}
	stop.Store(true)
	wg.Wait()
	if missed.Load() > 0 {
		t.Fatalf("%d of %d opens of current/vem-agent failed during 300 promotes", missed.Load(), opens.Load())
	}
	t.Logf("%d opens during 300 promotes, none missed", opens.Load())
}
