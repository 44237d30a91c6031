package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/topo"
)

// vsmFixture is a standalone VSM in its own namespace, reached from the
// agent's host over a management link (203.0.113.0/24).
type vsmFixture struct {
	t    *testing.T
	ns   *topo.NS
	bin  string
	cfg  string
	pki  string
	proc *topo.Proc
}

const (
	vsmAddr    = "203.0.113.1"
	vsmListen  = vsmAddr + ":7443"
	vsmAPI     = "127.0.0.1:8443"
	mgmtHostIP = "203.0.113.2"
)

// newVSM builds the vsm binary, makes the credentials with `vsm certs
// init` (vsm-a, hv1) and writes the VSM's file; the VSM is not started.
func newVSM(t *testing.T, tp *topo.Topology, host *topo.NS) *vsmFixture {
	t.Helper()
	dir := t.TempDir()
	v := &vsmFixture{t: t, bin: filepath.Join(dir, "vsm"), pki: filepath.Join(dir, "pki"), cfg: filepath.Join(dir, "vsm.yaml")}
	if out, err := exec.Command("go", "build", "-o", v.bin, "../../cmd/vsm").CombinedOutput(); err != nil {
		t.Fatalf("build vsm: %v\n%s", err, out)
	}
	var err error
	if v.ns, err = tp.NS("vsm"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(v.ns, "mgmt0", host, "mgmt0"); err != nil {
		t.Fatal(err)
	}
	if err := v.ns.AddAddr("mgmt0", vsmAddr+"/24"); err != nil {
		t.Fatal(err)
	}
	if err := host.AddAddr("mgmt0", mgmtHostIP+"/24"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(v.bin, "certs", "init", "--dir", v.pki, "--vsm", "vsm-a", "--host", "hv1").CombinedOutput(); err != nil {
		t.Fatalf("vsm certs init: %v\n%s", err, out)
	}
	cfg := fmt.Sprintf(`name: vsm-a
domain: 100
role: standalone
listen: %s
api: %s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, vsmListen, vsmAPI, filepath.Join(dir, "data"), v.file("ca.pem"), v.file("vsm-a.pem"), v.file("vsm-a-key.pem"))
	if err := os.WriteFile(v.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *vsmFixture) file(name string) string { return filepath.Join(v.pki, name) }

// start runs `vsm run` in its namespace and waits for its API.
func (v *vsmFixture) start() {
	v.t.Helper()
	p, err := v.ns.Start(v.bin, "run", "--config", v.cfg)
	if err != nil {
		v.t.Fatal(err)
	}
	v.proc = p
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := v.run("show", "module"); err == nil {
			return
		}
		select {
		case <-p.Done():
			v.t.Fatalf("vsm exited at start: %v\n%s", p.Wait(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("vsm API not serving after 10s\n%s", p.Output())
		}
	}
}

// run runs the vsm CLI in the VSM's namespace against its file.
func (v *vsmFixture) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.ns.Run(ctx, append([]string{v.bin}, append(args, "--config", v.cfg)...)...)
}

// dpaStatus reads `vemctl show dpa -o json`.
func dpaStatus(t *testing.T, h *vemHost) api.DPA {
	t.Helper()
	out, err := h.vemctl("show", "dpa", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var d api.DPA
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("show dpa: %v\n%s", err, out)
	}
	return d
}

// TestDPAHeadlessKeepsForwarding: an agent in VSM mode gets its VLAN
// segment and ports from a real VSM; when the VSM is killed it goes
// headless after headlessAfter (3 s) without losing a ping, and a
// restarted agent with the VSM still down comes back from its
// checkpoint, headless, still forwarding. Reattached to the VSM restarted,
// the agent is killed with SIGKILL under pings as the VSM dies again: it
// comes back from its checkpoint connecting, goes headless headlessAfter
// later, and no ping is lost.
func TestDPAHeadlessKeepsForwarding(t *testing.T) {
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	h := &hostFixture{topo: tp, vms: map[string]*vm{}}
	var err error
	if h.host, err = tp.NS("host"); err != nil {
		t.Fatal(err)
	}
	h.vemHost = newVemHost(t, tp, h.host)
	if h.sw, err = tp.NS("sw"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(h.host, "uplink0", h.sw, "sw0"); err != nil {
		t.Fatal(err)
	}
	h.addVM("vm1", "tap1", "52:54:00:00:00:01", "192.0.2.1", "web", "default")
	h.addVM("vm2", "tap2", "52:54:00:00:00:02", "192.0.2.2", "web", "default")
	v := newVSM(t, tp, h.host)
	v.start()
	network := filepath.Join(t.TempDir(), "network.yaml")
	if err := os.WriteFile(network, []byte(`segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := v.run("apply", "-f", network); err != nil {
		t.Fatalf("vsm apply: %v\n%s", err, out)
	}

	h.vemHost.writeConfig(fmt.Sprintf(`host: hv1
instance: %s
socket: %s
uplink: uplink0
vsm:
  domain: 100
  addresses: [%s]
  headlessAfter: 3s
  tls: {ca: %s, cert: %s, key: %s}
`, h.instance, h.socket, vsmListen, v.file("ca.pem"), v.file("hv1.pem"), v.file("hv1-key.pem")))
	h.startAgent()
	waitFor(t, 10*time.Second, "the agent attached to the VSM", func() bool {
		d := dpaStatus(t, h.vemHost)
		return d.Mode == "vsm" && d.State == "attached" && d.AttachedVSM == "vsm-a" && d.Module == 3
	})
	waitFor(t, 10*time.Second, "segment web from the VSM", func() bool {
		out, err := h.vemctl("show", "segments")
		return err == nil && strings.Contains(out, "web") && strings.Contains(out, "100")
	})
	for _, name := range []string{"vm1", "vm2"} {
		m := h.vms[name]
		if out, err := h.vemctl("port", "attach", "--interface", m.tap, "--mac", m.mac.String(),
			"--segment", m.seg, "--profile", m.prof); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	waitFor(t, 10*time.Second, "both ports up", func() bool {
		out, err := h.vemctl("show", "ports", "-o", "json")
		return err == nil && portState(t, out, "tap1") == "up" && portState(t, out, "tap2") == "up"
	})
	h.ping("vm1", "192.0.2.2", 2, true)
	waitFor(t, 10*time.Second, "the VSM's binding of both ports", func() bool {
		mods, err := v.run("show", "module", "-o", "json")
		return err == nil && strings.Contains(strings.ReplaceAll(mods, " ", ""), `"ports":2`)
	})

	// The VSM dies: headless after 3 s, forwarding all along.
	var killed, headless time.Time
	res := pingDuring(t, h, 1200, func() {
		killed = time.Now()
		if err := v.proc.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "headless", func() bool { return dpaStatus(t, h.vemHost).State == "headless" })
		headless = time.Now()
	})
	t.Logf("VSM killed: headless after %v (headlessAfter 3s); pings %d sent, %d received", headless.Sub(killed).Round(10*time.Millisecond), res.Sent, res.Received)
	if res.Sent != 1200 || res.Received != res.Sent {
		t.Fatalf("VSM loss: %d of %d pings answered, want all", res.Received, res.Sent)
	}
	if d := headless.Sub(killed); d < 2*time.Second {
		t.Errorf("headless %v after the VSM died, want about headlessAfter (3s)", d)
	}

	// The agent restarts with the VSM still down: back from its checkpoint.
	res = pingDuring(t, h, 1000, func() {
		h.stopAgent()
		h.startAgent()
	})
	t.Logf("agent restart, VSM down: pings %d sent, %d received", res.Sent, res.Received)
	if res.Sent != 1000 || res.Received != res.Sent {
		t.Fatalf("agent restart: %d of %d pings answered, want all", res.Received, res.Sent)
	}
	if !strings.Contains(h.agent.Output(), "starting from the checkpoint") {
		t.Fatalf("the restarted agent did not start from its checkpoint:\n%s", h.agent.Output())
	}
	waitFor(t, 10*time.Second, "headless after the restart", func() bool {
		d := dpaStatus(t, h.vemHost)
		return d.State == "headless" && d.Module == 3
	})
	h.ping("vm2", "192.0.2.1", 2, true)

	// The VSM comes back and the agent reattaches; then, under the pings,
	// the agent is killed (SIGKILL) and the VSM with it, and the agent
	// restarts with no VSM reachable: back from its checkpoint at once,
	// connecting (it was attached), headless headlessAfter later.
	v.start()
	waitFor(t, 15*time.Second, "reattached to the restarted VSM", func() bool {
		d := dpaStatus(t, h.vemHost)
		return d.State == "attached" && d.Module == 3
	})
	var launched, restarted, headlessAt time.Time
	var first api.DPA
	res = pingDuring(t, h, 1000, func() {
		if err := h.agent.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := v.proc.Kill(); err != nil {
			t.Fatal(err)
		}
		launched = time.Now()
		h.startAgent()
		restarted = time.Now()
		first = dpaStatus(t, h.vemHost)
		waitFor(t, 10*time.Second, "headless after the kill -9", func() bool {
			d := dpaStatus(t, h.vemHost)
			if d.State == "headless" && d.HeadlessSince != nil {
				headlessAt = *d.HeadlessSince
				return true
			}
			return false
		})
	})
	// The DPA starts after the agent was launched and before its socket
	// answered (restarted): headless headlessAfter after a moment in
	// between, however long the start took on a loaded machine.
	startup := restarted.Sub(launched)
	t.Logf("agent and VSM killed (SIGKILL), agent restarted with no VSM in %v: %s at once (module %d, generation %d), headless %v after its launch; pings %d sent, %d received",
		startup.Round(10*time.Millisecond), first.State, first.Module, first.Generation, headlessAt.Sub(launched).Round(10*time.Millisecond), res.Sent, res.Received)
	if res.Sent != 1000 || res.Received != res.Sent {
		t.Fatalf("kill -9 of the agent: %d of %d pings answered, want all", res.Received, res.Sent)
	}
	// It was attached: from the checkpoint it connects, and only turns
	// headless headlessAfter later (a start slower than that may already
	// see headless first).
	fromCheckpoint := first.Module == 3 && first.Generation != 0 && strings.Count(h.agent.Output(), "starting from the checkpoint") == 1
	if !fromCheckpoint || (first.State != "connecting" && startup < 2*time.Second) {
		t.Fatalf("restarted after kill -9: %+v, want connecting from the checkpoint (module 3)\n%s", first, h.agent.Output())
	}
	if headlessAt.Before(launched.Add(3*time.Second)) || headlessAt.After(restarted.Add(3*time.Second+500*time.Millisecond)) {
		t.Errorf("headless at launch+%v (socket answered at launch+%v), want headlessAfter (3s) after the DPA started",
			headlessAt.Sub(launched), startup)
	}
}
