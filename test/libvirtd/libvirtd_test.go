package libvirtd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/guest"
	"github.com/vem-switch/vem/test/topo"
)

func TestParseHookLog(t *testing.T) {
	calls, err := parseHookLog("1000000000 1002000000 0 g1 start begin\n1000000000 1000500000 1 g1 stopped end\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Took != 2*time.Millisecond || calls[1].Code != 1 || calls[1].Op != "stopped" || calls[0].Domain != "g1" {
		t.Fatalf("parsed %+v", calls)
	}
	for _, bad := range []string{"1 2 0 g1 start", "x 2 0 g1 start begin"} {
		if _, err := parseHookLog(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestGuestInNamespace: a private libvirtd in a namespace starts a guest
// whose tap appears in that namespace only, keeps it across its own
// restart, and leaves nothing behind.
func TestGuestInNamespace(t *testing.T) {
	topo.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := guest.Build(ctx, guest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest accelerator %s: %s", img.Accel, img.AccelWhy)
	tp := topo.ForTest(t)
	ns, err := tp.NS("lv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := New(Config{NS: ns, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "run", "*")); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g := &guest.Domain{Name: "lvg1", Image: img, Dir: t.TempDir(),
		NICs: []guest.NIC{{Tap: "lvtap1", MAC: "52:54:00:00:bb:01", Addr: "192.0.2.11/24"}}}
	xmlFile := filepath.Join(g.Dir, "lvg1.xml")
	if err := os.WriteFile(xmlFile, []byte(g.XML()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(g.ConsoleLog())
			t.Logf("console:\n%s\nlibvirtd:\n%s", log, d.Log())
		}
	})
	if _, err := d.Virsh(ctx, "create", xmlFile); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName("lvtap1"); err == nil {
		t.Fatal("the guest's tap is in the root namespace")
	}
	if err := ns.AddAddr("lvtap1", "192.0.2.1/24"); err != nil {
		t.Fatalf("the tap is not in the daemon's namespace: %v", err)
	}
	if _, err := guest.WaitLog(ctx, g.ConsoleLog(), "vem-guest: up eth0"); err != nil {
		t.Fatal(err)
	}
	ping := func(what string) {
		t.Helper()
		res, err := ns.Ping(ctx, "192.0.2.11", 3, 200*time.Millisecond)
		if err != nil || res.Received != 3 {
			t.Fatalf("ping the guest %s: %+v, %v", what, res, err)
		}
	}
	ping("after boot")
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	ping("with libvirtd stopped")
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := d.Virsh(ctx, "list", "--name")
	if err != nil || !strings.Contains(out, "lvg1") {
		t.Fatalf("the restarted libvirtd lost the guest: %q, %v", out, err)
	}
	ping("after libvirtd's restart")
}
