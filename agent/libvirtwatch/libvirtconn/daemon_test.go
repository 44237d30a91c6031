//go:build cgo

package libvirtconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
)

const libvirtd = "/usr/sbin/libvirtd"

// daemon is a private libvirtd: an unprivileged session daemon in a
// temporary directory with no driver modules (LIBVIRT_DRIVER_DIR is
// empty), so it serves only the test driver built into libvirt and
// touches nothing of the host's libvirt (no QEMU driver, no system
// socket). Clients reach its test:///default through
// test+unix:///default?socket=...
type daemon struct {
	t    *testing.T
	dir  string
	sock string
	cmd  *exec.Cmd
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	if _, err := os.Stat(libvirtd); err != nil {
		t.Skipf("no %s (package libvirt-daemon): the real-daemon reconnect test needs it: %v", libvirtd, err)
	}
	dir, err := os.MkdirTemp("", "vem-libvirtd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // the daemon runs as nobody
		t.Fatal(err)
	}
	d := &daemon{t: t, dir: dir, sock: filepath.Join(dir, "libvirt", "libvirt-sock")}
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) uri() string { return "test+unix:///default?socket=" + d.sock }

// start runs libvirtd and waits for its socket to answer.
func (d *daemon) start() {
	d.t.Helper()
	args := []string{libvirtd}
	if os.Geteuid() == 0 {
		args = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = d.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + d.dir, "XDG_RUNTIME_DIR=" + d.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(d.dir, "config"), "XDG_CACHE_HOME=" + filepath.Join(d.dir, "cache"),
		"LIBVIRT_DRIVER_DIR=" + filepath.Join(d.dir, "empty")}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start libvirtd: %v", err)
	}
	d.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := libvirt.NewConnect(d.uri()); err == nil {
			_, _ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.stop()
			d.t.Fatalf("libvirtd did not serve %s within 10s:\n%s", d.sock, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the daemon by its PID and reaps it.
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

// TestDaemonRestart: libvirtd restarts under the watcher. The close
// callback turns the ports unknown at once (nothing detached while
// blind); the watcher redials with backoff and, on the new daemon whose
// test driver starts afresh without the domain, detaches its port.
func TestDaemonRestart(t *testing.T) {
	if err := startLoop(); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t)
	d.start()
	agent := watchtest.NewAgent()
	w, err := libvirtwatch.New(libvirtwatch.Config{URI: d.uri(), Dial: Dial, Agent: agent, Log: testLogger(t),
		Resync: time.Hour, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := run(t, agent, w)
	h.waitFor("connected", func(st libvirtwatch.Status) bool { return st.Connected })

	c, err := libvirt.NewConnect(d.uri())
	if err != nil {
		t.Fatal(err)
	}
	dom, err := c.DomainCreateXML(domainXML("lw-daemon", uuidOf(0x61), "tap-d0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = dom.Free()
	const mac = "52:54:00:61:00:01"
	h.waitFor("online over the daemon", stateIs("lw-daemon", mac, libvirtwatch.Online))
	_, _ = c.Close()

	lost := time.Now()
	d.stop()
	st := h.waitFor("unknown once libvirtd is gone", stateIs("lw-daemon", mac, libvirtwatch.Unknown))
	t.Logf("ports unknown %v after libvirtd stopped", time.Since(lost).Round(time.Millisecond))
	if st.Connected || !strings.Contains(st.Error, "closed the connection") {
		t.Errorf("status with libvirtd gone: connected %v, error %q", st.Connected, st.Error)
	}
	if _, ok := agent.Attached()["tap-d0"]; !ok {
		t.Errorf("port detached while libvirt could not be seen")
	}
	time.Sleep(300 * time.Millisecond) // a few failed dials
	d.start()
	back := time.Now()
	h.waitFor("connected, offline on the new daemon", func(st libvirtwatch.Status) bool {
		return st.Connected && stateIs("lw-daemon", mac, libvirtwatch.Offline)(st)
	})
	t.Logf("resynced %v after libvirtd came back", time.Since(back).Round(time.Millisecond))
	if _, ok := agent.Attached()["tap-d0"]; ok {
		t.Errorf("tap-d0 still attached although its domain is gone")
	}
}
