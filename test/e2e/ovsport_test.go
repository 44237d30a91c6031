package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/ovs"
	"github.com/vem-switch/vem/test/topo"
)

// ovsHost is a hypervisor whose VMs libvirt would plug into an OVS bridge:
// a private ovsdb-server (no ovs-vswitchd: vem forwards) and the agent
// following its Interface table.
type ovsHost struct {
	*vemHost
	t   *testing.T
	tp  *topo.Topology
	db  *ovs.DB
	vms map[string]*vm
}

// ovsIfaceID and ovsVMID are the iface-id and vm-id libvirt would write
// for VM n (UUIDs).
func ovsIfaceID(n int) string { return fmt.Sprintf("6f0c1c5e-0000-4000-8000-%012d", n) }
func ovsVMID(n int) string    { return fmt.Sprintf("0d1e2f3a-0000-4000-8000-%012d", n) }

func newOVSHost(t *testing.T) *ovsHost {
	t.Helper()
	topo.RequireRoot(t)
	if err := ovs.CheckInstalled(); err != nil {
		if errors.Is(err, ovs.ErrNotInstalled) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	dbDir := t.TempDir() // before the topology: removed after its daemons stop
	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	h := &ovsHost{vemHost: newVemHost(t, tp, host), t: t, tp: tp, vms: map[string]*vm{}}
	if h.db, err = ovs.StartDB(host, dbDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ovsdb-server log:%s", h.db.Log())
			if h.agent != nil {
				t.Logf("agent output:\n%s", h.agent.Output())
			}
		}
	})
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		n := i + 1
		h.vms[fmt.Sprintf("vm%d", n)] = newVM(t, tp, host, fmt.Sprintf("vm%d", n), fmt.Sprintf("ovtap%d", n), fmt.Sprintf("52:54:00:00:0a:%02x", n), ip)
	}
	h.writeConfig(fmt.Sprintf(`host: hv1
instance: %s
socket: %s
segments:
  - {name: web, type: local}
  - {name: db, type: local}
profiles:
  - {name: default, portSecurity: true}
ovs: {database: %q, segment: web, profile: default}
`, h.instance, h.socket, h.db.Address()))
	if _, err := h.vsctl("add-br", "br-int"); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *ovsHost) vsctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.db.Vsctl(ctx, args...)
	return strings.TrimSpace(out), err
}

