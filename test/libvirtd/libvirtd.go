// Package libvirtd runs a private libvirtd with its QEMU driver for vem's
// tests on real guests: as root, inside a test host's network namespace
// (so the taps QEMU opens appear there, beside that host's vem-agent) and
// in a private mount namespace whose /etc/libvirt, /run/libvirt,
// /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt are
// directories of the test. The machine's own libvirt (its configuration,
// sockets, domains) is never touched, and the test reaches the daemon
// through its socket in the test's directory (URI).
//
// The QEMU driver runs guests as root with no security driver, no
// cgroups and no private /dev, which is what works inside a namespace on
// a CI machine. With a hook binary, /etc/libvirt/hooks/qemu is a wrapper
// that runs it against one agent's socket and logs each call's duration
// (HookCalls).
package libvirtd

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// Binary is the daemon.
const Binary = "/usr/sbin/libvirtd"

// qemuDriver is the only driver module the daemon loads.
const qemuDriver = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"

// startWait bounds how long Start waits for the socket to answer.
const startWait = 30 * time.Second

// privateDirs are bind-mounted from the daemon's root over the machine's.
var privateDirs = []string{"etc/libvirt", "run/libvirt", "var/lib/libvirt", "var/cache/libvirt", "var/log/libvirt"}

// Config says where a Daemon runs.
type Config struct {
	// NS is the network namespace the daemon, QEMU and the hook run in.
	NS *topo.NS
	// Dir is the daemon's root: its private directories, its log, the
	// hook's log. It must exist; Close removes what the daemon put there.
	Dir string
	// Hook, if set, is the vem-hook binary, run as libvirt's qemu hook
	// with -socket AgentSocket.
	Hook, AgentSocket string
	// CapsCache keeps libvirt's QEMU capabilities between daemons
	// (DefaultCapsCache when empty): probing QEMU takes a fresh daemon
	// from seconds to a minute under TCG on a loaded machine. libvirt
	// checks each cached entry against the QEMU binary and itself.
	CapsCache string
}

// DefaultCapsCache is where the daemons share QEMU's capabilities.
const DefaultCapsCache = "/var/cache/vem-test/libvirt-qemu-capabilities"

// Daemon is one private libvirtd.
type Daemon struct {
	cfg  Config
	proc *topo.Proc
}

// New lays out the daemon's directories and configuration; Start runs it.
func New(cfg Config) (*Daemon, error) {
	if cfg.NS == nil || cfg.Dir == "" {
		return nil, errors.New("libvirtd: a namespace and a directory are needed")
	}
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("libvirtd: %w (scripts/deps.sh test installs libvirt-daemon-driver-qemu)", err)
	}
	if _, err := os.Stat(qemuDriver); err != nil {
		return nil, fmt.Errorf("libvirtd: QEMU driver: %w (package libvirt-daemon-driver-qemu)", err)
	}
	if cfg.CapsCache == "" {
		cfg.CapsCache = DefaultCapsCache
	}
	if err := os.MkdirAll(cfg.CapsCache, 0o755); err != nil {
		return nil, fmt.Errorf("libvirtd: capabilities cache: %w", err)
	}
	d := &Daemon{cfg: cfg}
	for _, p := range append(append([]string(nil), privateDirs...), "etc/libvirt/hooks", "drivers", "var/cache/libvirt/qemu/capabilities") {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, p), 0o755); err != nil {
			return nil, fmt.Errorf("libvirtd: %w", err)
		}
	}
	if err := os.Symlink(qemuDriver, filepath.Join(cfg.Dir, "drivers", filepath.Base(qemuDriver))); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("libvirtd: %w", err)
	}
	files := map[string]string{
		"etc/libvirt/libvirtd.conf": `# private libvirtd of a vem test (package test/libvirtd)
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
` + hostUUID(cfg.Dir),
		"etc/libvirt/qemu.conf": `# private libvirtd of a vem test (package test/libvirtd)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
`,
		"start.sh": d.startScript(),
	}
	if cfg.Hook != "" {
		files["etc/libvirt/hooks/qemu"] = d.hookScript()
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, "/qemu") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, name), []byte(text), mode); err != nil {
			return nil, fmt.Errorf("libvirtd: %w", err)
		}
	}
	return d, nil
}

