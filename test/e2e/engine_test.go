package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/test/topo"
)

// smallHost is a host with an uplink to a switch namespace and VMs the
// test configures itself.
type smallHost struct {
	*vemHost
	tp   *topo.Topology
	host *topo.NS
	sw   *topo.NS
	vms  map[string]*vm
}

func newSmallHost(t *testing.T, vms ...string) *smallHost {
	t.Helper()
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	h := &smallHost{tp: tp, vms: map[string]*vm{}}
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
	for i, name := range vms {
		h.vms[name] = newVM(t, tp, h.host, name, fmt.Sprintf("tap%d", i+1),
			fmt.Sprintf("52:54:00:00:00:%02x", i+1), fmt.Sprintf("192.0.2.%d", i+1))
	}
	return h
}

// head is the configuration up to its ports, with segments web (VLAN
// 100) and the given extra segment lines.
func (h *smallHost) head(segments ...string) string {
	return fmt.Sprintf("host: hv1\ninstance: %s\nsocket: %s\nuplink: uplink0\nsegments:\n  - {name: web, type: vlan, vlan: 100}\n%sprofiles:\n  - {name: default, portSecurity: true}\nports:\n",
		h.instance, h.socket, strings.Join(segments, ""))
}

func (h *smallHost) port(name, seg string) string {
	v := h.vms[name]
	return fmt.Sprintf("  - {interface: %s, mac: %q, segment: %s, profile: default}\n", v.tap, v.mac, seg)
}

func (h *smallHost) ports(t *testing.T) []api.Port {
	t.Helper()
	out, err := h.vemctl("show", "ports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ports []api.Port
	if err := json.Unmarshal([]byte(out), &ports); err != nil {
		t.Fatalf("show ports: %v\n%s", err, out)
	}
	return ports
}

func (h *smallHost) stateOf(t *testing.T, iface string) string {
	for _, p := range h.ports(t) {
		if p.Interface == iface {
			return p.State
		}
	}
	return ""
}

func (h *smallHost) module(t *testing.T) api.Status {
	t.Helper()
	out, err := h.vemctl("show", "module", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("show module: %v\n%s", err, out)
	}
	return st
}

func (h *smallHost) ping(t *testing.T, from, to string, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := h.vms[from].ns.Ping(ctx, h.vms[to].ip, count, 100*time.Millisecond)
	if err != nil || res.Received != count {
		t.Fatalf("ping %s -> %s: %d of %d: %v", from, to, res.Received, count, err)
	}
}

// TestStoppedVMsAndOrphansDoNotStopTheAgent: after a host reboot no VM
// runs yet, and an attached port's segment may have left the file: the
// agent starts anyway, shows those ports absent and orphaned, and serves
// them when their interface or segment returns.
func TestStoppedVMsAndOrphansDoNotStopTheAgent(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2", "vm3", "vm4")
	lab := "  - {name: lab, type: local}\n"
	h.writeConfig(h.head(lab) + h.port("vm1", "web") + h.port("vm2", "web") + h.port("vm4", "web"))
	h.startAgent()
	vm3 := h.vms["vm3"]
	if _, err := h.vemctl("port", "attach", "--interface", vm3.tap, "--mac", vm3.mac.String(), "--segment", "lab"); err != nil {
		t.Fatal(err)
	}
	h.stopAgent()

	// vm2 stopped (its tap is gone) and lab left the file meanwhile.
	if _, err := h.host.Run(context.Background(), "ip", "link", "del", h.vms["vm2"].tap); err != nil {
		t.Fatal(err)
	}
	h.writeConfig(h.head() + h.port("vm1", "web") + h.port("vm2", "web") + h.port("vm4", "web"))
	h.startAgent()
	if got := h.stateOf(t, "tap2"); got != "absent" {
		t.Errorf("tap2 (VM stopped) is %q, want absent", got)
	}
	if got := h.stateOf(t, "tap3"); got != "orphaned" {
		t.Errorf("tap3 (segment gone) is %q, want orphaned", got)
	}
	h.ping(t, "vm1", "vm4", 2)

	// The segment returns: the orphan is served again, without a new
	// attach.
	h.writeConfig(h.head(lab) + h.port("vm1", "web") + h.port("vm2", "web") + h.port("vm4", "web"))
	syscall.Kill(h.agent.Pid(), syscall.SIGHUP)
	waitFor(t, 5*time.Second, "tap3 up again", func() bool { return h.stateOf(t, "tap3") == "up" })
}

// TestRefusedFileIsRetried: a file the engine refuses (its VTEP is not on
// the uplink yet) is not recorded as applied: it applies by itself once
// the host allows it, without the file changing.
func TestRefusedFileIsRetried(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2")
	base := h.head() + h.port("vm1", "web") + h.port("vm2", "web")
	h.writeConfig(base)
	h.startAgent()

	vx := strings.Replace(h.head("  - {name: db, type: vxlan, vni: 5001, mtu: 1400, vteps: [198.51.100.2]}\n"),
		"uplink: uplink0\n", "uplink: uplink0\nvtep: {address: 198.51.100.1}\n", 1)
	h.writeConfig(vx + h.port("vm1", "web") + h.port("vm2", "web"))
	syscall.Kill(h.agent.Pid(), syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the refusal in show module", func() bool {
		return strings.Contains(h.module(t).ConfigError, "198.51.100.1")
	})
	h.ping(t, "vm1", "vm2", 2) // the running state stays

	if err := h.host.AddAddr("uplink0", "198.51.100.1/24"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the file applied by a retry", func() bool {
		out, err := h.vemctl("show", "segments", "-o", "json")
		return err == nil && strings.Contains(out, `"db"`) && h.module(t).ConfigError == ""
	})
}

