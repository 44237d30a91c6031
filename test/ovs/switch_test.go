package ovs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// startForTest starts a Switch in a new namespace "switch" of a new
// topology, with veths p1..pN towards a namespace "peer" that runs nothing.
func startForTest(t *testing.T, n int) (*Switch, *topo.NS) {
	t.Helper()
	topo.RequireRoot(t)
	if err := CheckInstalled(); err != nil {
		t.Fatalf("%v: run scripts/deps.sh test to install it", err)
	}
	dir, err := os.MkdirTemp("", "vem-ovs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tp := topo.ForTest(t)
	sw, err := tp.NS("switch")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := tp.NS("peer")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		name := "p" + string(rune('0'+i))
		if err := tp.Veth(sw, name, peer, "e"+name[1:]); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Start(sw, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ovs-vswitchd log:%s", s.Log())
		}
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s, sw
}

func TestSwitchBondsWithoutPartner(t *testing.T) {
	s, _ := startForTest(t, 4)
	if err := s.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBond("br0", "bond0", []string{"p1", "p2"}, true, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBond("br0", "bond1", []string{"p3", "p4"}, false, false); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dpType, err := s.Vsctl(ctx, "get", "bridge", "br0", "datapath_type")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(dpType) != "netdev" {
		t.Errorf("br0 datapath_type = %q, want netdev", dpType)
	}
	for _, f := range []string{"conf.db", "db.sock", "ovs-vswitchd.ctl", "ovs-vswitchd.pid", "ovsdb-server.pid", "ovs-vswitchd.log", "br0.mgmt"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), f)); err != nil {
			t.Errorf("not in the Switch's directory: %v", err)
		}
	}

	active, err := s.LACPShow("bond0")
	if err != nil {
		t.Fatal(err)
	}
	if active.Bond != "bond0" || !active.Active || !active.Fast || len(active.System.MAC) != 6 || active.System.MAC.String() == "00:00:00:00:00:00" {
		t.Errorf("bond0 = %+v, want active, fast, with a system MAC", active)
	}
	passive, err := s.LACPShow("bond1")
	if err != nil {
		t.Fatal(err)
	}
	if passive.Active || passive.Fast {
		t.Errorf("bond1 active %v fast %v, want passive and slow", passive.Active, passive.Fast)
	}
	if passive.System.String() != active.System.String() {
		t.Errorf("bond1 system %s, bond0 system %s: want the bridge's for both", passive.System, active.System)
	}
	for _, st := range []LACPStatus{active, passive} {
		if len(st.Members) != 2 {
			t.Fatalf("%s has %d members, want 2", st.Bond, len(st.Members))
		}
		for _, m := range st.Members {
			// Nothing answers on the peer side.
			if m.Status == MemberCurrent || m.MayEnable || m.Partner.System.MAC.String() != "00:00:00:00:00:00" {
				t.Errorf("%s member %s = %+v: want no partner", st.Bond, m.Name, m)
			}
		}
	}
	bond, err := s.BondShow("bond0")
	if err != nil {
		t.Fatal(err)
	}
	if bond.Mode != "balance-tcp" || len(bond.Members) != 2 || len(bond.Enabled()) != 0 {
		t.Errorf("bond/show bond0 = %+v, want balance-tcp with 2 members, none enabled", bond)
	}

	if _, err := s.LACPShow("nosuch"); err == nil || !strings.Contains(err.Error(), "no such lacp object") {
		t.Errorf("LACPShow(nosuch) error = %v, want OVS's \"no such lacp object\"", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Appctl(ctx, "--timeout=1", "version"); err == nil {
		t.Error("ovs-vswitchd still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartRejectsLongDirectory(t *testing.T) {
	topo.RequireRoot(t)
	if err := CheckInstalled(); err != nil {
		t.Fatalf("%v: run scripts/deps.sh test to install it", err)
	}
	tp := topo.ForTest(t)
	ns, err := tp.NS("switch")
	if err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("d", maxDirLen))
	if _, err := Start(ns, long); err == nil || !strings.Contains(err.Error(), "unix socket") {
		t.Errorf("Start with a %d-byte directory: error %v, want one about socket paths", len(long), err)
	}
}

func TestCheckInstalledNamesWhatIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := CheckInstalled()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("CheckInstalled with an empty PATH = %v, want ErrNotInstalled", err)
	}
	for _, b := range binaries {
		if !strings.Contains(err.Error(), b) {
			t.Errorf("error %q does not name %s", err, b)
		}
	}
}
