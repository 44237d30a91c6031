package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/frame"
	"github.com/vem-switch/vem/test/ovs"
	"github.com/vem-switch/vem/test/topo"
)

// pcConfig is a host on VLAN segment web (100) whose uplink is port-channel
// po1 over e1 and e2, with one VM port.
func pcConfig(h *vemHost, mode, members, vmMAC string, extra string) string {
	rate := ""
	if strings.HasPrefix(mode, "lacp") {
		rate = "rate: fast, hash: src-dst-ip-l4port, "
	}
	return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: po1
portChannels:
  - {name: po1, mode: %s, %smembers: [%s]%s}
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap1, mac: %q, segment: web, profile: default}
`, h.ns.Name(), h.instance, h.socket, mode, rate, members, extra, vmMAC)
}

// neighbors reads vemctl show lacp neighbor.
func neighbors(t *testing.T, h *vemHost) []api.LACPNeighbor {
	t.Helper()
	out, err := h.vemctl("show", "lacp", "neighbor", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var n []api.LACPNeighbor
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("show lacp neighbor: %v\n%s", err, out)
	}
	return n
}

func bundled(t *testing.T, h *vemHost) int {
	n := 0
	for _, nb := range neighbors(t, h) {
		if nb.State == "bundled" {
			n++
		}
	}
	return n
}

// udpFlows sends a datagram from vm to dst on count flows: one source
// port each.
func udpFlows(t *testing.T, v *vm, dst string, count int) {
	t.Helper()
	err := v.ns.Do(func() error {
		for i := 0; i < count; i++ {
			c, err := net.DialUDP("udp4", &net.UDPAddr{Port: 40000 + i}, &net.UDPAddr{IP: net.ParseIP(dst), Port: 9})
			if err != nil {
				return err
			}
			_, err = c.Write([]byte("flow"))
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp flows: %v", err)
	}
}

// memberTx returns the transmitted packet counter of each member.
func memberTx(t *testing.T, h *vemHost, members ...string) map[string]uint64 {
	out := map[string]uint64{}
	for _, m := range members {
		out[m] = h.counters(m).TxPackets
	}
	return out
}

// pingLoss pings from v every 10 ms for count packets while fn runs.
func pingLoss(t *testing.T, v *vm, dst string, count int, fn func()) topo.PingResult {
	t.Helper()
	done := make(chan topo.PingResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, _ := v.ns.Ping(ctx, dst, count, 10*time.Millisecond)
		done <- r
	}()
	time.Sleep(300 * time.Millisecond)
	fn()
	return <-done
}

func TestLACPBetweenTwoAgents(t *testing.T) {
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	ns1, err := tp.NS("hv1")
	if err != nil {
		t.Fatal(err)
	}
	ns2, err := tp.NS("hv2")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"e1", "e2"} {
		if err := tp.Veth(ns1, e, ns2, e); err != nil {
			t.Fatal(err)
		}
	}
	vm1 := newVM(t, tp, ns1, "vm1", "tap1", "52:54:00:00:00:01", "192.0.2.1")
	vm2 := newVM(t, tp, ns2, "vm2", "tap1", "52:54:00:00:00:02", "192.0.2.2")
	hv1, hv2 := newVemHost(t, tp, ns1), newVemHost(t, tp, ns2)
	members := "{interface: e1}, {interface: e2}"
	hv1.writeConfig(pcConfig(hv1, "lacp-active", members, vm1.mac.String(), ""))
	hv2.writeConfig(pcConfig(hv2, "lacp-passive", members, vm2.mac.String(), ""))
	hv1.startAgent()
	hv2.startAgent()

	waitFor(t, 10*time.Second, "both members bundled on both agents", func() bool {
		return bundled(t, hv1) == 2 && bundled(t, hv2) == 2
	})
	n1 := neighbors(t, hv1)
	out, _ := hv2.vemctl("show", "port-channel", "-o", "json")
	var pcs []api.PortChannel
	if err := json.Unmarshal([]byte(out), &pcs); err != nil || len(pcs) != 1 {
		t.Fatalf("show port-channel: %v\n%s", err, out)
	}
	if n1[0].PartnerSystem != pcs[0].System || !pcs[0].Up {
		t.Fatalf("hv1's partner %s is not hv2's system %s (up %v)", n1[0].PartnerSystem, pcs[0].System, pcs[0].Up)
	}
	pingVM(t, vm1, "192.0.2.2", 3, true)

	// Many flows use both members.
	before := memberTx(t, hv1, "e1", "e2")
	udpFlows(t, vm1, "192.0.2.2", 32)
	after := memberTx(t, hv1, "e1", "e2")
	for _, m := range []string{"e1", "e2"} {
		if after[m]-before[m] < 4 {
			t.Fatalf("member %s carried %d of 32 flows: hashing does not spread (%v -> %v)", m, after[m]-before[m], before, after)
		}
	}
	t.Logf("32 flows: e1 %d, e2 %d packets", after["e1"]-before["e1"], after["e2"]-before["e2"])

	// A VM attached on hv1 stops: its port is absent from here on, and
	// must not hold up the failover below.
	vm3 := newVM(t, tp, ns1, "vm3", "tap3", "52:54:00:00:00:03", "192.0.2.3")
	if _, err := hv1.vemctl("port", "attach", "--interface", "tap3", "--mac", vm3.mac.String(), "--segment", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := ns1.Run(context.Background(), "ip", "link", "del", "tap3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "tap3 absent", func() bool {
		out, err := hv1.vemctl("show", "ports", "-o", "json")
		return err == nil && portState(t, out, "tap3") == "absent"
	})

	// A member's carrier loss moves its flows to the other at once.
	res := pingLoss(t, vm1, "192.0.2.2", 300, func() {
		if err := ns1.SetDown("e1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("member e1 down under a 10 ms ping: %d of %d lost", res.Sent-res.Received, res.Sent)
	if res.Sent-res.Received > 10 {
		t.Fatalf("%d of %d pings lost when a member went down", res.Sent-res.Received, res.Sent)
	}
	waitFor(t, 5*time.Second, "e1 out of both bundles", func() bool { return bundled(t, hv1) == 1 && bundled(t, hv2) == 1 })
	// Every flow now leaves on e2: the datapath's member set lost e1.
	before = memberTx(t, hv1, "e1", "e2")
	udpFlows(t, vm1, "192.0.2.2", 32)
	after = memberTx(t, hv1, "e1", "e2")
	if after["e1"] != before["e1"] || after["e2"]-before["e2"] < 32 {
		t.Fatalf("32 flows after e1 went down: e1 sent %d, e2 %d; want all on e2", after["e1"]-before["e1"], after["e2"]-before["e2"])
	}
}

// ovsRig is a host whose uplink members e1 and e2 go to an Open vSwitch
// in the switch namespace; the switch has an access port (VLAN 100) to a
// remote host at 192.0.2.100.
type ovsRig struct {
	host   *vemHost
	vm     *vm
	sw     *ovs.Switch
	swNS   *topo.NS
	remote *vm
}

func newOVSRig(t *testing.T, mode string, bond bool, memberPrio string) *ovsRig {
	t.Helper()
	topo.RequireRoot(t)
	if err := ovs.CheckInstalled(); err != nil {
		t.Fatalf("Open vSwitch is needed as the independent peer: %v (run scripts/deps.sh test)", err)
	}
	dir, err := os.MkdirTemp("", "vemovs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tp := topo.ForTest(t)
	hostNS, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	swNS, err := tp.NS("sw")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []string{"e1", "e2"} {
		if err := tp.Veth(hostNS, e, swNS, fmt.Sprintf("p%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	r := &ovsRig{swNS: swNS}
	r.remote = newVM(t, tp, swNS, "remote", "r0", "02:00:00:00:00:64", "192.0.2.100")
	if r.sw, err = ovs.Start(swNS, dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.sw.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if bond {
		if err := r.sw.AddBond("br0", "bond0", []string{"p1", "p2"}, true, true); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, p := range []string{"p1", "p2"} {
			if _, err := r.sw.Vsctl(ctx, "add-port", "br0", p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := r.sw.Vsctl(ctx, "add-port", "br0", "r0", "tag=100"); err != nil {
		t.Fatal(err)
	}
	r.vm = newVM(t, tp, hostNS, "vm1", "tap1", "52:54:00:00:00:01", "192.0.2.1")
	r.host = newVemHost(t, tp, hostNS)
	r.host.writeConfig(pcConfig(r.host, mode, memberPrio, r.vm.mac.String(), ""))
	r.host.startAgent()
	return r
}

func TestLACPInteropWithOpenVSwitch(t *testing.T) {
	r := newOVSRig(t, "lacp-active", true, "{interface: e1}, {interface: e2}")
	waitFor(t, 10*time.Second, "OVS and vem negotiated on both members", func() bool {
		st, err := r.sw.LACPShow("bond0")
		if err != nil || !st.Negotiated || len(st.Members) != 2 {
			return false
		}
		for _, m := range st.Members {
			if m.Status != "current" || !m.Attached {
				return false
			}
		}
		return bundled(t, r.host) == 2
	})
	st, _ := r.sw.LACPShow("bond0")
	for _, n := range neighbors(t, r.host) {
		if n.PartnerSystem != st.System.String() {
			t.Fatalf("vem's partner on %s is %s, OVS's system is %s", n.Interface, n.PartnerSystem, st.System)
		}
	}
	pingVM(t, r.vm, "192.0.2.100", 3, true)

	before := memberTx(t, r.host, "e1", "e2")
	udpFlows(t, r.vm, "192.0.2.100", 32)
	after := memberTx(t, r.host, "e1", "e2")
	for _, m := range []string{"e1", "e2"} {
		if after[m]-before[m] < 4 {
			t.Fatalf("member %s carried %d of 32 flows", m, after[m]-before[m])
		}
	}

	res := pingLoss(t, r.vm, "192.0.2.100", 300, func() {
		if err := r.swNS.SetDown("p1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("OVS member p1 down under a 10 ms ping: %d of %d lost", res.Sent-res.Received, res.Sent)
	if res.Sent-res.Received > 150 {
		t.Fatalf("%d of %d pings lost when a member went down", res.Sent-res.Received, res.Sent)
	}
	waitFor(t, 5*time.Second, "e1 leaves vem's bundle", func() bool { return bundled(t, r.host) == 1 })
}

// portChannel reads vemctl show port-channel.
func portChannel(t *testing.T, h *vemHost) api.PortChannel {
	t.Helper()
	out, err := h.vemctl("show", "port-channel", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var pcs []api.PortChannel
	if err := json.Unmarshal([]byte(out), &pcs); err != nil || len(pcs) != 1 {
		t.Fatalf("show port-channel: %v\n%s", err, out)
	}
	return pcs[0]
}

// pinnedTo returns the member a vEth is pinned to, "" if none.
func pinnedTo(t *testing.T, h *vemHost, vEth string) string {
	for _, m := range portChannel(t, h).Members {
		if m.Active && slices.Contains(m.VEths, vEth) {
			return m.Interface
		}
	}
	return ""
}

// TestMACPinningFailoverByPriority: no LACP; the upstream (OVS with two
// independent ports) sees two links. The vEth is pinned to the member with
// the best failover priority, moves when it fails and fails back when it
// recovers; floods from the upstream reach the VM once.
func TestMACPinningFailoverByPriority(t *testing.T) {
	r := newOVSRig(t, "mac-pinning", false, "{interface: e1, priority: 1}, {interface: e2, priority: 2}")
	h := r.host
	waitFor(t, 5*time.Second, "tap1 pinned to e1 (priority 1)", func() bool { return pinnedTo(t, h, "tap1") == "e1" })
	pingVM(t, r.vm, "192.0.2.100", 3, true)
	// The upstream floods the VM's own ARP back on e2: dropped, not
	// learned (else the VM's MAC would move to the uplink).
	if n := h.counters("e2").Drops["looped"]; n < 1 {
		t.Fatalf("no looped-back frames counted on e2: the VM's reflected broadcast was not recognised")
	}

	// A broadcast from upstream arrives on both members; one delivers.
	sVM, sRemote := openSock(t, r.vm.ns), openSock(t, r.remote.ns)
	before := h.counters("e2").Drops["not-designated"]
	mark := marker("pin-flood")
	if err := sRemote.Send(frame.Ethernet(broadcast, r.remote.mac, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	if got := len(sVM.Collect(300*time.Millisecond, carries(mark))); got != 1 {
		t.Fatalf("the VM received %d copies of an upstream broadcast, want 1", got)
	}
	// (Other floods, IPv6 router solicitations say, may be counted too.)
	if d := h.counters("e2").Drops["not-designated"] - before; d < 1 {
		t.Fatalf("not-designated drops on e2 went up by %d, want at least 1", d)
	}

	res := pingLoss(t, r.vm, "192.0.2.100", 300, func() {
		if err := h.ns.SetDown("e1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("pinned member e1 down under a 10 ms ping: %d of %d lost", res.Sent-res.Received, res.Sent)
	if pinnedTo(t, h, "tap1") != "e2" {
		t.Fatalf("tap1 did not move to e2: %+v", portChannel(t, h))
	}
	if res.Received < res.Sent/2 {
		t.Fatalf("%d of %d pings answered after the failover", res.Received, res.Sent)
	}
	pingVM(t, r.vm, "192.0.2.100", 3, true)

	// Recovery: auto-priority-failover (the default) fails back at once.
	if err := h.ns.SetUp("e1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "tap1 back on e1", func() bool { return pinnedTo(t, h, "tap1") == "e1" })
	pingVM(t, r.vm, "192.0.2.100", 3, true)
}

// TestLACPAgentRestartKeepsOVSBundle: an agent killed with SIGKILL and
// started again keeps its LACP identity and resumes from its checkpoint
// well inside OVS's 3 s fast timeout: OVS never marks a member defaulted,
// expired or disabled, and no packet is lost.
func TestLACPAgentRestartKeepsOVSBundle(t *testing.T) {
	r := newOVSRig(t, "lacp-active", true, "{interface: e1}, {interface: e2}")
	healthy := func() error {
		st, err := r.sw.LACPShow("bond0")
		if err != nil {
			return err
		}
		bond, err := r.sw.BondShow("bond0")
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.Status != "current" || !m.Attached {
				return fmt.Errorf("OVS member %s: %s, attached %v", m.Name, m.Status, m.Attached)
			}
		}
		if len(bond.Enabled()) != 2 {
			return fmt.Errorf("OVS enables %v of both members", bond.Enabled())
		}
		return nil
	}
	waitFor(t, 10*time.Second, "the bundle negotiated", func() bool { return healthy() == nil && bundled(t, r.host) == 2 })
	system := portChannel(t, r.host).System

	// Watch OVS every 100 ms through the restart.
	stop := make(chan struct{})
	problems := make(chan error, 100)
	go func() {
		defer close(problems)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := healthy(); err != nil {
					problems <- err
				}
			}
		}
	}()
	res := pingLoss(t, r.vm, "192.0.2.100", 600, func() {
		if err := r.host.agent.Kill(); err != nil {
			t.Fatal(err)
		}
		r.host.startAgent()
	})
	time.Sleep(4 * time.Second) // past OVS's 3 s timeout after the restart
	close(stop)
	for err := range problems {
		t.Errorf("during the restart: %v", err)
	}
	t.Logf("agent SIGKILL and restart under a 10 ms ping: %d of %d lost", res.Sent-res.Received, res.Sent)
	if res.Received != res.Sent {
		t.Errorf("%d of %d pings lost across the restart", res.Sent-res.Received, res.Sent)
	}
	if got := portChannel(t, r.host).System; got != system {
		t.Errorf("LACP system ID changed across the restart: %s -> %s", system, got)
	}
	if n := bundled(t, r.host); n != 2 {
		t.Errorf("%d members bundled after the restart, want 2", n)
	}
}