func (h *ovsHost) mustVsctl(args ...string) string {
	h.t.Helper()
	out, err := h.vsctl(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// plug adds VM n's tap to br-int with the external_ids libvirt's
// virNetDevOpenvswitchAddPort writes, and extra ones.
func (h *ovsHost) plug(n int, extra ...string) {
	h.t.Helper()
	v := h.vms[fmt.Sprintf("vm%d", n)]
	args := []string{"--", "--may-exist", "add-port", "br-int", v.tap, "--", "set", "Interface", v.tap,
		"external_ids:attached-mac=" + v.mac.String(), "external_ids:iface-id=" + ovsIfaceID(n),
		"external_ids:vm-id=" + ovsVMID(n), "external_ids:iface-status=active"}
	for _, e := range extra {
		args = append(args, "external_ids:"+e)
	}
	h.mustVsctl(args...)
}

// installed reads an interface's ovn-installed ("" when absent).
func (h *ovsHost) installed(iface string) string {
	h.t.Helper()
	out, err := h.vsctl("--if-exists", "get", "Interface", iface, "external_ids:ovn-installed")
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Trim(out, `"`)
}

// ports reads show ports, by interface.
func (h *ovsHost) ports() map[string]api.Port {
	h.t.Helper()
	out, err := h.vemctl("show", "ports", "-o", "json")
	if err != nil {
		h.t.Fatal(err)
	}
	var ps []api.Port
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		h.t.Fatalf("show ports: %v\n%s", err, out)
	}
	m := map[string]api.Port{}
	for _, p := range ps {
		m[p.Interface] = p
	}
	return m
}

func (h *ovsHost) waitPort(iface, state string) {
	h.t.Helper()
	waitFor(h.t, 15*time.Second, fmt.Sprintf("%s %q from the ovs source", iface, state), func() bool {
		p, ok := h.ports()[iface]
		if state == "" {
			return !ok
		}
		return ok && p.State == state && p.Source == "ovs"
	})
}

func (h *ovsHost) waitInstalled(iface, want string) {
	h.t.Helper()
	waitFor(h.t, 15*time.Second, fmt.Sprintf("%s ovn-installed=%q", iface, want), func() bool { return h.installed(iface) == want })
}

func (h *ovsHost) ping(from, to string, count int, want bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, _ := h.vms[from].ns.Ping(ctx, h.vms[to].ip, count, 100*time.Millisecond)
	switch {
	case want && res.Received != count:
		h.t.Fatalf("ping %s -> %s: %d of %d replies, want all", from, to, res.Received, res.Sent)
	case !want && res.Received != 0:
		h.t.Fatalf("ping %s -> %s: %d replies, want none", from, to, res.Received)
	}
}

// TestOVSPortSource: interfaces plugged into an OVS bridge with libvirt's
// external_ids become vem ports (source ovs) that forward and are marked
// ovn-installed; inactive and deleted rows detach and lose the mark; bad
// external_ids are refused with the reason in the log and nothing else
// is touched; an agent restarted while the table changed resyncs; an
// ovsdb-server restarted is reconnected to.
func TestOVSPortSource(t *testing.T) {
	h := newOVSHost(t)
	h.plug(1)
	h.startAgent()
	// Plugged while the agent runs, with its addresses from vem's key:
	// the time from the row to the mark is logged (not a goal).
	plugged := time.Now()
	h.plug(2, `vem-ips="192.0.2.2"`)
	h.waitInstalled("ovtap2", "true")
	t.Logf("ovtap2: row added to ovn-installed=true in %v (ovs-vsctl polled every 50 ms)", time.Since(plugged).Round(time.Millisecond))
	// Hostile values on a third VM; and a row that is not vem's.
	h.plug(3, "attached-mac=ff:ff:ff:ff:ff:ff")
	h.mustVsctl("add-port", "br-int", "uplink-x", "--", "set", "Interface", "uplink-x", "external_ids:owner=someone-else")
	otherIDs := h.mustVsctl("get", "Interface", "uplink-x", "external_ids")

	h.waitPort("ovtap1", "up")
	h.waitPort("ovtap2", "up")
	p := h.ports()["ovtap2"]
	if p.MAC != "52:54:00:00:0a:02" || p.Segment != "web" || p.Profile != "default" {
		t.Errorf("ovtap2 = %+v, want MAC 52:54:00:00:0a:02 in web with profile default", p)
	}
	h.ping("vm1", "vm2", 3, true)
	h.waitInstalled("ovtap1", "true")
	h.waitInstalled("ovtap2", "true")

	// The bad row: refused with its reason, never bound, never marked;
	// the row that is not vem's is left as it was.
	waitFor(t, 10*time.Second, "the refusal of ovtap3 in the log", func() bool {
		out := h.agent.Output()
		return strings.Contains(out, "OVS interface refused") && strings.Contains(out, "ovtap3") &&
			strings.Contains(out, "multicast")
	})
	if _, bound := h.ports()["ovtap3"]; bound {
		t.Errorf("ovtap3 with a broadcast attached-mac was bound")
	}
	if got := h.installed("ovtap3"); got != "" {
		t.Errorf("ovtap3 marked ovn-installed=%q", got)
	}
	if got := h.mustVsctl("get", "Interface", "uplink-x", "external_ids"); got != otherIDs {
		t.Errorf("a row that is not vem's was written: %s, was %s", got, otherIDs)
	}
	// Fixed, it binds.
	h.mustVsctl("set", "Interface", "ovtap3", "external_ids:attached-mac=52:54:00:00:0a:03")
	h.waitPort("ovtap3", "up")
	h.ping("vm1", "vm3", 2, true)

	// Inactive: detached, mark removed; active again: back.
	h.mustVsctl("set", "Interface", "ovtap2", "external_ids:iface-status=inactive")
	h.waitPort("ovtap2", "")
	h.waitInstalled("ovtap2", "")
	h.ping("vm1", "vm2", 2, false)
	h.mustVsctl("set", "Interface", "ovtap2", "external_ids:iface-status=active")
	h.waitPort("ovtap2", "up")
	h.waitInstalled("ovtap2", "true")
	h.ping("vm1", "vm2", 2, true)

	// The row deleted (the VM stopped: libvirt's del-port): detached.
	h.mustVsctl("del-port", "br-int", "ovtap3")
	h.waitPort("ovtap3", "")
	h.ping("vm1", "vm3", 2, false)

	// Agent restarted while the table changed: ovtap1 forwards from the
	// first apply (kept in the state directory), ovtap2's deletion and
	// ovtap3's return are caught up.
	h.stopAgent()
	h.mustVsctl("del-port", "br-int", "ovtap2")
	h.plug(3)
	h.startAgent()
	h.ping("vm1", "vm3", 2, true)
	h.waitPort("ovtap2", "")
	h.waitPort("ovtap1", "up")
	h.waitInstalled("ovtap3", "true")
	h.ping("vm1", "vm2", 2, false)

	// ovsdb-server restarted: ports stay; the agent reconnects and
	// follows the table again.
	if err := h.db.Restart(); err != nil {
		t.Fatal(err)
	}
	h.ping("vm1", "vm3", 2, true)
	h.plug(2)
	h.waitPort("ovtap2", "up")
	h.waitInstalled("ovtap2", "true")
	h.ping("vm1", "vm2", 3, true)
	if !strings.Contains(h.agent.Output(), "ovsdb-server connection lost") {
		t.Errorf("the agent did not log the lost connection")
	}
}

// TestOVSPortSourceVSM: in VSM mode the interfaces go to the VSM. One
// that names no segment is bound by its iface-id, the ID of a port
// pre-created on the VSM (Neutron-style); one that names a segment is
// bound by it and applied at once. Both forward, show the source ovs and
// are marked ovn-installed; a row deleted is detached from the VSM too.
func TestOVSPortSourceVSM(t *testing.T) {
	h := newOVSHost(t)
	v := newVSM(t, h.tp, h.ns)
	v.start()
	network := fmt.Sprintf(`segments:
  - {name: web, type: local}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {id: %s, mac: "52:54:00:00:0a:01", segment: web, profile: default}
`, ovsIfaceID(1))
	netFile := h.t.TempDir() + "/network.yaml"
	h.writeFile(netFile, network)
	if out, err := v.run("apply", "-f", netFile); err != nil {
		t.Fatalf("vsm apply: %v\n%s", err, out)
	}
	h.writeConfig(fmt.Sprintf(`host: hv1
instance: %s
socket: %s
vsm:
  domain: 100
  addresses: [%s]
  tls: {ca: %s, cert: %s, key: %s}
ovs: {database: %q}
`, h.instance, h.socket, vsmListen, v.file("ca.pem"), v.file("hv1.pem"), v.file("hv1-key.pem"), h.db.Address()))
	h.startAgent()
	waitFor(t, 15*time.Second, "the agent attached to the VSM", func() bool {
		d := dpaStatus(t, h.vemHost)
		return d.State == "attached" && d.Module == 3
	})

	h.plug(1)                                            // no segment: the VSM's pre-created port
	h.plug(2, "vem-segment=web", "port-profile=default") // by segment and profile
	h.waitPort("ovtap1", "up")
	h.waitPort("ovtap2", "up")
	h.ping("vm1", "vm2", 3, true)
	h.waitInstalled("ovtap1", "true")
	h.waitInstalled("ovtap2", "true")
	waitFor(t, 10*time.Second, "both bound on the VSM", func() bool {
		mods, err := v.run("show", "module", "-o", "json")
		return err == nil && strings.Contains(strings.ReplaceAll(mods, " ", ""), `"ports":2`)
	})

	h.mustVsctl("del-port", "br-int", "ovtap2")
	h.waitPort("ovtap2", "")
	waitFor(t, 10*time.Second, "ovtap2 unbound on the VSM", func() bool {
		mods, err := v.run("show", "module", "-o", "json")
		return err == nil && strings.Contains(strings.ReplaceAll(mods, " ", ""), `"ports":1`)
	})
	h.ping("vm1", "vm2", 2, false)
	h.ping("vm2", "vm1", 1, false)
	if p := h.ports()["ovtap1"]; p.State != "up" || p.Source != "ovs" {
		t.Errorf("ovtap1 after ovtap2 left: %+v", p)
	}
}

func (h *ovsHost) writeFile(path, data string) {
	h.t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
}
