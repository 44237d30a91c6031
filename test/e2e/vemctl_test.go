package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
)

func TestPortAttachDetach(t *testing.T) {
	h := newHost(t)
	vm6 := h.addVM("vm6", "tap6", "52:54:00:00:00:06", "192.0.2.6", "web", "default")

	h.ping("vm1", vm6.ip, 1, false) // not a port yet
	if _, err := h.vemctl("port", "attach", "--interface", "tap6", "--mac", vm6.mac.String(), "--segment", "web", "--profile", "default"); err != nil {
		t.Fatal(err)
	}
	h.ping("vm1", vm6.ip, 3, true)

	out, err := h.vemctl("show", "ports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ports []api.Port
	if err := json.Unmarshal([]byte(out), &ports); err != nil {
		t.Fatal(err)
	}
	var found *api.Port
	for i := range ports {
		if ports[i].Interface == "tap6" {
			found = &ports[i]
		}
	}
	if found == nil || found.Source != "attached" || found.Segment != "web" || !strings.HasPrefix(found.Name, "Vethernet") {
		t.Fatalf("attached port in show ports: %+v", found)
	}

	// Attached ports survive an agent restart.
	h.stopAgent()
	h.startAgent()
	h.ping("vm6", "192.0.2.1", 2, true)

	// Bad attach requests are refused with the reason, and change nothing.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--interface", "tap6", "--mac", "52:54:00:00:00:07", "--segment", "web"}, "already attached"},
		{[]string{"--interface", "nosuch0", "--mac", "52:54:00:00:00:08", "--segment", "web"}, "nosuch0"},
		{[]string{"--interface", "tap1", "--mac", "52:54:00:00:00:09", "--segment", "web"}, "tap1"},
		{[]string{"--interface", "tap7", "--mac", "52:54:00:00:00:0a", "--segment", "nosuch"}, "nosuch"},
	} {
		_, err := h.vemctl(append([]string{"port", "attach"}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("attach %v: error %v, want one naming %q", bad.args, err, bad.want)
		}
	}
	h.ping("vm1", vm6.ip, 2, true)

	if _, err := h.vemctl("port", "detach", "--interface", "tap6"); err != nil {
		t.Fatal(err)
	}
	h.ping("vm1", vm6.ip, 2, false)
	if _, err := h.vemctl("port", "detach", "--interface", "tap1"); err == nil {
		t.Fatal("detaching a port of the configuration file succeeded")
	}
}

func TestVemctlViewsAndAgentNotRunning(t *testing.T) {
	h := newHost(t)
	h.ping("vm1", "192.0.2.2", 2, true)

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"show", "ports"}, []string{"Vethernet1", "tap1", "web", "uplink0"}},
		{[]string{"show", "segments"}, []string{"web", "db", "mgmt", "vlan", "flat"}},
		{[]string{"show", "mac-table", "--segment", "web"}, []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}},
		{[]string{"show", "counters", "tap1"}, []string{"Vethernet1"}},
		{[]string{"show", "module"}, []string{"hv1", "standalone"}},
	} {
		out, err := h.vemctl(c.args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("vemctl %s: output lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
	if out, _ := h.vemctl("show", "mac-table", "--segment", "db"); strings.Contains(out, "52:54:00:00:00:01") {
		t.Errorf("web's MAC listed in db's table:\n%s", out)
	}

	cmd := exec.Command(vemctlBin, "--socket", filepath.Join(t.TempDir(), "none.sock"), "show", "ports")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not running") {
		t.Fatalf("vemctl without an agent: %v: %s", err, out)
	}
}
