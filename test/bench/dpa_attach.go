package main

// -dpa, part 3: port attach latency, request to forwarding. A VM
// namespace vm1 (192.0.2.1) sits behind tap1; for every attach a new
// veth tapN is made with its VM end in vm2 (192.0.2.100, a new MAC), a
// ping from vm2 to vm1 every 2 ms is already running into the void, and
// the clock starts at the attach request through the agent's API (what
// vemctl port attach sends); it stops when that ping exits on its first
// reply. Static neighbour entries on both sides keep ARP out of it. The
// port is then detached and its veth deleted.
//
// Three variants in one run: the agent standalone (its file, the
// baseline), the agent in VSM mode attached to a real VSM (vsm run, in
// its own namespace over a management link), and the same agent headless
// once the VSM is killed.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
)

const (
	attachProbeAddr = "192.0.2.100"
	attachVSMAddr   = "203.0.113.1"
	attachHostMgmt  = "203.0.113.2"
	attachVSMListen = attachVSMAddr + ":7443"
)

// attachRig is part 3's topology.
type attachRig struct {
	s                         *session
	host, sw, vsmNS, vm1, vm2 *topo.NS
	seq                       int // tapN numbering across variants
}

// attachSample is one attach: request to the first ping answered, and
// request to the API's answer.
type attachSample struct{ forwarding, api time.Duration }

func runAttach(_ context.Context, agentBin string, n int) ([]dpaRow, []string, error) {
	if err := requireRoot("ip", "ping"); err != nil {
		return nil, nil, err
	}
	s, err := openSession("vem-bench-dpa", "vemdpa", agentBin)
	if err != nil {
		return nil, nil, err
	}
	r := &attachRig{s: s}
	var instances []string
	defer s.close(func() []string { return leftBehind(s.tp, instances...) })
	if err := r.build(); err != nil {
		return nil, nil, err
	}

	var rows []dpaRow
	var notes []string
	add := func(what string, xs []attachSample, load string) {
		f, a := spreadOf(collect(xs, func(x attachSample) float64 { return ms(x.forwarding) })), spreadOf(collect(xs, func(x attachSample) float64 { return ms(x.api) }))
		fmt.Printf("attach %s: forwarding %v; API answered %v (load %s)\n", what, f, a, load)
		rows = append(rows, dpaRow{"port attach → forwarding, " + what, msShort(f.p50), msShort(f.p99), "max " + msShort(f.max), "p99 < 50 ms"})
		notes = append(notes, fmt.Sprintf("attach %s: the API answered in p50 %s p99 %s; load %s", what, msShort(a.p50), msShort(a.p99), load))
	}

	// Standalone: the baseline.
	inst := fmt.Sprintf("benchsa%d", os.Getpid())
	instances = append(instances, inst)
	sa, err := r.startAgent(inst, "")
	if err != nil {
		return nil, nil, err
	}
	xs, err := r.measure(sa, n)
	load := loadAverage()
	if err := errors.Join(err, sa.stop()); err != nil {
		return nil, nil, fmt.Errorf("standalone: %w", err)
	}
	add("standalone agent (baseline)", xs, load)

	// VSM mode, attached.
	v, err := r.startVSM()
	if err != nil {
		return nil, nil, err
	}
	inst = fmt.Sprintf("benchvsm%d", os.Getpid())
	instances = append(instances, inst)
	vsmSection := fmt.Sprintf("vsm:\n  domain: 100\n  addresses: [%s]\n  headlessAfter: 2s\n  tls: {ca: %s, cert: %s, key: %s}\n",
		attachVSMListen, v.file("ca.pem"), v.file("bench.pem"), v.file("bench-key.pem"))
	ag, err := r.startAgent(inst, vsmSection)
	if err != nil {
		return nil, nil, err
	}
	defer ag.stop()
	if err := ag.waitDPA(r.s.ctx, "attached", 20*time.Second); err != nil {
		return nil, nil, fmt.Errorf("%w\nvsm: %s", err, lastLines(v.proc.Output(), 20))
	}
	if xs, err = r.measure(ag, n); err != nil {
		return nil, nil, fmt.Errorf("attached: %w", err)
	}
	add("VSM mode, attached", xs, loadAverage())

	// Headless.
	if err := v.proc.Kill(); err != nil {
		return nil, nil, err
	}
	killed := time.Now()
	if err := ag.waitDPA(r.s.ctx, "headless", 20*time.Second); err != nil {
		return nil, nil, err
	}
	notes = append(notes, fmt.Sprintf("headless %v after the VSM was killed (headlessAfter 2s)", durText(time.Since(killed))))
	if xs, err = r.measure(ag, n); err != nil {
		return nil, nil, fmt.Errorf("headless: %w", err)
	}
	add("VSM mode, headless", xs, loadAverage())
	return rows, notes, ag.stop()
}

