package ovs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/vem-switch/vem/test/topo"
)

// DB is a private ovsdb-server alone (no ovs-vswitchd) on a fresh
// Open_vSwitch database: what an integration that reads and writes the
// database (vem's OVS port source) talks to. Rows are changed with
// ovs-vsctl --no-wait, which does not wait for a switch to apply them.
// Its methods are safe for concurrent use, but Restart must not run
// concurrently with itself or Stop.
type DB struct {
	ns  *topo.NS
	sw  *Switch // the directory, environment and commands
	pid *topo.Proc
}

// StartDB creates a fresh database in dir (created if missing; short
// enough for unix socket paths, and outliving the DB), starts
// ovsdb-server in ns and waits until it answers with the database
// initialised. The namespace's Topology stops the server by PID at
// Close if Stop has not.
func StartDB(ns *topo.NS, dir string) (*DB, error) {
	var missing []string
	for _, b := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vsctl"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := os.Stat(SchemaPath); err != nil {
		missing = append(missing, SchemaPath)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s (Debian package openvswitch-switch)", ErrNotInstalled, strings.Join(missing, ", "))
	}
	s, err := newDatabase(ns, dir, "ovsdb")
	if err != nil {
		return nil, err
	}
	d := &DB{ns: ns, sw: s}
	if err := d.start(); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	return d, nil
}

// start runs ovsdb-server on the database and waits until it answers.
func (d *DB) start() error {
	if err := d.sw.startDB(); err != nil {
		return err
	}
	d.pid = d.sw.db
	return nil
}

// Socket returns the path of the server's unix socket.
func (d *DB) Socket() string { return d.sw.DBSocket() }

// Address returns the server's address as OVS tools and vem's ovs:
// section write it: unix:PATH.
func (d *DB) Address() string { return "unix:" + d.Socket() }

// Pid returns the running server's PID, 0 if stopped.
func (d *DB) Pid() int {
	if d.pid == nil {
		return 0
	}
	return d.pid.Pid()
}

// Vsctl runs ovs-vsctl --no-wait against the database and returns its
// standard output.
func (d *DB) Vsctl(ctx context.Context, args ...string) (string, error) {
	return d.sw.Vsctl(ctx, append([]string{"--no-wait"}, args...)...)
}

// Stop stops the server (SIGTERM, SIGKILL after a grace period); the
// database file stays for Restart. It may be called more than once.
func (d *DB) Stop() error {
	if d.sw.db == nil {
		return nil
	}
	err := d.sw.db.Stop()
	d.sw.db, d.pid = nil, nil
	if err != nil {
		return fmt.Errorf("ovsdb: stop: %w", err)
	}
	return nil
}

// Restart stops the server and starts a new one on the same database
// and socket, as a packaged ovsdb-server restarts.
func (d *DB) Restart() error {
	if err := d.Stop(); err != nil {
		return err
	}
	os.Remove(d.Socket()) // a stopped server removes it; a killed one may not
	return d.start()
}

// Log returns the end of the server's log file, for failure reports.
func (d *DB) Log() string { return tail(d.sw.path("ovsdb-server.log")) }

// Appctl runs ovs-appctl against the server (its unixctl socket), e.g.
// ovsdb-server/add-remote ptcp:6640:127.0.0.1.
func (d *DB) Appctl(ctx context.Context, args ...string) (string, error) {
	return d.sw.command(ctx, "ovs-appctl", append([]string{"-t", d.sw.path("ovsdb-server.ctl")}, args...)...)
}

// NS returns the namespace the server runs in: a TCP remote it listens
// on is reached from there.
func (d *DB) NS() *topo.NS { return d.ns }
