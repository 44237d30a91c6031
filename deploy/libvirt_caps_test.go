package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/topo"
)

// TestLibvirtWatcherRunsWithoutCapabilities runs vem-libvirt as its unit
// does, root with no capability at all (empty bounding set, no_new_privs),
// against libvirt's test driver and a real agent's socket: it reconciles,
// writes its status file, stays up, and `vem-libvirt status` reads it.
func TestLibvirtWatcherRunsWithoutCapabilities(t *testing.T) {
	topo.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv is needed to run the watcher without capabilities: %v", err)
	}
	if got := unitValue(t, "systemd/vem-libvirt.service", "Service", "CapabilityBoundingSet"); got != "" {
		t.Fatalf("the unit's CapabilityBoundingSet is %q; this test runs it with none", got)
	}
	bins := binaries(t)
	watcher := libvirtBinary(t, bins)
	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	instance := strings.ReplaceAll(tp.Prefix(), "-", "_") + "_lv"
	socket := filepath.Join(dir, "vem.sock")
	cfg := filepath.Join(dir, "vem.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("host: hv1\ninstance: %s\nsocket: %s\nsegments:\n  - {name: lab, type: local}\n", instance, socket)), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.Cleanup(func() {
		if out, err := exec.Command(filepath.Join(bins, "vem-agent"), "--uninstall", "--instance", instance, "--state-dir", dir).CombinedOutput(); err != nil {
			t.Errorf("uninstall %s: %v: %s", instance, err, out)
		}
	})
	agent, err := host.StartNetOnly(filepath.Join(bins, "vem-agent"), "--config", cfg, "--state-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(socket)
	waitFor(t, 30*time.Second, "the agent's socket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Status(ctx)
		return err == nil
	})

	status := filepath.Join(dir, "libvirt-status.json")
	w, err := host.StartNetOnly("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--",
		watcher, "run", "-uri", "test:///default", "-socket", socket, "-status", status)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the watcher's status file", func() bool {
		_, err := os.Stat(status)
		return err == nil
	})
	select {
	case <-w.Done():
		t.Fatalf("vem-libvirt exited: %v\n%s", w.Wait(), w.Output())
	case <-agent.Done():
		t.Fatalf("vem-agent exited: %v\n%s", agent.Wait(), agent.Output())
	case <-time.After(time.Second):
	}
	procStatus, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"CapEff:", "CapPrm:", "CapBnd:"} {
		for _, line := range strings.Split(string(procStatus), "\n") {
			if strings.HasPrefix(line, field) && strings.Trim(strings.TrimPrefix(line, field), " \t0") != "" {
				t.Fatalf("the watcher runs with capabilities: %s", line)
			}
		}
	}
	out, err := exec.Command(watcher, "status", "-status", status).CombinedOutput()
	if err != nil {
		t.Fatalf("vem-libvirt status: %v\n%s", err, out)
	}
	t.Logf("vem-libvirt status:\n%s", out)
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Output(), "vem-libvirt starting") {
		t.Fatalf("watcher output:\n%s", w.Output())
	}
}
