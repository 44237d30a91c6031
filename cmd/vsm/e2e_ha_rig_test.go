package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
	"github.com/vem-switch/vem/vsm/ha"
)

// haRig is a VSM pair of real `vsm run` processes, each in its own
// network namespace, and VEMs (the real DPA, in the test process) in a
// third one, hv:
//
//	control:    va ctl0 192.0.2.1/24      -- vb ctl0 192.0.2.2/24
//	management: va mgt0 198.51.100.1/24   -- vb mgt0 198.51.100.2/24
//	VEMs:       va acc0 203.0.113.1/28    -- hv to-a 203.0.113.2+i/28  (vsm-a listens on .1:7443)
//	            vb acc0 203.0.113.17/28   -- hv to-b 203.0.113.18+i/28 (vsm-b listens on .17:7443)
//
// so each path can be cut alone (its veth set down), and each VEM i,
// which has its own source address towards each VSM, can be cut from one
// VSM alone (a blackhole route in that VSM's namespace). The DPA's gRPC
// sessions go through a unix socket per VEM and VSM that the test
// forwards to a TCP connection opened inside hv from the VEM's address.
type haRig struct {
	t    *testing.T
	dir  string
	sock string // unix socket directory (short paths)
	pki  string
	tp   *topo.Topology
	hv   *topo.NS
	a, b *haVSM
	vems []*haVEM

	mu    sync.Mutex
	acked []string // segments whose apply the active acknowledged
}

// haVSM is one supervisor of the rig.
type haVSM struct {
	r      *haRig
	name   string
	role   string
	ns     *topo.NS
	bin    string
	cfg    string
	listen string
	prefix string // this VSM's side of the VEM link, for the VEMs' addresses
	proc   *topo.Proc
}

var (
	haBuildOnce sync.Once
	haBin       string
	haBinErr    error
	haBinDir    string // removed by TestMain
)

// TestMain removes the vsm binary the HA tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if haBinDir != "" {
		_ = os.RemoveAll(haBinDir)
	}
	os.Exit(code)
}

// haBinary builds the vsm binary once for the package's HA tests.
func haBinary(t *testing.T, ldflags string) string {
	t.Helper()
	if ldflags != "" {
		return buildVSMWith(t, ldflags)
	}
	haBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vsm-ha-bin")
		if err != nil {
			haBinErr = err
			return
		}
		haBinDir = dir
		haBin = filepath.Join(dir, "vsm")
		if out, err := exec.Command("go", "build", "-o", haBin, ".").CombinedOutput(); err != nil {
			haBinErr = fmt.Errorf("build vsm: %v\n%s", err, out)
		}
	})
	if haBinErr != nil {
		t.Fatal(haBinErr)
	}
	return haBin
}

// buildVSMWith builds vsm with -ldflags into a test directory.
func buildVSMWith(t *testing.T, ldflags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vsm")
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build vsm with %s: %v\n%s", ldflags, err, out)
	}
	return bin
}

// newHARig builds the namespaces, credentials and VSM files; nothing is
// started. extra is appended to both VSM files.
func newHARig(t *testing.T) *haRig {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the vsm binary in network namespaces")
	}
	topo.RequireRoot(t)
	bin := haBinary(t, "")
	r := &haRig{t: t, dir: t.TempDir(), tp: topo.ForTest(t)}
	sock, err := os.MkdirTemp("", "ha")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sock) })
	r.sock = sock
	r.pki = filepath.Join(r.dir, "pki")
	if err := protocol.GenerateDevPKI(r.pki, []string{"vsm-a", "vsm-b", "vsm-c"}, []string{"hv1", "hv2", "hv3"}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	va, err := r.tp.NS("va")
	must(err)
	vb, err := r.tp.NS("vb")
	must(err)
	r.hv, err = r.tp.NS("hv")
	must(err)
	for _, l := range []struct{ name, a, b string }{{"ctl0", "192.0.2.1/24", "192.0.2.2/24"}, {"mgt0", "198.51.100.1/24", "198.51.100.2/24"}} {
		must(r.tp.Veth(va, l.name, vb, l.name))
		must(va.AddAddr(l.name, l.a))
		must(vb.AddAddr(l.name, l.b))
	}
	for _, s := range []struct {
		ns     *topo.NS
		hvSide string
		base   int
	}{{va, "to-a", 0}, {vb, "to-b", 16}} {
		must(r.tp.Veth(s.ns, "acc0", r.hv, s.hvSide))
		must(s.ns.AddAddr("acc0", fmt.Sprintf("203.0.113.%d/28", s.base+1)))
		for i := 0; i < 3; i++ {
			must(r.hv.AddAddr(s.hvSide, fmt.Sprintf("203.0.113.%d/28", s.base+2+i)))
		}
		// A VEM cut by a blackhole route is cut both ways: what it sends
		// fails the strict reverse-path check.
		must(s.ns.SetSysctl("net.ipv4.conf.acc0.rp_filter", "1"))
		must(s.ns.SetSysctl("net.ipv4.conf.all.rp_filter", "1"))
	}
	r.a = r.vsm("vsm-a", "primary", va, bin, "1", "2", "203.0.113.1")
	r.b = r.vsm("vsm-b", "secondary", vb, bin, "2", "1", "203.0.113.17")
	return r
}

