package bundle

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/test/topo"
)

// pinIDs are the IDs of what an instance has pinned: every map, and every
// tcx link with the program in it.
func pinIDs(t *testing.T, instance string) map[string]string {
	t.Helper()
	dir := bpf.PinDir(instance)
	ids := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ids["map "+e.Name()] = fmt.Sprint(id)
	}
	links, err := os.ReadDir(filepath.Join(dir, "links"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range links {
		l, err := link.LoadPinnedLink(filepath.Join(dir, "links", e.Name()), nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		ids["link "+e.Name()] = fmt.Sprintf("link %d program %d", info.ID, info.Program)
	}
	return ids
}

// TestVerifyLeavesRunningAgentAlone verifies bundles against a real agent
// that runs and forwards: the fixture build (1.2.0, vem_stats one counter
// longer, which its programs count) switching two VMs. The current build
// (a downgrade it allows) verifies; a build without vem_stats's converter
// is refused by its dry run (the fixture's counter is in use), and by the
// running version's downgrade floor; a changed binary and a file the new
// version refuses are refused. Through all of it the agent keeps its PID,
// every pinned map and link keeps its ID and program, and a ping between
// the VMs loses nothing.
func TestVerifyLeavesRunningAgentAlone(t *testing.T) {
	topo.RequireRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatalf("ping is needed (iputils-ping): %v", err)
	}
	running := makeBundle(t, "vemfixture", "1.2.0", MakeOptions{UpgradesFrom: "1.1.0", DowngradesTo: "1.1.0"})
	current := makeBundle(t, "", "1.1.0", MakeOptions{})
	noConv := makeBundle(t, "vemnoconverters", "1.0.9", MakeOptions{})
	tampered := makeBundle(t, "", "1.1.1", MakeOptions{})

	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	must(t, err)
	vms := make([]*topo.NS, 2)
	for i := range vms {
		if vms[i], err = tp.NS(fmt.Sprintf("vm%d", i+1)); err != nil {
			t.Fatal(err)
		}
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:00:01:%02x", i+1))
		must(t, tp.Veth(host, fmt.Sprintf("tap%d", i+1), vms[i], "eth0", topo.MACs(nil, mac)))
		must(t, vms[i].AddAddr("eth0", fmt.Sprintf("192.0.2.%d/24", i+1)))
	}
	dir := t.TempDir()
	instance := strings.ReplaceAll(tp.Prefix(), "-", "_")
	state := filepath.Join(dir, "state")
	socket := filepath.Join(dir, "vem.sock")
	cfg := filepath.Join(dir, "vem.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`host: hv1
instance: %s
socket: %s
segments:
  - {name: lab, type: local}
ports:
  - {interface: tap1, mac: "52:54:00:00:01:01", segment: lab}
  - {interface: tap2, mac: "52:54:00:00:01:02", segment: lab}
`, instance, socket)), 0o644))
	tp.Cleanup(func() {
		if out, err := exec.Command(running.Agent(), "--uninstall", "--instance", instance, "--state-dir", state).CombinedOutput(); err != nil {
			t.Errorf("uninstall %s: %v: %s", instance, err, out)
		}
	})

	agent, err := host.StartNetOnly(running.Agent(), "--config", cfg, "--state-dir", state)
	must(t, err)
	c := api.NewClient(socket)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.Engine.State == api.EngineCurrent {
			break
		}
		select {
		case <-agent.Done():
			t.Fatalf("agent exited at start: %v\n%s", agent.Wait(), agent.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not current after 30s (%v)\n%s", err, agent.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx := context.Background()
	if r, err := vms[0].Ping(ctx, "192.0.2.2", 3, 200*time.Millisecond); err != nil || r.Received == 0 {
		t.Fatalf("no ping through the agent before the checks: %+v %v", r, err)
	}
	pid := agent.Pid()
	before := pinIDs(t, instance)

	// A ping runs through every check.
	var stop atomic.Bool
	var sent, received atomic.Int64
	var pingErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			r, err := vms[0].Ping(ctx, "192.0.2.2", 25, 20*time.Millisecond)
			if err != nil {
				pingErr = err
				return
			}
			sent.Add(int64(r.Sent))
			received.Add(int64(r.Received))
		}
	}()

	// The tampered bundle: its agent changed after the manifest was written.
	f, err := os.OpenFile(tampered.Agent(), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	f.Write([]byte("x"))
	f.Close()
	bad := filepath.Join(dir, "bad.yaml")
	must(t, os.WriteFile(bad, []byte("host: hv1\ninstance: "+instance+"\nsegments:\n  - {name: lab, type: local, vlan: 7}\n"), 0o644))
	rm := running.Manifest()
	o := VerifyOptions{Instance: instance, ConfigFile: cfg, StateDir: state, NetNS: host.Path()}
	var report strings.Builder
	withRunning := o
	withRunning.Running = &rm
	withRunning.Report = &report
	badFile := o
	badFile.ConfigFile = bad

	for _, tc := range []struct {
		name  string
		b     *Bundle
		o     VerifyOptions
		want  []string // nil: verifies
		check bool     // refused by upgrade-check (not before it)
	}{
		{"downgrade to the current build", current, withRunning, nil, false},
		{"no converter: vem_stats's new counter is in use", noConv, o, []string{"vem_stats", "in use"}, true},
		{"below the running version's floor", noConv, withRunning, []string{"downgraded to 1.1.0 or later, not to 1.0.9"}, false},
		{"changed binary", tampered, o, []string{"file vem-agent: checksum mismatch"}, false},
		{"file the new version refuses", current, badFile, []string{"line 4", "vlan"}, true},
	} {
		start := time.Now()
		err := tc.b.Verify(ctx, tc.o)
		took := time.Since(start).Round(time.Millisecond)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == nil:
			t.Logf("%s (%v): verified", tc.name, took)
			// The dry run planned the migration the downgrade needs.
			for _, w := range []string{"migrate     vem_stats", "value 296", "value 288", "drop counters appended by a later version", "programs    accepted by the verifier"} {
				if !strings.Contains(report.String(), w) {
					t.Errorf("%s: upgrade-check's report does not say %q:\n%s", tc.name, w, report.String())
				}
			}
			t.Logf("upgrade-check:\n%s", report.String())
		case tc.want != nil && err == nil:
			t.Errorf("%s: verified", tc.name)
		case tc.want != nil && IsCheckError(err) != tc.check:
			t.Errorf("%s: %v: refused by upgrade-check: %v, want %v", tc.name, err, IsCheckError(err), tc.check)
		default:
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %v does not say %q", tc.name, err, w)
				}
			}
			t.Logf("%s (%v): %v", tc.name, took, err)
		}
		if st := agent; func() bool {
			select {
			case <-st.Done():
				return true
			default:
				return false
			}
		}() {
			t.Fatalf("%s: the running agent exited: %v\n%s", tc.name, agent.Wait(), agent.Output())
		}
	}
	stop.Store(true)
	wg.Wait()
	if pingErr != nil {
		t.Fatal(pingErr)
	}

	if agent.Pid() != pid {
		t.Errorf("agent PID %d, was %d", agent.Pid(), pid)
	}
	after := pinIDs(t, instance)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s, was %s", k, after[k], v)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d pins, were %d: %v", len(after), len(before), after)
	}
	if sent.Load() == 0 || received.Load() != sent.Load() {
		t.Errorf("ping during the checks: %d of %d answered", received.Load(), sent.Load())
	}
	t.Logf("agent PID %d kept, %d pins unchanged, ping %d/%d", pid, len(after), received.Load(), sent.Load())
	if r, err := vms[0].Ping(ctx, "192.0.2.2", 5, 100*time.Millisecond); err != nil || r.Received != r.Sent {
		t.Fatalf("ping after the checks: %+v %v", r, err)
	}
}