// build makes the namespaces: host with uplink0 to sw, mgmt0 to the VSM's
// namespace, tap1 to vm1; vm2 gets a veth per attach.
func (r *attachRig) build() error {
	tp := r.s.tp
	var err error
	for _, p := range []struct {
		ns   **topo.NS
		name string
	}{{&r.host, "host"}, {&r.sw, "sw"}, {&r.vsmNS, "vsm"}, {&r.vm1, "vm1"}, {&r.vm2, "vm2"}} {
		if *p.ns, err = tp.NS(p.name); err != nil {
			return err
		}
	}
	steps := []func() error{
		func() error { return tp.Veth(r.host, "uplink0", r.sw, "sw0") },
		func() error { return tp.Veth(r.vsmNS, "mgmt0", r.host, "mgmt0") },
		func() error { return r.vsmNS.AddAddr("mgmt0", attachVSMAddr+"/24") },
		func() error { return r.host.AddAddr("mgmt0", attachHostMgmt+"/24") },
		func() error { return tp.Veth(r.host, "tap1", r.vm1, "eth0", topo.MACs(nil, vm1MAC)) },
		func() error { return r.vm1.AddAddr("eth0", vm1Addr+"/24") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// benchAgent is a running agent of part 3.
type benchAgent struct {
	p      *topo.Proc
	client *api.Client
	stopFn func() error
}

func (a *benchAgent) stop() error {
	if a.stopFn == nil {
		return nil
	}
	f := a.stopFn
	a.stopFn = nil
	return f()
}

// startAgent starts an agent in host; vsmSection "" runs it standalone
// with the segment and profile in its file, else in VSM mode. tap1 is
// attached (through the API) and vm1 answers through it.
func (r *attachRig) startAgent(instance, vsmSection string) (*benchAgent, error) {
	stateDir := filepath.Join(r.s.dir, instance)
	cfgFile := filepath.Join(stateDir, "vem.yaml")
	socket := filepath.Join(stateDir, "vem.sock")
	cfg := fmt.Sprintf("host: bench\ninstance: %s\nsocket: %s\nuplink: uplink0\n", instance, socket)
	if vsmSection == "" {
		cfg += "segments: [{name: web, type: vlan, vlan: 100}]\nprofiles: [{name: default, portSecurity: true}]\n"
	} else {
		cfg += vsmSection
	}
	if err := writeAgentConfig(r.s.tp, r.s.agentBin, "bench", instance, stateDir, cfgFile, cfg); err != nil {
		return nil, err
	}
	p, err := startAgentIn(r.host, r.s.agentBin, cfgFile, stateDir)
	if err != nil {
		return nil, err
	}
	a := &benchAgent{p: p, client: api.NewClient(socket)}
	a.stopFn = func() error { return errors.Join(p.Stop(), uninstallAgent(r.s.agentBin, instance, stateDir)) }
	if err := waitLog(r.s.ctx, p, "agent running", 1, 30*time.Second); err != nil {
		return nil, errors.Join(err, a.stop())
	}
	return a, nil
}

// waitDPA waits until the agent's DPA is in state.
func (a *benchAgent) waitDPA(ctx context.Context, state string, limit time.Duration) error {
	var last api.DPA
	err := poll(ctx, limit, func() (bool, error) {
		d, err := a.client.DPA(ctx)
		last = d
		return err == nil && d.State == state && (state != "attached" || d.Generation > 0), exited(a.p, "vem-agent")
	})
	if err != nil {
		return fmt.Errorf("DPA %s: %w (last %+v)\n%s", state, err, last, lastLines(a.p.Output(), 20))
	}
	return nil
}

// measure attaches n new ports one after another and times each from
// the request to the first ping answered through it.
func (r *attachRig) measure(a *benchAgent, n int) ([]attachSample, error) {
	ctx := r.s.ctx
	// vm1 behind tap1 first (a hook may call twice: attach is idempotent).
	if err := a.client.Attach(ctx, spec.Port{Interface: "tap1", MAC: vm1MAC.String(), Segment: "web", Profile: "default"}); err != nil {
		return nil, fmt.Errorf("attach tap1: %w", err)
	}
	var out []attachSample
	for range n {
		x, err := r.attachOnce(ctx, a)
		if err != nil {
			return out, fmt.Errorf("attach %d: %w\nagent: %s", len(out)+1, err, lastLines(a.p.Output(), 15))
		}
		out = append(out, x)
	}
	return out, nil
}

func (r *attachRig) attachOnce(ctx context.Context, a *benchAgent) (attachSample, error) {
	r.seq++
	tap := fmt.Sprintf("tap%d", 100+r.seq)
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x01, byte(r.seq >> 8), byte(r.seq)}
	var x attachSample
	if err := r.s.tp.Veth(r.host, tap, r.vm2, "e0", topo.MACs(nil, mac)); err != nil {
		return x, err
	}
	defer func() { _, _ = r.host.Run(context.Background(), "ip", "link", "del", tap) }()
	if err := r.vm2.AddAddr("e0", attachProbeAddr+"/24"); err != nil {
		return x, err
	}
	if _, err := r.vm2.Run(ctx, "ip", "neigh", "replace", vm1Addr, "lladdr", vm1MAC.String(), "dev", "e0", "nud", "permanent"); err != nil {
		return x, err
	}
	if _, err := r.vm1.Run(ctx, "ip", "neigh", "replace", attachProbeAddr, "lladdr", mac.String(), "dev", "eth0", "nud", "permanent"); err != nil {
		return x, err
	}
	p, err := r.vm2.Start("ping", "-n", "-q", "-c", "1", "-w", "5", "-i", "0.002", vm1Addr)
	if err != nil {
		return x, err
	}
	replied := make(chan time.Time, 1)
	go func() { <-p.Done(); replied <- time.Now() }()
	time.Sleep(30 * time.Millisecond) // ping is up and sending into the void
	select {
	case <-p.Done():
		return x, fmt.Errorf("ping answered before the attach (through %s unattached?): %s", tap, p.Output())
	default:
	}
	start := time.Now()
	if err := a.client.Attach(ctx, spec.Port{Interface: tap, MAC: mac.String(), Segment: "web", Profile: "default"}); err != nil {
		_ = p.Kill()
		return x, err
	}
	x.api = time.Since(start)
	end := <-replied
	if err := p.Wait(); err != nil {
		return x, fmt.Errorf("no ping answered through %s within 5 s: %v: %s", tap, err, p.Output())
	}
	x.forwarding = end.Sub(start)
	if err := a.client.Detach(ctx, tap); err != nil {
		return x, fmt.Errorf("detach %s: %w", tap, err)
	}
	return x, nil
}

// vsmProc is the real VSM of part 3.
type vsmProc struct {
	proc *topo.Proc
	pki  string
}

func (v *vsmProc) file(name string) string { return filepath.Join(v.pki, name) }

// startVSM builds ./cmd/vsm, makes its credentials (vsm-a, host bench),
// runs it standalone in its namespace and applies the network: vlan
// segment web and profile default.
func (r *attachRig) startVSM() (*vsmProc, error) {
	dir := filepath.Join(r.s.dir, "vsm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "vsm")
	if out, err := exec.CommandContext(r.s.ctx, "go", "build", "-o", bin, "github.com/vem-switch/vem/cmd/vsm").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build vsm: %v\n%s", err, out)
	}
	v := &vsmProc{pki: filepath.Join(dir, "pki")}
	if out, err := exec.Command(bin, "certs", "init", "--dir", v.pki, "--vsm", "vsm-a", "--host", "bench").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vsm certs init: %v\n%s", err, out)
	}
	cfgFile := filepath.Join(dir, "vsm.yaml")
	cfg := fmt.Sprintf("name: vsm-a\ndomain: 100\nrole: standalone\nlisten: %s\napi: 127.0.0.1:8443\ndataDir: %s\ntls: {ca: %s, cert: %s, key: %s}\n",
		attachVSMListen, filepath.Join(dir, "data"), v.file("ca.pem"), v.file("vsm-a.pem"), v.file("vsm-a-key.pem"))
	network := filepath.Join(dir, "network.yaml")
	if err := errors.Join(os.WriteFile(cfgFile, []byte(cfg), 0o600),
		os.WriteFile(network, []byte("segments:\n  - {name: web, type: vlan, vlan: 100}\nprofiles:\n  - {name: default, portSecurity: true}\n"), 0o600)); err != nil {
		return nil, err
	}
	p, err := r.vsmNS.Start(bin, "run", "--config", cfgFile)
	if err != nil {
		return nil, err
	}
	v.proc = p
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(r.s.ctx, 10*time.Second)
		defer cancel()
		return r.vsmNS.Run(ctx, append([]string{bin}, append(args, "--config", cfgFile)...)...)
	}
	err = poll(r.s.ctx, 15*time.Second, func() (bool, error) {
		_, err := run("show", "module")
		return err == nil, exited(p, "vsm")
	})
	if err != nil {
		return nil, fmt.Errorf("vsm API: %w\n%s", err, p.Output())
	}
	if out, err := run("apply", "-f", network); err != nil {
		return nil, fmt.Errorf("vsm apply: %v\n%s", err, out)
	}
	return v, nil
}
