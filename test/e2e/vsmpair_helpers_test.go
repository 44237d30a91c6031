package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
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
