package ovsport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/ovs"
	"github.com/vem-switch/vem/test/topo"
)

// The real session against a real ovsdb-server: the monitor's first
// update is the table, rows changed with ovs-vsctl arrive as updates,
// the marks are written (and read back) through go-openvswitch and come
// back through the monitor, and a stopped server ends the session.
func TestSessionAgainstOVSDB(t *testing.T) {
	topo.RequireRoot(t)
	if err := ovs.CheckInstalled(); err != nil {
		if errors.Is(err, ovs.ErrNotInstalled) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	dir := t.TempDir()
	tp := topo.ForTest(t)
	ns, err := tp.NS("db")
	if err != nil {
		t.Fatal(err)
	}
	db, err := ovs.StartDB(ns, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vsctl := func(args ...string) string {
		t.Helper()
		out, err := db.Vsctl(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	vsctl("add-br", "br-int", "--", "add-port", "br-int", "tap1", "--", "set", "Interface", "tap1",
		"external_ids:iface-id=i1", "external_ids:attached-mac=52:54:00:00:0a:01")

	network, address, err := spec.SplitOVSDatabase(db.Address())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := NetDialer{Network: network, Address: address}.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	u, err := sess.Next()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Row{}
	for _, r := range u.Rows {
		byName[r.Name] = r
	}
	if !u.Full || byName["tap1"] == nil || byName["tap1"].ExternalIDs[KeyIfaceID] != "i1" || byName["br-int"] == nil {
		t.Fatalf("first update %+v", u)
	}
	tap1 := byName["tap1"].UUID

	// next reads up to the update that satisfies ok.
	next := func(what string, ok func(*Update) bool) {
		t.Helper()
		for {
			u, err := sess.Next()
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if ok(u) {
				return
			}
		}
	}
	vsctl("set", "Interface", "tap1", "external_ids:vem-segment=web")
	next("vem-segment", func(u *Update) bool {
		return len(u.Rows) == 1 && u.Rows[0].UUID == tap1 && u.Rows[0].ExternalIDs[KeySegment] == "web"
	})

	if err := sess.SetInstalled(ctx, "tap1", true); err != nil {
		t.Fatal(err)
	}
	if got := vsctl("get", "Interface", "tap1", "external_ids:ovn-installed"); got != `"true"` {
		t.Fatalf("ovn-installed = %s after the write", got)
	}
	next("the mark", func(u *Update) bool { return len(u.Rows) == 1 && u.Rows[0].Installed() })
	if err := sess.SetInstalled(ctx, "tap1", true); err != nil {
		t.Fatalf("setting it again: %v", err)
	}
	if err := sess.SetInstalled(ctx, "tap1", false); err != nil {
		t.Fatal(err)
	}
	if got := vsctl("--if-exists", "get", "Interface", "tap1", "external_ids:ovn-installed"); got != "" {
		t.Fatalf("ovn-installed = %s after the removal", got)
	}
	if ids := vsctl("get", "Interface", "tap1", "external_ids"); !strings.Contains(ids, `iface-id=i1`) || !strings.Contains(ids, "vem-segment=web") {
		t.Errorf("the other keys were touched: %s", ids)
	}
	if err := sess.SetInstalled(ctx, "nosuch", true); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("a mark on a missing interface: %v", err)
	}

	vsctl("del-port", "br-int", "tap1")
	next("the deletion", func(u *Update) bool { return len(u.Deleted) == 1 && u.Deleted[0] == tap1 })

	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := sess.Next(); err != nil {
			break
		}
	}
}

// Over TCP ovsdb-server probes an idle connection (every 5 s, and drops
// it if unanswered): the monitor answers the probes and the writing
// client keeps busy, so the session outlives several probe intervals.
func TestSessionOverTCPOutlivesProbes(t *testing.T) {
	topo.RequireRoot(t)
	if err := ovs.CheckInstalled(); err != nil {
		if errors.Is(err, ovs.ErrNotInstalled) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	dir := t.TempDir()
	tp := topo.ForTest(t)
	ns, err := tp.NS("db")
	if err != nil {
		t.Fatal(err)
	}
	db, err := ovs.StartDB(ns, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.Appctl(ctx, "ovsdb-server/add-remote", "ptcp:6640:127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vsctl(ctx, "add-br", "br-int", "--", "add-port", "br-int", "tap1", "--", "set", "Interface", "tap1", "external_ids:iface-id=i1"); err != nil {
		t.Fatal(err)
	}
	var sess Session
	// The server listens in its namespace: dial from there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err = ns.Do(func() error {
			var err error
			sess, err = NetDialer{Network: "tcp", Address: "127.0.0.1:6640"}.Dial(ctx)
			return err
		})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if u, err := sess.Next(); err != nil || !u.Full {
		t.Fatalf("first update %+v, %v", u, err)
	}
	// A reader as the source has one: always in Next, which answers the
	// probes.
	updates := make(chan *Update, 16)
	readErr := make(chan error, 1)
	go func() {
		for {
			u, err := sess.Next()
			if err != nil {
				readErr <- err
				return
			}
			updates <- u
		}
	}()
	select {
	case err := <-readErr:
		t.Fatalf("the session ended while idle: %v", err)
	case <-time.After(12 * time.Second): // more than two probe intervals
	}
	if err := sess.SetInstalled(ctx, "tap1", true); err != nil {
		t.Fatalf("write after idling: %v", err)
	}
	select {
	case u := <-updates:
		if len(u.Rows) != 1 || !u.Rows[0].Installed() {
			t.Fatalf("update after idling: %+v", u)
		}
	case err := <-readErr:
		t.Fatalf("the session ended: %v", err)
	case <-ctx.Done():
		t.Fatal("no update after the write")
	}
}
