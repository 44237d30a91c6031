package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/test/topo"
	"github.com/vem-switch/vem/vsm/ha"
)

// TestPairInNamespaces runs the real binary twice, a primary and a
// secondary in two network namespaces joined by a control veth
// (192.0.2.0/24) and a management veth (198.51.100.0/24): the primary
// becomes active with an HA standby; with the control link down both
// are degraded and stay paired over the management path; with it up
// again they are not; killed (SIGKILL), the primary is replaced by the
// secondary within the 6 s heartbeat-loss interval, at a higher epoch.
func TestPairInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the vsm binary and runs it in network namespaces")
	}
	topo.RequireRoot(t)
	dir := t.TempDir()
	bin := buildVSM(t, dir)
	pki := filepath.Join(dir, "pki")
	if err := protocol.GenerateDevPKI(pki, []string{"vsm-a", "vsm-b"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	tp := topo.ForTest(t)
	nsA, err := tp.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	nsB, err := tp.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, a, b string }{{"ctl0", "192.0.2.1/24", "192.0.2.2/24"}, {"mgt0", "198.51.100.1/24", "198.51.100.2/24"}} {
		if err := tp.Veth(nsA, l.name, nsB, l.name); err != nil {
			t.Fatal(err)
		}
		if err := nsA.AddAddr(l.name, l.a); err != nil {
			t.Fatal(err)
		}
		if err := nsB.AddAddr(l.name, l.b); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name, role, self, peer string) string {
		return writeFile(t, dir, name+".yaml", fmt.Sprintf(`name: %s
domain: 100
role: %s
listen: 192.0.2.%s:7443
api: 127.0.0.1:8443
control: {address: "192.0.2.%s:7444", peer: "192.0.2.%s:7444"}
management: {address: "198.51.100.%s:7445", peer: "198.51.100.%s:7445"}
heartbeatLossInterval: 6s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, name, role, self, self, peer, self, peer, filepath.Join(dir, name), filepath.Join(pki, "ca.pem"),
			filepath.Join(pki, name+".pem"), filepath.Join(pki, name+"-key.pem")))
	}
	cfgA, cfgB := file("vsm-a", "primary", "1", "2"), file("vsm-b", "secondary", "2", "1")
	procA, err := nsA.Start(bin, "run", "--config", cfgA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nsB.Start(bin, "run", "--config", cfgB); err != nil {
		t.Fatal(err)
	}
	status := func(ns *topo.NS, cfg string) (ha.Status, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := ns.Run(ctx, bin, "show", "system", "redundancy", "status", "-o", "json", "--config", cfg, "--timeout", "2s")
		if err != nil {
			return ha.Status{}, err
		}
		var st ha.Status
		return st, json.Unmarshal([]byte(out), &st)
	}
	wait := func(ns *topo.NS, cfg string, d time.Duration, what string, ok func(ha.Status) bool) ha.Status {
		t.Helper()
		var st ha.Status
		var err error
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if st, err = status(ns, cfg); err == nil && ok(st) {
				return st
			}
		}
		t.Fatalf("%s: not %s within %v: %+v, %v\nprimary:\n%s", ns, what, d, st, err, procA.Output())
		return st
	}
	paired := func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby }
	sa := wait(nsA, cfgA, 20*time.Second, "active with an HA standby", paired)
	wait(nsB, cfgB, 5*time.Second, "HA standby", func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })

	// The control path cut: degraded on both sides, still paired over
	// the management path.
	cut := time.Now()
	if err := nsA.SetDown("ctl0"); err != nil {
		t.Fatal(err)
	}
	degraded := func(s ha.Status) bool { return s.Degraded && s.Peer.State != ha.PeerAbsent }
	wait(nsA, cfgA, 8*time.Second, "degraded", degraded)
	wait(nsB, cfgB, 8*time.Second, "degraded", degraded)
	t.Logf("control path down → both degraded after %v", time.Since(cut))
	// Past the loss interval: still the same pair.
	time.Sleep(7 * time.Second)
	if st, err := status(nsA, cfgA); err != nil || !paired(st) || !st.Degraded {
		t.Fatalf("primary after the loss interval with only the management path: %+v, %v", st, err)
	}
	if st, err := status(nsB, cfgB); err != nil || st.State != ha.Standby || !st.Degraded {
		t.Fatalf("secondary after the loss interval with only the management path: %+v, %v", st, err)
	}
	if err := nsA.SetUp("ctl0"); err != nil {
		t.Fatal(err)
	}
	wait(nsA, cfgA, 8*time.Second, "no longer degraded", func(s ha.Status) bool { return !s.Degraded && paired(s) })

	// The primary killed: the secondary takes over.
	if err := procA.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	sb := wait(nsB, cfgB, 10*time.Second, "active", func(s ha.Status) bool { return s.State == ha.Active })
	took := time.Since(killed)
	t.Logf("primary killed → secondary active at epoch %d after %v", sb.Epoch, took)
	if sb.Epoch <= sa.Epoch || sb.Peer.State != ha.PeerAbsent {
		t.Fatalf("the new active: %+v; the old one's epoch %d", sb, sa.Epoch)
	}
	if took > 8*time.Second {
		t.Fatalf("takeover took %v", took)
	}
}
