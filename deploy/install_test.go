package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
			runMake(t, append([]string{"install"}, args...)...)

			for _, b := range []string{"vem-agent", "vemctl", "vsm"} {
				if m := mode(t, filepath.Join(dest, tc.bindir, b)); m != 0o755 {
					t.Errorf("%s/%s mode %v", tc.bindir, b, m)
				}
			}
			for _, u := range units {
				path := filepath.Join(dest, tc.unitdir, u)
				if m := mode(t, path); m != 0o644 {
					t.Errorf("%s mode %v", u, m)
				}
				data, _ := os.ReadFile(path)
				if !strings.Contains(string(data), "ExecStart="+tc.bindir+"/") {
					t.Errorf("installed %s does not run the binaries in %s", u, tc.bindir)
				}
				if tc.bindir != "/usr/local/bin" && strings.Contains(string(data), "/usr/local/") {
					t.Errorf("installed %s still names /usr/local", u)
				}
				// The installed unit verifies, its binaries found in the
				// staged tree.
				if _, err := exec.LookPath("systemd-analyze"); err == nil {
					staged := filepath.Join(t.TempDir(), u)
					text := strings.ReplaceAll(string(data), "="+tc.bindir+"/", "="+dest+tc.bindir+"/")
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
			runMake(t, append([]string{"install"}, args...)...)
			runMake(t, append([]string{"uninstall"}, args...)...)
			if got, _ := os.ReadFile(cfg); string(got) != mine {
				t.Errorf("install or uninstall replaced an edited vem.yaml: %q", got)
			}
			var left []string
			filepath.Walk(dest, func(path string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() && path != cfg {
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
