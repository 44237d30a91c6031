package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// units are the units make install installs; libvirtUnits those of make
// install-libvirt.
var (
	units        = []string{"vem-agent.service", "vsm.service"}
	libvirtUnits = []string{"vem-libvirt.service"}
)

// needSystemdAnalyze skips, saying why, where systemd-analyze is missing
// (make test installs it: scripts/deps.sh test).
func needSystemdAnalyze(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd; make test installs it)")
	}
}

// verifyUnit runs systemd-analyze verify on a unit file. verify exits 0
// on an unknown key or a bad value (it logs "ignoring"), so any message
// at all is a failure too.
func verifyUnit(path string, extra ...string) (string, bool) {
	args := append([]string{"verify", "--man=no"}, extra...)
	out, err := exec.Command("systemd-analyze", append(args, path)...).CombinedOutput()
	return string(out), err == nil && strings.TrimSpace(string(out)) == ""
}

// forVerify copies a unit into a fresh directory under its own name, with
// the installed binaries' directory and the current agent version's
// pointing at the built binaries (verify checks that ExecStart's binary
// exists and is executable).
func forVerify(t *testing.T, name, bins string, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "/usr/local/bin/", bins+"/")
	text = strings.ReplaceAll(text, "/usr/lib/vem/current/", bins+"/")
	if edit != nil {
		text = edit(text)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitsVerify(t *testing.T) {
	needSystemdAnalyze(t)
	bins := binaries(t)
	libvirtBinary(t, bins)
	for _, name := range append(slices.Clone(units), libvirtUnits...) {
		if out, ok := verifyUnit(forVerify(t, name, bins, nil)); !ok {
			t.Errorf("systemd-analyze verify %s:\n%s", name, out)
		}
	}
}

// TestVerifyRejectsBrokenUnits: the check is real: a misspelt directive, a
// bad value, a directive in the wrong section and a missing binary each
// fail it.
func TestVerifyRejectsBrokenUnits(t *testing.T) {
	needSystemdAnalyze(t)
	bins := binaries(t)
	for _, tc := range []struct {
		name string
		edit func(string) string
	}{
		{"misspelt directive", func(s string) string { return strings.Replace(s, "Restart=always", "Restrat=always", 1) }},
		{"bad value", func(s string) string { return strings.Replace(s, "KillMode=mixed", "KillMode=gently", 1) }},
		{"wrong section", func(s string) string {
			return strings.Replace(s, "Restart=always", "Restart=always\nBefore=libvirtd.service", 1)
		}},
		{"missing binary", func(s string) string { return strings.Replace(s, bins+"/vem-agent", bins+"/no-such-agent", 1) }},
	} {
		path := forVerify(t, "vem-agent.service", bins, tc.edit)
		if out, ok := verifyUnit(path); ok {
			t.Errorf("%s: verify passed", tc.name)
		} else {
			t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		}
	}
}

// TestAgentUnit checks the settings the agent's semantics depend on.
func TestAgentUnit(t *testing.T) {
	const u = "systemd/vem-agent.service"
	for key, want := range map[string]string{
		"Restart":                  "always",
		"KillMode":                 "mixed",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"RuntimeDirectory":         "vem",
		"RuntimeDirectoryPreserve": "yes",
		"StateDirectory":           "vem",
		"NoNewPrivileges":          "yes",
		"ExecStart":                "/usr/lib/vem/current/vem-agent --config /etc/vem/vem.yaml --state-dir /var/lib/vem",
	} {
		if got := unitValue(t, u, "Service", key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if !slices.Contains(unitValues(t, u, "Service", "ReadWritePaths"), "/sys/fs/bpf") {
		t.Error("ReadWritePaths does not name /sys/fs/bpf")
	}
	if v := unitValues(t, u, "Unit", "RequiresMountsFor"); !slices.Contains(v, "/sys/fs/bpf") || !slices.Contains(v, "/var/lib/vem") {
		t.Errorf("RequiresMountsFor=%v", v)
	}
	for _, lv := range []string{"libvirtd.service", "virtqemud.service"} {
		if !slices.Contains(unitValues(t, u, "Unit", "Before"), lv) {
			t.Errorf("not ordered before %s", lv)
		}
		if !slices.Contains(unitValues(t, u, "Install", "WantedBy"), lv) {
			t.Errorf("not wanted by %s", lv)
		}
	}
	// The flags the units pass exist.
	bins := binaries(t)
	for _, tc := range []struct{ unit, bin string }{
		{u, "vem-agent"}, {"systemd/vsm.service", "vsm"},
	} {
		args := strings.Fields(unitValue(t, tc.unit, "Service", "ExecStart"))[1:]
		cmd := exec.Command(filepath.Join(bins, tc.bin), append(slices.Clone(slicesBeforeFlags(args)), "--help")...)
		help, _ := cmd.CombinedOutput()
		for _, a := range args {
			if strings.HasPrefix(a, "--") && !strings.Contains(string(help), strings.TrimPrefix(a, "-")) {
				t.Errorf("%s: %s knows no %s:\n%s", tc.unit, tc.bin, a, help)
			}
		}
	}
}

// slicesBeforeFlags is the subcommand part of a command line (vsm run).
func slicesBeforeFlags(args []string) []string {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i]
		}
	}
	return args
}

// TestLibvirtUnit checks the watcher's unit: after the agent and libvirt
// (either daemon), wanting the agent, restarted always, no capability, and
// the flags it passes known to vem-libvirt run.
func TestLibvirtUnit(t *testing.T) {
	const u = "systemd/vem-libvirt.service"
	after := unitValues(t, u, "Unit", "After")
	for _, want := range []string{"vem-agent.service", "libvirtd.service", "virtqemud.service"} {
		if !slices.Contains(after, want) {
			t.Errorf("After=%v lacks %s", after, want)
		}
	}
	if w := unitValues(t, u, "Unit", "Wants"); !slices.Contains(w, "vem-agent.service") {
		t.Errorf("Wants=%v lacks vem-agent.service", w)
	}
	// The agent's unit must not be ordered after it (a cycle with
	// Before=libvirtd): the watcher follows, never precedes.
	if slices.Contains(unitValues(t, "systemd/vem-agent.service", "Unit", "After"), "vem-libvirt.service") {
		t.Error("vem-agent.service is ordered after vem-libvirt.service")
	}
	for key, want := range map[string]string{
		"Restart": "always", "CapabilityBoundingSet": "", "NoNewPrivileges": "yes",
		"RuntimeDirectory": "vem", "RuntimeDirectoryPreserve": "yes",
	} {
		if got := unitValue(t, u, "Service", key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	bins := binaries(t)
	bin := libvirtBinary(t, bins)
	args := strings.Fields(unitValue(t, u, "Service", "ExecStart"))
	if args[0] != "/usr/local/bin/vem-libvirt" || args[1] != "run" {
		t.Fatalf("ExecStart=%v", args)
	}
	help, _ := exec.Command(bin, "run", "-h").CombinedOutput()
	for _, a := range args[2:] {
		if strings.HasPrefix(a, "-") && !strings.Contains(string(help), "  "+a+" ") {
			t.Errorf("vem-libvirt run knows no %s:\n%s", a, help)
		}
	}
}
