package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/topo"
	"github.com/vem-switch/vem/vsm/ha"
)

// vsmNode is one supervisor of vsmTopology: its namespace hangs off the
// underlay router, so every hypervisor reaches it at listen.
//
//	vsm-a: va r-a 203.0.113.2/28 -- r 203.0.113.1    (listen 203.0.113.2:7443)
//	vsm-b: vb r-b 203.0.113.18/28 -- r 203.0.113.17  (listen 203.0.113.18:7443)
//	pair:  va/vb ctl0 192.0.2.1-2/24, mgt0 203.0.113.65-66/28
type vsmNode struct {
	t      *testing.T
	name   string
	ns     *topo.NS
	bin    string
	cfg    string
	listen string
	proc   *topo.Proc
}

// vsmTopology is the routed underlay of vxlan_test.go (hv1, hv2, hv3
// behind router r) with one or two VSMs reachable from the hypervisors.
type vsmTopology struct {
	*underlay
	pki  string
	vsms []*vsmNode
}

// newVSMTopology builds the vsm binary, makes the credentials (vsm-a,
// vsm-b, hv1, hv2) and the VSM namespaces; pair makes vsm-a the primary
// and vsm-b the secondary of a pair (control and management paths,
// heartbeatLossInterval 6s), else vsm-a alone is standalone. Nothing is
// started.
func newVSMTopology(t *testing.T, pair bool) *vsmTopology {
	t.Helper()
	u := newUnderlay(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "vsm")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/vsm").CombinedOutput(); err != nil {
		t.Fatalf("build vsm: %v\n%s", err, out)
	}
	v := &vsmTopology{underlay: u, pki: filepath.Join(dir, "pki")}
	if out, err := exec.Command(bin, "certs", "init", "--dir", v.pki, "--vsm", "vsm-a", "--vsm", "vsm-b",
		"--host", "hv1", "--host", "hv2").CombinedOutput(); err != nil {
		t.Fatalf("vsm certs init: %v\n%s", err, out)
	}
	n := 1
	if pair {
		n = 2
	}
	for i := 0; i < n; i++ {
		letter := string(rune('a' + i))
		ns, err := u.topo.NS("v" + letter)
		if err != nil {
			t.Fatal(err)
		}
		self, gw := fmt.Sprintf("203.0.113.%d", 16*i+2), fmt.Sprintf("203.0.113.%d", 16*i+1)
		for _, step := range []error{
			u.topo.Veth(ns, "up0", u.router, "r-"+letter),
			ns.AddAddr("up0", self+"/28"),
			u.router.AddAddr("r-"+letter, gw+"/28"),
			ns.AddRoute("default", gw),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		v.vsms = append(v.vsms, &vsmNode{t: t, name: "vsm-" + letter, ns: ns, bin: bin,
			cfg: filepath.Join(dir, "vsm-"+letter+".yaml"), listen: self + ":7443"})
	}
	if pair {
		a, b := v.vsms[0].ns, v.vsms[1].ns
		for _, l := range []struct{ name, a, b string }{{"ctl0", "192.0.2.1/24", "192.0.2.2/24"}, {"mgt0", "203.0.113.65/28", "203.0.113.66/28"}} {
			for _, step := range []error{u.topo.Veth(a, l.name, b, l.name), a.AddAddr(l.name, l.a), b.AddAddr(l.name, l.b)} {
				if step != nil {
					t.Fatal(step)
				}
			}
		}
	}
	for i, s := range v.vsms {
		cfg := fmt.Sprintf("name: %s\ndomain: 100\nlisten: %s\napi: 127.0.0.1:8443\ndataDir: %s\ntls: {ca: %s, cert: %s, key: %s}\n",
			s.name, s.listen, filepath.Join(dir, s.name+"-data"), v.file("ca.pem"), v.file(s.name+".pem"), v.file(s.name+"-key.pem"))
		if pair {
			self, peer := 1+i, 2-i
			role := []string{"primary", "secondary"}[i]
			cfg += fmt.Sprintf("role: %s\ncontrol: {address: \"192.0.2.%d:7444\", peer: \"192.0.2.%d:7444\"}\n"+
				"management: {address: \"203.0.113.%d:7445\", peer: \"203.0.113.%d:7445\"}\nheartbeatLossInterval: 6s\n",
				role, self, peer, 64+self, 64+peer)
		} else {
			cfg += "role: standalone\n"
		}
		if err := os.WriteFile(s.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *vsmTopology) file(name string) string { return filepath.Join(v.pki, name) }

// agentConfig is a VSM-mode agent file for host (hv1 or hv2): host facts
// only (the underlay uplink up0 and the VTEP), and every VSM's address.
func (v *vsmTopology) agentConfig(h *vemHost, host string) string {
	var addrs []string
	for _, s := range v.vsms {
		addrs = append(addrs, s.listen)
	}
	return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: up0
vtep: {address: %s}
vsm:
  domain: 100
  addresses: [%s]
  tls: {ca: %s, cert: %s, key: %s}
`, host, h.instance, h.socket, vteps[host], strings.Join(addrs, ", "), v.file("ca.pem"), v.file(host+".pem"), v.file(host+"-key.pem"))
}

// start runs `vsm run` in the node's namespace; it does not wait.
func (s *vsmNode) start() {
	s.t.Helper()
	p, err := s.ns.Start(s.bin, "run", "--config", s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = p
}

// run runs the vsm CLI in the node's namespace against its file.
func (s *vsmNode) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.ns.Run(ctx, append([]string{s.bin}, append(args, "--config", s.cfg)...)...)
}

// apply applies a network definition through the node's CLI.
func (s *vsmNode) apply(network string) {
	s.t.Helper()
	f := filepath.Join(s.t.TempDir(), "network.yaml")
	if err := os.WriteFile(f, []byte(network), 0o644); err != nil {
		s.t.Fatal(err)
	}
	var out string
	var err error
	// The API may still be coming up: a few tries, bounded.
	for i := 0; i < 50; i++ {
		if out, err = s.run("apply", "-f", f); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s: vsm apply: %v\n%s\n%s", s.name, err, out, s.proc.Output())
}

// attachPorts attaches VMs' vEths through vemctl (as the libvirt hook
// would) and waits for them to be up.
func attachPorts(t *testing.T, h *vemHost, vms ...*vm) {
	t.Helper()
	for _, m := range vms {
		if out, err := h.vemctl("port", "attach", "--interface", m.tap, "--mac", m.mac.String(),
			"--segment", m.seg, "--profile", m.prof); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	waitFor(t, 15*time.Second, h.ns.Name()+": ports up", func() bool {
		out, err := h.vemctl("show", "ports", "-o", "json")
		if err != nil {
			return false
		}
		for _, m := range vms {
			if portState(t, out, m.tap) != "up" {
				return false
			}
		}
		return true
	})
}

// vmOn makes a VM on a host namespace, in seg with prof.
func vmOn(t *testing.T, tp *topo.Topology, host *topo.NS, name, tap, mac, ip, seg, prof string) *vm {
	t.Helper()
	m := newVM(t, tp, host, name, tap, mac, ip)
	m.seg, m.prof = seg, prof
	return m
}

// pairedHosts is a running VSM pair (vsm-a active, vsm-b its HA
// standby) with pairNetwork applied, and agents on hv1 and hv2 attached
// to vsm-a with the VMs' ports up: web (VLAN 100) vm1 and vm2 on hv1,
// vm3 on hv2; blue (VXLAN 5001) vmA on hv1, vmB on hv2. extra are more
// VMs made but not attached (name, host, tap, MAC, IP, segment).
type pairedHosts struct {
	*vsmTopology
	a, b  *vsmNode
	hv1   *vemHost
	hv2   *vemHost
	vms   map[string]*vm
	epoch uint64 // vsm-a's at attach
}

// vmSpec is a VM for newPairedHosts.
type vmSpec struct{ name, host, tap, mac, ip, seg string }

// newPairedHosts builds and starts pairedHosts; agentExtra is appended to
// each agent's file under its vsm: section (e.g. "  headlessAfter: 3s\n").
func newPairedHosts(t *testing.T, agentExtra string, extra ...vmSpec) *pairedHosts {
	t.Helper()
	return newPairedHostsThen(t, agentExtra, nil, extra...)
}

// newPairedHostsThen is newPairedHosts with beforeAgents run once the
// VSMs are paired and the VMs made, before the agents start.
func newPairedHostsThen(t *testing.T, agentExtra string, beforeAgents func(*pairedHosts), extra ...vmSpec) *pairedHosts {
	t.Helper()
	v := newVSMTopology(t, true)
	p := &pairedHosts{vsmTopology: v, a: v.vsms[0], b: v.vsms[1], vms: map[string]*vm{}}
	p.a.start()
	p.b.start()
	st := p.a.waitRedundancy(20*time.Second, "active with an HA standby", func(s ha.Status) bool {
		return s.InternalState == ha.InternalActiveHAStandby
	})
	p.epoch = st.Epoch
	p.b.waitRedundancy(10*time.Second, "HA standby", func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })
	p.a.apply(pairNetwork)
	specs := append([]vmSpec{
		{"vm1", "hv1", "tap1", "52:54:00:00:10:01", "192.0.2.1", "web"},
		{"vm2", "hv1", "tap2", "52:54:00:00:10:02", "192.0.2.2", "web"},
		{"vmA", "hv1", "tap3", "52:54:00:00:10:03", "192.0.2.11", "blue"},
		{"vm3", "hv2", "tap1", "52:54:00:00:20:01", "192.0.2.3", "web"},
		{"vmB", "hv2", "tap3", "52:54:00:00:20:03", "192.0.2.12", "blue"},
	}, extra...)
	for _, s := range specs {
		p.vms[s.name] = vmOn(t, v.topo, v.hosts[s.host], s.name, s.tap, s.mac, s.ip, s.seg, "default")
	}
	if beforeAgents != nil {
		beforeAgents(p)
	}
	p.hv1, p.hv2 = newVemHost(t, v.topo, v.hosts["hv1"]), newVemHost(t, v.topo, v.hosts["hv2"])
	for i, h := range []*vemHost{p.hv1, p.hv2} {
		h.writeConfig(v.agentConfig(h, fmt.Sprintf("hv%d", i+1)) + agentExtra)
		h.startAgent()
	}
	for _, h := range []*vemHost{p.hv1, p.hv2} {
		waitFor(t, 15*time.Second, h.ns.Name()+" attached to vsm-a with web and blue", func() bool {
			d := dpaStatus(t, h)
			if d.State != "attached" || d.AttachedVSM != "vsm-a" {
				return false
			}
			out, err := h.vemctl("show", "segments")
			return err == nil && strings.Contains(out, "web") && strings.Contains(out, "blue")
		})
	}
	attachPorts(t, p.hv1, p.vms["vm1"], p.vms["vm2"], p.vms["vmA"])
	attachPorts(t, p.hv2, p.vms["vm3"], p.vms["vmB"])
	return p
}

// flow is a ping from a VM to an address.
type flow struct {
	from *vm
	dst  string
}

func (f flow) String() string { return f.from.ns.Name() + " -> " + f.dst }

// waitAnswering waits until every flow answers a ping: ARP resolved and
// the path proven before a count starts.
func waitAnswering(t *testing.T, d time.Duration, flows ...flow) {
	t.Helper()
	waitFor(t, d, "every flow answering", func() bool {
		for _, f := range flows {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := f.from.ns.Ping(ctx, f.dst, 1, 100*time.Millisecond)
			cancel()
			if err != nil || res.Received != 1 {
				return false
			}
		}
		return true
	})
}

// pinger is a ping that runs until stop: every interval, with each reply
// timestamped.
type pinger struct {
	f     flow
	proc  *topo.Proc
	start time.Time
}

// startPing starts pinging f every interval, without a count.
func startPing(t *testing.T, f flow, interval time.Duration) *pinger {
	t.Helper()
	p, err := f.from.ns.StartNetOnly("ping", "-n", "-D", "-W", "1",
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), f.dst)
	if err != nil {
		t.Fatal(err)
	}
	return &pinger{f: f, proc: p, start: time.Now()}
}

// stop interrupts the ping (SIGINT, by its PID: it prints its summary)
// and reports what went unanswered. The last request, sent at most an
// interval before the signal, may still be in flight: it is not counted
// as lost if it alone is missing at the end.
func (p *pinger) stop(t *testing.T) seqPing {
	t.Helper()
	if err := syscall.Kill(p.proc.Pid(), syscall.SIGINT); err != nil {
		t.Fatalf("interrupt ping %s: %v", p.f, err)
	}
	select {
	case <-p.proc.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("ping %s did not stop on SIGINT", p.f)
	}
	out := p.proc.Output()
	res, err := parsePingSummary(out)
	if err != nil {
		t.Fatalf("ping %s: %v", p.f, err)
	}
	r := seqPing{start: p.start, sent: res.Sent, received: res.Received, replied: map[int]time.Time{}}
	for _, m := range icmpSeq.FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt((m[2] + "000000")[:6], 10, 64)
		n, _ := strconv.Atoi(m[3])
		r.replied[n] = time.Unix(sec, us*1000)
	}
	if _, ok := r.replied[r.sent]; !ok && r.sent > 0 {
		r.sent-- // in flight at the signal
	}
	for i := 1; i <= r.sent; i++ {
		if _, ok := r.replied[i]; !ok {
			r.missing = append(r.missing, i)
		}
	}
	return r
}

// timedStatus is a DPA status and when it was read (the middle of the
// vemctl call).
type timedStatus struct {
	api.DPA
	at time.Time
}

// dpaStatusAt reads the DPA status and the time it stands for.
func dpaStatusAt(t *testing.T, h *vemHost) timedStatus {
	t.Helper()
	before := time.Now()
	d := dpaStatus(t, h)
	after := time.Now()
	return timedStatus{DPA: d, at: before.Add(after.Sub(before) / 2)}
}

// lastHeartbeat is when the agent last heard the named VSM, as its
// status reports it (zero if never).
func (s timedStatus) lastHeartbeat(name string) time.Time {
	for _, v := range s.VSMs {
		if v.Name == name && v.LastHeartbeatAgeMs >= 0 {
			return s.at.Add(-time.Duration(v.LastHeartbeatAgeMs) * time.Millisecond)
		}
	}
	return time.Time{}
}

// cutControl cuts a host namespace off every VSM (203.0.113.0/27) and
// leaves its data path alone: a blackhole route drops what it sends to
// them, and strict reverse-path filtering on its uplink what they send
// (the route back is the blackhole). heal undoes the route.
func cutControl(t *testing.T, ns *topo.NS) (heal func()) {
	t.Helper()
	return cutFrom(t, ns, "203.0.113.0/27")
}

// cutFrom is cutControl for the VSMs in prefix only: 203.0.113.0/28 is
// vsm-a, 203.0.113.16/28 vsm-b.
func cutFrom(t *testing.T, ns *topo.NS, prefix string) (heal func()) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if out, err := ns.RunNetOnly(ctx, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	if err := ns.SetSysctl("net.ipv4.conf.up0.rp_filter", "1"); err != nil {
		t.Fatal(err)
	}
	run("ip", "route", "add", "blackhole", prefix)
	return func() { run("ip", "route", "del", "blackhole", prefix) }
}

// vsmModule is a row of `vsm show module -o json`.
type vsmModule struct {
	Module int    `json:"module"`
	Host   string `json:"host"`
	Status string `json:"status"`
	Ports  int    `json:"ports"`
	VSM    string `json:"vsm"`
}

// module reads the node's module row for host.
func (s *vsmNode) module(host string) (vsmModule, bool) {
	out, err := s.run("show", "module", "-o", "json")
	if err != nil {
		return vsmModule{}, false
	}
	var mods []vsmModule
	if json.Unmarshal([]byte(out), &mods) != nil {
		return vsmModule{}, false
	}
	for _, m := range mods {
		if m.Host == host {
			return m, true
		}
	}
	return vsmModule{}, false
}
