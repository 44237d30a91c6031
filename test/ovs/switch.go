package ovs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

const (
	// cmdTimeout bounds every ovs-vsctl and ovs-appctl call.
	cmdTimeout = 10 * time.Second
	// startTimeout bounds the wait for each daemon to answer.
	startTimeout = 10 * time.Second
	// pollInterval paces the readiness checks.
	pollInterval = 50 * time.Millisecond
	// maxDirLen keeps the unix sockets OVS makes in the directory, the
	// longest being "<bridge>.snoop" for a 15-byte bridge name, within
	// sun_path's 107 usable bytes.
	maxDirLen = 107 - len("/123456789012345.snoop")
)

// Switch is an Open vSwitch instance (ovsdb-server and ovs-vswitchd) running
// in a topo namespace, with its database, sockets, pidfiles and logs in one
// directory. Its methods are safe for concurrent use.
type Switch struct {
	ns  *topo.NS
	dir string
	env []string

	db, vswitchd *topo.Proc
}

// Start creates a fresh OVS database in dir (created if missing), starts
// ovsdb-server and ovs-vswitchd in ns and waits until both answer. The
// daemons run in the foreground under ns.Start, so the namespace's Topology
// stops them by PID at Close if Stop has not. dir must outlive the Switch
// (create it before the Topology, so that it is removed after) and be short
// enough for unix socket paths.
//
// If Open vSwitch is not installed the error wraps ErrNotInstalled and names
// what is missing.
func Start(ns *topo.NS, dir string) (*Switch, error) {
	if err := CheckInstalled(); err != nil {
		return nil, err
	}
	s, err := newDatabase(ns, dir, "ovs")
	if err != nil {
		return nil, err
	}

	if err := s.startDB(); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if err := s.startVSwitchd(); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// newDatabase makes dir (absolute, created if missing, short enough for
// OVS's unix socket paths) the home of a fresh Open vSwitch database,
// with the environment that points OVS's tools at it; errors start with
// what.
func newDatabase(ns *topo.NS, dir, what string) (*Switch, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: directory: %w", what, err)
	}
	if len(dir) > maxDirLen {
		return nil, fmt.Errorf("%s: directory %s: %d bytes, want at most %d so OVS's unix socket paths fit", what, dir, len(dir), maxDirLen)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s := &Switch{ns: ns, dir: dir}
	for _, v := range []string{"OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"} {
		s.env = append(s.env, v+"="+dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := s.command(ctx, "ovsdb-tool", "create", s.path("conf.db"), SchemaPath); err != nil {
		return nil, err
	}
	return s, nil
}

// startDB runs ovsdb-server and initialises the database once it answers.
func (s *Switch) startDB() error {
	p, err := s.ns.Start(s.daemonArgs("ovsdb-server", s.path("conf.db"),
		"--remote=punix:"+s.DBSocket(),
		"--unixctl="+s.path("ovsdb-server.ctl"),
		"--pidfile="+s.path("ovsdb-server.pid"),
		"--log-file="+s.path("ovsdb-server.log"))...)
	if err != nil {
		return fmt.Errorf("ovs: start ovsdb-server: %w", err)
	}
	s.db = p
	return s.await(p, "ovsdb-server", s.path("ovsdb-server.log"), func(ctx context.Context) error {
		// ovs-vsctl keeps retrying a socket that is not there yet.
		if _, err := os.Stat(s.DBSocket()); err != nil {
			return err
		}
		// "show" waits for the Open_vSwitch row that init creates.
		if _, err := s.Vsctl(ctx, "--timeout=1", "--no-wait", "init"); err != nil {
			return fmt.Errorf("initialise database: %w", err)
		}
		_, err := s.Vsctl(ctx, "--timeout=1", "--no-wait", "show")
		return err
	})
}

// startVSwitchd runs ovs-vswitchd and waits until its control socket
// answers.
func (s *Switch) startVSwitchd() error {
	p, err := s.ns.Start(s.daemonArgs("ovs-vswitchd", "unix:"+s.DBSocket(),
		"--unixctl="+s.CtlSocket(),
		"--pidfile="+s.path("ovs-vswitchd.pid"),
		"--log-file="+s.path("ovs-vswitchd.log"))...)
	if err != nil {
		return fmt.Errorf("ovs: start ovs-vswitchd: %w", err)
	}
	s.vswitchd = p
	return s.await(p, "ovs-vswitchd", s.path("ovs-vswitchd.log"), func(ctx context.Context) error {
		if _, err := os.Stat(s.CtlSocket()); err != nil {
			return err
		}
		if _, err := s.Appctl(ctx, "--timeout=1", "version"); err != nil {
			return err
		}
		// Changes made later without --no-wait (AddBridge, AddBond)
		// wait for ovs-vswitchd to apply them, so it answering is enough.
		_, err := s.Vsctl(ctx, "--timeout=1", "show")
		return err
	})
}

// daemonArgs returns the argv that runs an OVS daemon with the Switch's
// environment. env(1) execs the daemon, so the tracked PID is the daemon's.
func (s *Switch) daemonArgs(prog string, args ...string) []string {
	argv := append([]string{"env"}, s.env...)
	argv = append(argv, prog)
	return append(argv, args...)
}

// await polls ready until it succeeds, the daemon exits or startTimeout
// passes; the failures quote the daemon's output and log.
func (s *Switch) await(p *topo.Proc, name, logFile string, ready func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("ovs: %s exited during start-up (%v): %s%s", name, p.Wait(), p.Output(), tail(logFile))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		lastErr = ready(ctx)
		cancel()
		if lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ovs: %s did not answer within %v: %w%s", name, startTimeout, lastErr, tail(logFile))
		}
		time.Sleep(pollInterval)
	}
}

// Stop stops ovs-vswitchd, then ovsdb-server (SIGTERM, SIGKILL after a grace
// period) and returns once both are gone. It may be called more than once.
func (s *Switch) Stop() error {
	var errs []error
	for _, p := range []*topo.Proc{s.vswitchd, s.db} {
		if p == nil {
			continue
		}
		if err := p.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("ovs: stop: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Dir returns the directory holding the database, sockets, pidfiles and logs.
func (s *Switch) Dir() string { return s.dir }

// DBSocket returns the path of ovsdb-server's unix socket.
func (s *Switch) DBSocket() string { return s.path("db.sock") }

// CtlSocket returns the path of ovs-vswitchd's control socket, the target
// of ovs-appctl -t.
func (s *Switch) CtlSocket() string { return s.path("ovs-vswitchd.ctl") }

// Log returns the end of ovs-vswitchd's log file, for test failure reports.
func (s *Switch) Log() string { return tail(s.path("ovs-vswitchd.log")) }

// Vsctl runs ovs-vsctl against the Switch's database and returns its
// standard output. It waits for ovs-vswitchd to apply a change unless
// --no-wait is among args.
func (s *Switch) Vsctl(ctx context.Context, args ...string) (string, error) {
	return s.command(ctx, "ovs-vsctl", append([]string{"--db=unix:" + s.DBSocket()}, args...)...)
}

// Appctl runs ovs-appctl against the Switch's ovs-vswitchd and returns its
// standard output.
func (s *Switch) Appctl(ctx context.Context, args ...string) (string, error) {
	return s.command(ctx, "ovs-appctl", append([]string{"-t", s.CtlSocket()}, args...)...)
}

// command runs an OVS program in the Switch's environment. The programs
// only talk to the daemons' unix sockets, so they need not run in the
// namespace.
func (s *Switch) command(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.WaitDelay = time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ovs: %s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (s *Switch) path(name string) string { return filepath.Join(s.dir, name) }

// tail returns the last lines of a log file, prefixed for appending to an
// error, or "" if it cannot be read.
func tail(file string) string {
	const maxLines = 20
	b, err := os.ReadFile(file)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return "\n" + filepath.Base(file) + ":\n" + strings.Join(lines, "\n")
}