// vsm writes a VSM file of the pair: heartbeatLossInterval at its 6 s
// minimum.
func (r *haRig) vsm(name, role string, ns *topo.NS, bin, self, peer, listen string) *haVSM {
	s := &haVSM{r: r, name: name, role: role, ns: ns, bin: bin, listen: listen + ":7443", prefix: listen}
	s.cfg = writeFile(r.t, r.dir, name+".yaml", fmt.Sprintf(`name: %s
domain: 100
role: %s
listen: %s
api: 127.0.0.1:8443
control: {address: "192.0.2.%s:7444", peer: "192.0.2.%s:7444"}
management: {address: "198.51.100.%s:7445", peer: "198.51.100.%s:7445"}
heartbeatLossInterval: 6s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, name, role, s.listen, self, peer, self, peer, filepath.Join(r.dir, name+"-data"), r.file("ca.pem"),
		r.file(name+".pem"), r.file(name+"-key.pem")))
	return s
}

func (r *haRig) file(name string) string { return filepath.Join(r.pki, name) }

// start runs `vsm run` in the VSM's namespace; it does not wait.
func (s *haVSM) start() {
	s.r.t.Helper()
	p, err := s.ns.Start(s.bin, "run", "--config", s.cfg)
	if err != nil {
		s.r.t.Fatal(err)
	}
	s.proc = p
}

// kill sends SIGKILL (by PID) and waits for the process to be reaped.
func (s *haVSM) kill() {
	s.r.t.Helper()
	if err := s.proc.Kill(); err != nil {
		s.r.t.Fatal(err)
	}
}

// stop sends SIGTERM (by PID) and waits.
func (s *haVSM) stop() {
	s.r.t.Helper()
	if err := s.proc.Stop(); err != nil {
		s.r.t.Logf("%s stop: %v", s.name, err)
	}
}

// run runs the vsm CLI in the VSM's namespace against its file.
func (s *haVSM) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.ns.Run(ctx, append([]string{s.bin}, append(args, "--config", s.cfg, "--timeout", "5s")...)...)
}

// status reads `vsm show system redundancy status -o json`.
func (s *haVSM) status() (ha.Status, error) {
	out, err := s.run("show", "system", "redundancy", "status", "-o", "json")
	if err != nil {
		return ha.Status{}, fmt.Errorf("%w: %s", err, out)
	}
	var st ha.Status
	return st, json.Unmarshal([]byte(out), &st)
}

// wait polls the status until ok holds, failing the test after d.
func (s *haVSM) wait(d time.Duration, what string, ok func(ha.Status) bool) ha.Status {
	s.r.t.Helper()
	var st ha.Status
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, err = s.status(); err == nil && ok(st) {
			return st
		}
	}
	s.r.t.Fatalf("%s: not %s within %v: %+v, %v\n%s", s.name, what, d, st, err, s.output())
	return st
}

func (s *haVSM) output() string {
	if s.proc == nil {
		return "(not started)"
	}
	out := s.proc.Output()
	if len(out) > 6000 {
		out = "...\n" + out[len(out)-6000:]
	}
	return out
}

// Predicates of redundancy states.
func haActiveWithHAStandby(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby }
func haStandbyStable(s ha.Status) bool       { return s.InternalState == ha.InternalHAStandby }
func haActive(s ha.Status) bool              { return s.State == ha.Active }

// waitPaired waits until standby is an HA standby and then active is
// active with an HA standby. In that order: a standby that has just
// restarted was heard initializing by the active before it became a
// standby, so the active's view is then of the new process, not the
// last heartbeat of the one that stopped.
func (r *haRig) waitPaired(active, standby *haVSM, d time.Duration) ha.Status {
	r.t.Helper()
	standby.wait(d, "HA standby", haStandbyStable)
	return active.wait(d, "active with an HA standby", haActiveWithHAStandby)
}

// apply creates segment name (VLAN vlan) on s; an answer without error
// is an acknowledgement, recorded in the rig's ledger.
func (r *haRig) apply(s *haVSM, name string, vlan int) {
	r.t.Helper()
	if err := r.tryApply(s, name, vlan); err != nil {
		r.t.Fatalf("%s: apply %s: %v", s.name, name, err)
	}
}

// tryApply is apply that returns the refusal.
func (r *haRig) tryApply(s *haVSM, name string, vlan int) error {
	f := writeFile(r.t, r.dir, "seg-"+name+".yaml", fmt.Sprintf("segments:\n  - {name: %s, type: vlan, vlan: %d}\n", name, vlan))
	out, err := s.run("apply", "-f", f)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	r.mu.Lock()
	r.acked = append(r.acked, name)
	r.mu.Unlock()
	return nil
}

// segments lists the segment names s holds.
func (s *haVSM) segments() ([]string, error) {
	out, err := s.run("show", "segments", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	var resp struct {
		Segments []spec.Segment `json:"segments"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, err
	}
	var names []string
	for _, sg := range resp.Segments {
		names = append(names, sg.Name)
	}
	return names, nil
}

// checkAcked checks that every VSM given holds every acknowledged change
// (a standby once it has resynchronised: polled a few seconds).
func (r *haRig) checkAcked(vsms ...*haVSM) {
	r.t.Helper()
	r.mu.Lock()
	want := slices.Clone(r.acked)
	r.mu.Unlock()
	for _, s := range vsms {
		var have []string
		var err error
		var missing []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			have, err = s.segments()
			missing = nil
			for _, w := range want {
				if !slices.Contains(have, w) {
					missing = append(missing, w)
				}
			}
			if err == nil && len(missing) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || len(missing) > 0 {
			r.t.Fatalf("%s lost acknowledged changes: missing %v of %v (holds %v, %v)\n%s", s.name, missing, want, have, err, s.output())
		}
	}
	r.t.Logf("all %d acknowledged changes present on %s", len(want), names(vsms))
}

func names(vsms []*haVSM) string {
	var n []string
	for _, s := range vsms {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

// setPath sets a pair path (ctl0 or mgt0) down or up in s's namespace.
func (s *haVSM) setPath(link string, up bool) {
	s.r.t.Helper()
	set := s.ns.SetDown
	if up {
		set = s.ns.SetUp
	}
	if err := set(link); err != nil {
		s.r.t.Fatal(err)
	}
}

// cutVEM cuts VEM i off s (both ways) until the returned heal is called.
func (s *haVSM) cutVEM(i int) (heal func()) {
	s.r.t.Helper()
	addr := s.r.vems[i].addr(s)
	route := func(op string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := s.ns.RunNetOnly(ctx, "ip", "route", op, "blackhole", addr+"/32")
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := route("add"); err != nil {
		s.r.t.Fatal(err)
	}
	healed := false
	heal = func() {
		if !healed {
			healed = true
			if err := route("del"); err != nil {
				s.r.t.Error(err)
			}
		}
	}
	s.r.t.Cleanup(heal)
	return heal
}

// haVEM is a VEM test client: the real DPA (package dpa, what vem-agent
// runs) with a recording Applier, its sessions over real TCP from hv.
type haVEM struct {
	r    *haRig
	i    int
	host string
	d    *dpa.DPA
	app  *recordingApplier
}

// addr is VEM i's source address towards s.
func (v *haVEM) addr(s *haVSM) string {
	ip := net.ParseIP(s.prefix).To4()
	return fmt.Sprintf("%d.%d.%d.%d", ip[0], ip[1], ip[2], int(ip[3])+1+v.i)
}

// recordingApplier keeps the segments of the last configuration.
type recordingApplier struct {
	mu       sync.Mutex
	segments []string
}

func (a *recordingApplier) Apply(_ context.Context, sw *spec.Switch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.segments = a.segments[:0]
	for _, s := range sw.Segments {
		a.segments = append(a.segments, s.Name)
	}
	return nil
}

func (a *recordingApplier) SetRemoteMACs(context.Context, []headless.RemoteMAC) error { return nil }

func (a *recordingApplier) has(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.segments, name)
}

// startVEMs starts n VEMs (hv1..hvn) speaking version v (nil: the
// current one), each with sessions to both VSMs.
func (r *haRig) startVEMs(n int, v *protocol.Version) {
	r.t.Helper()
	for i, end := len(r.vems), len(r.vems)+n; i < end; i++ {
		host := fmt.Sprintf("hv%d", i+1)
		conf, err := protocol.ClientTLS(protocol.TLSFiles{CA: r.file("ca.pem"), Cert: r.file(host + ".pem"),
			Key: r.file(host + "-key.pem")}, protocol.KindVEM, protocol.KindVSM)
		if err != nil {
			r.t.Fatal(err)
		}
		vem := &haVEM{r: r, i: i, host: host, app: &recordingApplier{}}
		var addrs []string
		for _, s := range []*haVSM{r.a, r.b} {
			addrs = append(addrs, "unix://"+r.forward(vem.addr(s), s.listen))
		}
		d, err := dpa.New(dpa.Config{Addresses: addrs, Applier: vem.app,
			Dialer: dpa.ProtocolDialer{Config: protocol.ClientConfig{Domain: 100, TLS: conf, Version: v,
				Host: &spec.Switch{Host: host, Uplink: "eth0", VTEP: &spec.VTEP{Address: fmt.Sprintf("198.51.100.%d", 101+i)}}}},
			RedialMax: time.Second})
		if err != nil {
			r.t.Fatal(err)
		}
		vem.d = d
		r.vems = append(r.vems, vem)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		r.t.Cleanup(func() { cancel(); <-done })
	}
}

// forward listens on a unix socket and forwards each connection to dst
// over a TCP connection opened in hv from src.
func (r *haRig) forward(src, dst string) string {
	path := filepath.Join(r.sock, fmt.Sprintf("%s-%s.sock", src, dst))
	ln, err := net.Listen("unix", path)
	if err != nil {
		r.t.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	closed := false
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			_ = c.Close()
			return false
		}
		conns[c] = true
		return true
	}
	r.t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !track(c) {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				var tc net.Conn
				err := r.hv.Do(func() error {
					d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
					var err error
					tc, err = d.Dial("tcp", dst)
					return err
				})
				if err != nil || !track(tc) {
					return
				}
				defer func() { _ = tc.Close() }()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(tc, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, tc); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return path
}

// vemState is what the test checks of a VEM.
func (v *haVEM) status() dpa.Status { return v.d.Status() }

// waitVEMs waits until every VEM is attached to s (at an epoch of at
// least epoch), holding segment seg if not empty.
func (r *haRig) waitVEMs(d time.Duration, s *haVSM, epoch uint64, seg string, vems ...*haVEM) {
	r.t.Helper()
	if vems == nil {
		vems = r.vems
	}
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, v := range vems {
			st := v.status()
			if st.State != dpa.StateAttached || st.AttachedVSM != s.name || st.Epoch < epoch || seg != "" && !v.app.has(seg) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, v := range vems {
				r.t.Logf("%s: %+v", v.host, v.status())
			}
			r.t.Fatalf("VEMs not attached to %s (epoch >= %d, segment %q) within %v\n%s", s.name, epoch, seg, d, s.output())
		}
	}
}

// modules returns each VEM's module number.
func (r *haRig) modules() map[string]uint32 {
	m := map[string]uint32{}
	for _, v := range r.vems {
		m[v.host] = v.status().Module
	}
	return m
}

// checkNeverHeadless fails if any VEM but those of the hosts excepted
// ever went headless.
func (r *haRig) checkNeverHeadless(except ...string) {
	r.t.Helper()
	for _, v := range r.vems {
		st := v.status()
		if slices.Contains(except, v.host) {
			r.t.Logf("%s (cut from the VSM that won) went headless %d times, %d ms in all", v.host, st.Counters.HeadlessEntries, st.Counters.HeadlessMs)
			continue
		}
		if st.Counters.HeadlessEntries != 0 {
			r.t.Errorf("%s went headless %d times (%d ms): %+v", v.host, st.Counters.HeadlessEntries, st.Counters.HeadlessMs, st)
		}
	}
}
