package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/frame"
	"github.com/vem-switch/vem/test/topo"
)

// vm is one VM namespace: eth0 inside, its vEth tapN in the host.
type vm struct {
	ns   *topo.NS
	tap  string
	mac  net.HardwareAddr
	ip   string
	seg  string
	prof string
}

// vemHost is one hypervisor namespace running vem-agent.
type vemHost struct {
	t        *testing.T
	ns       *topo.NS
	instance string
	stateDir string
	socket   string
	cfgPath  string
	agent    *topo.Proc
}

// newVemHost prepares ns to run an agent; its pins are removed when the
// topology closes, whatever the test did (they outlive the agent by design).
func newVemHost(t *testing.T, tp *topo.Topology, ns *topo.NS) *vemHost {
	t.Helper()
	h := &vemHost{
		t: t, ns: ns,
		instance: strings.ReplaceAll(ns.Name(), "-", "_"),
		stateDir: t.TempDir(),
	}
	h.socket = filepath.Join(h.stateDir, "vem.sock")
	h.cfgPath = filepath.Join(h.stateDir, "vem.yaml")
	tp.Cleanup(func() {
		out, err := exec.Command(agentBin, "--uninstall", "--instance", h.instance, "--state-dir", h.stateDir).CombinedOutput()
		if err != nil {
			t.Errorf("uninstall %s: %v: %s", h.instance, err, out)
		}
	})
	return h
}

// hostFixture is one hypervisor with a VLAN uplink: a host namespace
// running the agent, VMs behind vEths, and an upstream switch namespace.
type hostFixture struct {
	*vemHost
	topo  *topo.Topology
	host  *topo.NS
	sw    *topo.NS // far end of the uplink: sw0
	vms   map[string]*vm
	extra string // appended to the generated config (ports, options)
}

// The standard host: web (VLAN 100) with vm1, vm2 and vm4 (vm4's profile
// has port security off), db (VLAN 200) with vm3 reusing web's addresses,
// mgmt (flat, untagged) with vm5.
var standardVMs = []struct{ name, seg, prof, ip string }{
	{"vm1", "web", "default", "192.0.2.1"},
	{"vm2", "web", "default", "192.0.2.2"},
	{"vm3", "db", "default", "192.0.2.2"}, // same IP as vm2: segments are isolated
	{"vm4", "web", "open", "192.0.2.4"},
	{"vm5", "mgmt", "default", "198.51.100.5"},
}

// newHost builds the standard host and starts the agent on it.
func newHost(t *testing.T) *hostFixture {
	t.Helper()
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
	for i, v := range standardVMs {
		h.addVM(v.name, fmt.Sprintf("tap%d", i+1), fmt.Sprintf("52:54:00:00:00:%02x", i+1), v.ip, v.seg, v.prof)
	}
	h.writeConfig()
	h.startAgent()
	return h
}

// addVM makes a VM namespace and its vEth; it is not configured in the
// agent unless the config names it.
func (h *hostFixture) addVM(name, tap, mac, ip, seg, prof string) *vm {
	h.t.Helper()
	v := newVM(h.t, h.topo, h.host, name, tap, mac, ip)
	v.seg, v.prof = seg, prof
	h.vms[name] = v
	return v
}

// newVM makes a VM namespace with eth0 (mac, ip/24) whose vEth tap is in host.
func newVM(t *testing.T, tp *topo.Topology, host *topo.NS, name, tap, mac, ip string) *vm {
	t.Helper()
	ns, err := tp.NS(name)
	if err != nil {
		t.Fatal(err)
	}
	hw, _ := net.ParseMAC(mac)
	if err := tp.Veth(host, tap, ns, "eth0", topo.MACs(nil, hw)); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddAddr("eth0", ip+"/24"); err != nil {
		t.Fatal(err)
	}
	return &vm{ns: ns, tap: tap, mac: hw, ip: ip}
}

func (h *hostFixture) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host: hv1\ninstance: %s\nsocket: %s\nuplink: uplink0\n", h.instance, h.socket)
	b.WriteString(`segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vlan, vlan: 200}
  - {name: mgmt, type: flat}
profiles:
  - {name: default, portSecurity: true}
  - {name: open, portSecurity: false}
  - {name: shut, adminDown: true}
ports:
`)
	for _, v := range standardVMs {
		m := h.vms[v.name]
		fmt.Fprintf(&b, "  - {interface: %s, mac: %q, segment: %s, profile: %s}\n", m.tap, m.mac, m.seg, m.prof)
	}
	b.WriteString(h.extra)
	return b.String()
}

func (h *hostFixture) writeConfig() { h.vemHost.writeConfig(h.config()) }

func (h *vemHost) writeConfig(cfg string) {
	h.t.Helper()
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// startAgent runs vem-agent in the host's network namespace (only: its
// pins must land in the real /sys/fs/bpf) and waits for its socket.
func (h *vemHost) startAgent(extraArgs ...string) {
	h.t.Helper()
	args := append([]string{agentBin, "--config", h.cfgPath, "--state-dir", h.stateDir}, extraArgs...)
	p, err := h.ns.StartNetOnly(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.agent = p
	c := api.NewClient(h.socket)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.Done():
			h.t.Fatalf("vem-agent exited at start: %v\n%s", p.Wait(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("vem-agent not serving after 10s: %v\n%s", err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopAgent stops the agent with SIGTERM and waits for it.
func (h *vemHost) stopAgent() {
	h.t.Helper()
	if err := h.agent.Stop(); err != nil {
		h.t.Logf("agent stop: %v", err)
	}
}

// vemctl runs the CLI against this host's agent and returns its stdout.
func (h *vemHost) vemctl(args ...string) (string, error) {
	cmd := exec.Command(vemctlBin, append([]string{"--socket", h.socket}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("vemctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// counters reads a port's counters through vemctl's JSON output.
func (h *vemHost) counters(port string) api.Counters {
	h.t.Helper()
	out, err := h.vemctl("show", "counters", port, "-o", "json")
	if err != nil {
		h.t.Fatal(err)
	}
	var cs []api.Counters
	if err := json.Unmarshal([]byte(out), &cs); err != nil || len(cs) != 1 {
		h.t.Fatalf("show counters %s: %v (%d entries)\n%s", port, err, len(cs), out)
	}
	return cs[0]
}

// ping expects count replies out of count (or none, with want false).
func (h *hostFixture) ping(from, dst string, count int, want bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := h.vms[from].ns.Ping(ctx, dst, count, 100*time.Millisecond)
	if err != nil && want {
		h.t.Fatalf("ping %s -> %s: %v", from, dst, err)
	}
	switch {
	case want && res.Received != count:
		h.t.Fatalf("ping %s -> %s: %d of %d replies, want all", from, dst, res.Received, res.Sent)
	case !want && res.Received != 0:
		h.t.Fatalf("ping %s -> %s: %d replies, want none (isolated)", from, dst, res.Received)
	}
}

// sock opens a packet socket on a VM's eth0 (or the switch's sw0).
func (h *hostFixture) sock(ns *topo.NS, ifname string) *frame.Socket {
	h.t.Helper()
	s, err := frame.Open(ns, ifname)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// marker returns a payload unique to the test and the call site.
func marker(tag string) []byte {
	return []byte(fmt.Sprintf("vem-e2e-%d-%s-%d", os.Getpid(), tag, time.Now().UnixNano()))
}

// carries matches received frames that hold mark anywhere in the payload.
func carries(mark []byte) func(frame.Frame) bool {
	return func(f frame.Frame) bool { return !f.Outgoing && strings.Contains(string(f.Data), string(mark)) }
}