// TestDriftIsRepaired: an entry deleted from a pinned map behind the
// agent's back comes back at the next resync, and show module counts it.
func TestDriftIsRepaired(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2")
	h.writeConfig(h.head() + h.port("vm1", "web") + h.port("vm2", "web"))
	h.startAgent("--resync-interval", "1s")
	h.ping(t, "vm1", "vm2", 1)

	m, err := ebpf.LoadPinnedMap(filepath.Join(bpf.PinDir(h.instance), "vem_ports"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var ifindex int
	if err := h.host.Do(func() error {
		l, err := net.InterfaceByName(h.vms["vm2"].tap)
		if err == nil {
			ifindex = l.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 4)
	binary.NativeEndian.PutUint32(key, uint32(ifindex))
	deleted := time.Now()
	if err := m.Delete(key); err != nil {
		t.Fatalf("delete vm2's port entry: %v", err)
	}
	val := make([]byte, m.ValueSize())
	waitFor(t, 10*time.Second, "vm2's port entry back", func() bool { return m.Lookup(key, val) == nil })
	t.Logf("drift repaired %v after the deletion (resync every 1s)", time.Since(deleted).Round(time.Millisecond))
	if st := h.module(t); st.Engine.DriftRepairs == 0 {
		t.Errorf("show module counts no drift repair: %+v", st.Engine)
	}
	h.ping(t, "vm1", "vm2", 2)
}

// TestPrivateMountNamespaceRefused: under `ip netns exec` the agent would
// pin into a bpffs that dies with it; it refuses and says what to do.
func TestPrivateMountNamespaceRefused(t *testing.T) {
	h := newSmallHost(t, "vm1")
	h.writeConfig(h.head() + h.port("vm1", "web"))
	p, err := h.host.Start(agentBin, "--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err == nil {
		t.Fatal("vem-agent started under ip netns exec")
	}
	if out := p.Output(); !strings.Contains(out, "would not outlive the agent") || !strings.Contains(out, "nsenter --net") {
		t.Errorf("the refusal does not say why and how to fix it:\n%s", out)
	}
}

// TestSIGHUPDuringStartUp: a SIGHUP while the agent starts (a reload
// racing a restart) neither kills it nor is lost.
func TestSIGHUPDuringStartUp(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2")
	h.writeConfig(h.head() + h.port("vm1", "web") + h.port("vm2", "web"))
	h.startAgent()
	h.stopAgent()

	// The second start adopts the pins and logs so while it starts:
	// the signal lands inside agent.New.
	p, err := h.ns.StartNetOnly(agentBin, "--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	h.agent = p
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "adopting pinned datapath") {
		if time.Now().After(deadline) {
			t.Fatalf("agent did not start adopting:\n%s", p.Output())
		}
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the agent serving", func() bool {
		select {
		case <-p.Done():
			t.Fatalf("SIGHUP during start-up ended the agent:\n%s", p.Output())
		default:
		}
		_, err := h.vemctl("show", "module")
		return err == nil
	})
	waitFor(t, 5*time.Second, "the SIGHUP handled", func() bool {
		return strings.Contains(p.Output(), "SIGHUP: reloading configuration")
	})
	h.ping(t, "vm1", "vm2", 2)
}

// TestSecondAgentRefused: a second agent for a running instance refuses
// to start, naming the first one's PID, and touches nothing.
func TestSecondAgentRefused(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2")
	h.writeConfig(h.head() + h.port("vm1", "web") + h.port("vm2", "web"))
	h.startAgent()
	p, err := h.ns.StartNetOnly(agentBin, "--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err == nil {
		t.Fatal("a second agent started for the same instance")
	}
	if want := fmt.Sprintf("already run by PID %d", h.agent.Pid()); !strings.Contains(p.Output(), want) {
		t.Errorf("the refusal does not name the first agent (%q):\n%s", want, p.Output())
	}
	h.ping(t, "vm1", "vm2", 2)
	if _, err := h.vemctl("show", "module"); err != nil {
		t.Errorf("the first agent stopped serving: %v", err)
	}
}

// TestHostInterfacesCannotBeAttached: the loopback, an uplink and an
// interface holding the host's address are no VM ports; an attach names
// why, and the running ports are untouched.
func TestHostInterfacesCannotBeAttached(t *testing.T) {
	h := newSmallHost(t, "vm1", "vm2")
	h.writeConfig(h.head() + h.port("vm1", "web") + h.port("vm2", "web"))
	h.startAgent()
	if err := h.tp.Veth(h.host, "mgmt0", h.sw, "mgmt-sw"); err != nil {
		t.Fatal(err)
	}
	if err := h.host.AddAddr("mgmt0", "203.0.113.10/24"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ iface, want string }{
		{"lo", "loopback"},
		{"uplink0", "uplink"},
		{"mgmt0", "203.0.113.10"},
	} {
		_, err := h.vemctl("port", "attach", "--interface", tt.iface, "--mac", "52:54:00:00:00:99", "--segment", "web")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("attach %s: %v, want a refusal naming %q", tt.iface, err, tt.want)
		}
	}
	if got := len(h.ports(t)); got != 3 {
		t.Errorf("%d ports after the refused attaches, want 3 (2 vEths, the uplink)", got)
	}
	h.ping(t, "vm1", "vm2", 2)
}
