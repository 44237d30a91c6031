package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/issu/bundle"
)

func runMake(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	cmd := exec.Command("make", append([]string{"-C", repoRoot}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestMakeInstall installs into a staging DESTDIR (with the binaries built
// in a directory of the test's), checks the tree (the libvirt hook too) and
// that an installed unit
// still verifies, that a second install keeps an edited vem.yaml, and that
// uninstall removes all but the configuration.
func TestMakeInstall(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, bindir, unitdir, docdir string
	}{
		{"default", "", "/usr/local/bin", "/etc/systemd/system", "/usr/local/share/doc/vem"},
		{"packaging", "/usr", "/usr/bin", "/lib/systemd/system", "/usr/share/doc/vem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			args := []string{"DESTDIR=" + dest, "BIN=" + t.TempDir()}
			if tc.prefix != "" {
				args = append(args, "PREFIX="+tc.prefix)
			}
			// Two versions, as an upgrade through make install would.
			runMake(t, append([]string{"install", "VERSION=0.1.0-test.1"}, args...)...)

			for _, b := range []string{"vemctl", "vsm"} {
				if m := mode(t, filepath.Join(dest, tc.bindir, b)); m != 0o755 {
					t.Errorf("%s/%s mode %v", tc.bindir, b, m)
				}
			}
			// The agent: this build's bundle in /usr/lib/vem/<version>/,
			// current pointing at it, the command a link to current's.
			version := checkAgentInstalled(t, dest, tc.bindir)
			execStart := map[string]string{"vem-agent.service": "/usr/lib/vem/current/", "vsm.service": tc.bindir + "/"}
			for _, u := range units {
				path := filepath.Join(dest, tc.unitdir, u)
				if m := mode(t, path); m != 0o644 {
					t.Errorf("%s mode %v", u, m)
				}
				data, _ := os.ReadFile(path)
				if !strings.Contains(string(data), "ExecStart="+execStart[u]) {
					t.Errorf("installed %s does not run the binaries in %s", u, execStart[u])
				}
				if tc.bindir != "/usr/local/bin" && strings.Contains(string(data), "/usr/local/") {
					t.Errorf("installed %s still names /usr/local", u)
				}
				// The installed unit verifies, its binaries found in the
				// staged tree.
				if _, err := exec.LookPath("systemd-analyze"); err == nil {
					staged := filepath.Join(t.TempDir(), u)
					text := strings.ReplaceAll(string(data), "="+tc.bindir+"/", "="+dest+tc.bindir+"/")
					text = strings.ReplaceAll(text, "=/usr/lib/vem/", "="+dest+"/usr/lib/vem/")
					if err := os.WriteFile(staged, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					if out, ok := verifyUnit(staged); !ok {
						t.Errorf("systemd-analyze verify installed %s:\n%s", u, out)
					}
				} else {
					t.Logf("systemd-analyze is not installed: the installed units are not verified")
				}
			}
			if m := mode(t, filepath.Join(dest, "etc/libvirt/hooks/qemu")); m != 0o755 {
				t.Errorf("libvirt hook mode %v", m)
			}
			if _, err := os.Stat(filepath.Join(dest, tc.docdir, "README.md")); err != nil {
				t.Error(err)
			}
			cfg := filepath.Join(dest, "etc/vem/vem.yaml")
			example, err := os.ReadFile("vem.yaml.example")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(cfg); err != nil || string(got) != string(example) {
				t.Fatalf("etc/vem/vem.yaml is not the example (%v)", err)
			}

			// An edited file survives a second install and the uninstall.
			const mine = "host: mine\n"
			if err := os.WriteFile(cfg, []byte(mine), 0o644); err != nil {
				t.Fatal(err)
			}
			runMake(t, append([]string{"install", "VERSION=0.1.0-test.2"}, args...)...)
			if v := checkAgentInstalled(t, dest, tc.bindir); v != "0.1.0-test.2" || version != "0.1.0-test.1" {
				t.Errorf("installs of 0.1.0-test.1 then .2 made %s then %s current", version, v)
			}
			if prev, err := bundle.Previous(filepath.Join(dest, "usr/lib/vem")); err != nil || prev != version {
				t.Errorf("previous version %q (%v), want %s", prev, err, version)
			}
			runMake(t, append([]string{"uninstall"}, args...)...)
			if got, _ := os.ReadFile(cfg); string(got) != mine {
				t.Errorf("install or uninstall replaced an edited vem.yaml: %q", got)
			}
			var left []string
			filepath.Walk(dest, func(path string, info os.FileInfo, err error) error {
				if err == nil && (!info.IsDir() || strings.Contains(path, "/lib/vem")) && path != cfg {
					left = append(left, path)
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("uninstall left %v", left)
			}
		})
	}
}

// checkAgentInstalled checks the agent's install layout in a staged tree
// and returns the current version: /usr/lib/vem/current is a relative
// link to an installed bundle (manifest and the agent, which says that
// version), and bindir/vem-agent links to /usr/lib/vem/current/vem-agent.
func checkAgentInstalled(t *testing.T, dest, bindir string) string {
	t.Helper()
	root := filepath.Join(dest, "usr/lib/vem")
	version, err := bundle.Current(root)
	if err != nil {
		t.Fatalf("no current version installed: %v", err)
	}
	b, err := bundle.Load(filepath.Join(root, version))
	if err != nil {
		t.Fatalf("installed bundle: %v", err)
	}
	if b.Version() != version {
		t.Fatalf("current names %s, its manifest %s", version, b.Version())
	}
	if m := mode(t, filepath.Join(root, "current", "vem-agent")); m != 0o755 {
		t.Errorf("current/vem-agent mode %v", m)
	}
	out, err := exec.Command(filepath.Join(root, "current", "vem-agent"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "vem-agent "+version+" protocol ") {
		t.Errorf("installed agent --version: %q %v, want version %s", out, err, version)
	}
	if target, err := os.Readlink(filepath.Join(dest, bindir, "vem-agent")); err != nil || target != "/usr/lib/vem/current/vem-agent" {
		t.Errorf("%s/vem-agent links to %q (%v), want /usr/lib/vem/current/vem-agent", bindir, target, err)
	}
	return version
}

// TestMakeInstallLibvirt installs the watcher and its unit into a staging
// DESTDIR, verifies the installed unit, and uninstalls them.
func TestMakeInstallLibvirt(t *testing.T) {
	dest := t.TempDir()
	args := []string{"DESTDIR=" + dest, "BIN=" + t.TempDir()}
	runMake(t, append([]string{"install-libvirt"}, args...)...)
	bin := filepath.Join(dest, "usr/local/bin/vem-libvirt")
	if m := mode(t, bin); m != 0o755 {
		t.Errorf("vem-libvirt mode %v", m)
	}
	unit := filepath.Join(dest, "etc/systemd/system/vem-libvirt.service")
	if m := mode(t, unit); m != 0o644 {
		t.Errorf("vem-libvirt.service mode %v", m)
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		staged := filepath.Join(t.TempDir(), "vem-libvirt.service")
		text := strings.ReplaceAll(string(data), "=/usr/local/bin/", "="+dest+"/usr/local/bin/")
		if err := os.WriteFile(staged, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, ok := verifyUnit(staged); !ok {
			t.Errorf("systemd-analyze verify installed vem-libvirt.service:\n%s", out)
		}
	} else {
		t.Logf("systemd-analyze is not installed: the installed unit is not verified")
	}
	runMake(t, append([]string{"uninstall-libvirt"}, args...)...)
	for _, p := range []string{bin, unit} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("uninstall-libvirt left %s (%v)", p, err)
		}
	}
}