// hostUUID gives each daemon a host UUID of its own (from its directory):
// libvirt refuses a migration between two daemons with the same one as a
// migration to the same host.
func hostUUID(dir string) string {
	b := sha256.Sum256([]byte(dir))
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("host_uuid = \"%x-%x-%x-%x-%x\"\n", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// startScript runs in the new mount namespace: a sysfs of the network
// namespace (as ip netns exec gives), the private directories over the
// machine's, then the daemon in its place (same PID).
func (d *Daemon) startScript() string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# private libvirtd of a vem test (package test/libvirtd)\nset -e\n")
	b.WriteString("umount -l /sys\nmount -t sysfs sysfs /sys\n")
	for _, p := range privateDirs {
		// mkdir on the machine only where libvirt's package has not made
		// it (/run/libvirt before a first libvirtd).
		fmt.Fprintf(&b, "mkdir -p /%[1]s\nmount --bind %[2]s /%[1]s\n", p, shq(filepath.Join(d.cfg.Dir, p)))
	}
	fmt.Fprintf(&b, "mount --bind %s /var/cache/libvirt/qemu/capabilities\n", shq(d.cfg.CapsCache))
	// Its pid file too: the default /run/libvirtd.pid is the machine's,
	// and one per daemon.
	fmt.Fprintf(&b, "export LIBVIRT_DRIVER_DIR=%s\nexec %s --pid-file %s\n", shq(filepath.Join(d.cfg.Dir, "drivers")), Binary,
		shq(filepath.Join(d.cfg.Dir, "run/libvirt/libvirtd.pid")))
	return b.String()
}

// hookScript is /etc/libvirt/hooks/qemu: vem-hook with this agent's
// socket, timed. libvirt clears the hook's environment; VEM_HOOK_CONFIG
// keeps the machine's /etc/vem/hook.conf out.
func (d *Daemon) hookScript() string {
	return fmt.Sprintf(`#!/bin/sh
# libvirt's qemu hook of a vem test's private libvirtd (package test/libvirtd)
start=$(date +%%s%%N)
VEM_HOOK_CONFIG=/dev/null %s -socket %s "$@"
rc=$?
echo "$start $(date +%%s%%N) $rc $1 $2 $3" >>%s
exit $rc
`, shq(d.cfg.Hook), shq(d.cfg.AgentSocket), shq(d.HookLog()))
}

// URI is the daemon's QEMU connection URI, through its socket.
func (d *Daemon) URI() string {
	return "qemu+unix:///system?socket=" + filepath.Join(d.cfg.Dir, "run/libvirt/libvirt-sock")
}

// HookLog is the hook wrapper's log: one line per call.
func (d *Daemon) HookLog() string { return filepath.Join(d.cfg.Dir, "hook.log") }

// Log returns the daemon's own log and its output.
func (d *Daemon) Log() string {
	data, _ := os.ReadFile(filepath.Join(d.cfg.Dir, "var/log/libvirt/libvirtd.log"))
	out := ""
	if d.proc != nil {
		out = d.proc.Output()
	}
	return string(data) + out
}

// Running reports whether the daemon process runs.
func (d *Daemon) Running() bool {
	if d.proc == nil {
		return false
	}
	select {
	case <-d.proc.Done():
		return false
	default:
		return true
	}
}

// Start runs the daemon and waits until its socket answers.
func (d *Daemon) Start(ctx context.Context) error {
	if d.Running() {
		return errors.New("libvirtd: already running")
	}
	p, err := d.cfg.NS.StartNetOnly("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", filepath.Join(d.cfg.Dir, "start.sh"))
	if err != nil {
		return fmt.Errorf("libvirtd: start: %w", err)
	}
	d.proc = p
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	for {
		if _, err := d.Virsh(ctx, "version"); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("libvirtd: not serving within %v: %v\n%s", startWait, err, d.Log())
		}
		select {
		case <-p.Done():
			return fmt.Errorf("libvirtd: exited at start: %v\n%s", p.Wait(), d.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the daemon by its PID (SIGTERM, then SIGKILL). Its guests go
// on running, as with a real libvirtd restart.
func (d *Daemon) Stop() error {
	if d.proc == nil {
		return nil
	}
	err := d.proc.Stop()
	d.proc = nil
	if err != nil {
		return fmt.Errorf("libvirtd: stop: %w", err)
	}
	return nil
}

// Virsh runs virsh against the daemon and returns its output.
func (d *Daemon) Virsh(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "virsh", append([]string{"-q", "-c", d.URI()}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + d.cfg.Dir}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Close destroys the daemon's running guests, stops it, kills any QEMU it
// left (by the PIDs in its pid files) and removes its directories.
func (d *Daemon) Close() error {
	var errs []error
	if d.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if out, err := d.Virsh(ctx, "list", "--name"); err == nil {
			for _, name := range strings.Fields(out) {
				if _, err := d.Virsh(ctx, "destroy", name); err != nil {
					errs = append(errs, err)
				}
			}
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	if err := d.Stop(); err != nil {
		errs = append(errs, err)
	}
	if err := d.killGuests(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range privateDirs {
		if err := os.RemoveAll(filepath.Join(d.cfg.Dir, p)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killGuests kills the QEMU processes whose pid files the daemon left.
func (d *Daemon) killGuests() error {
	files, _ := filepath.Glob(filepath.Join(d.cfg.Dir, "run/libvirt/qemu/*.pid"))
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if !strings.Contains(filepath.Base(exe), "qemu") {
			continue // gone, or the PID is another process's now
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("libvirtd: kill guest %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
