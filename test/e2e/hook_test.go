package e2e

import (
	"context"
	"errors"
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

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
)

// The libvirt hook end to end: the real vem-hook binary, run as libvirt
// runs /etc/libvirt/hooks/qemu (four arguments, the domain XML on stdin, a
// cleared environment but for the settings), against a real agent whose
// "VM taps" are the veths of namespaces.

// buildHook builds vem-hook for the test as the Makefile does: static
// (CGO_ENABLED=0), since a binary libvirt runs at every domain operation
// should not spend a millisecond loading libc first.
func buildHook(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vem-hook")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/vem-hook")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build vem-hook: %v\n%s", err, out)
	}
	return bin
}

// hookRun is one invocation's outcome.
type hookRun struct {
	code   int
	stderr string
	stdout string
	took   time.Duration
}

// runHook runs the hook binary as libvirt does: DOMAIN OP SUBOP -, the XML
// on stdin; settings come from the environment (VEM_HOOK_CONFIG points
// at no file, so the host's /etc/vem/hook.conf plays no part). With ns,
// it runs in that network namespace, the agent's, as libvirt's hook runs
// in the host's (nsenter keeps the mount namespace).
func runHook(t testing.TB, ns *topo.NS, bin, socket, xml string, env []string, args ...string) hookRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if ns != nil {
		cmd = exec.Command("nsenter", append([]string{"--net=" + ns.Path(), bin}, args...)...)
	}
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "VEM_SOCKET=" + socket, "VEM_HOOK_CONFIG=" + os.DevNull}, env...)
	cmd.Stdin = strings.NewReader(xml)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := hookRun{stderr: stderr.String(), stdout: stdout.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run vem-hook: %v", err)
	}
	if r.stdout != "" {
		// libvirt takes the hook's stdout for a new domain XML at migrate
		// and restore.
		t.Errorf("vem-hook %v wrote to stdout: %q", args, r.stdout)
	}
	return r
}

// hookDomain is a domain XML as libvirt gives it to the hook at start
// (target devs named). Each VM's NIC is plugged one of two ways: ovsID
// set, a Neutron-style openvswitch virtualport with the segment in a vem
// metadata entry keyed by its interfaceid; unset, an ethernet interface
// with a metadata entry keyed by its MAC.
func hookDomain(name string, nics ...hookNIC) string {
	var meta, devs strings.Builder
	for _, n := range nics {
		ips := ""
		if n.vm.ip != "" {
			ips = fmt.Sprintf(" ips='%s'", n.vm.ip)
		}
		if n.ovsID != "" {
			fmt.Fprintf(&meta, "      <vem:port interfaceid='%s' segment='%s'%s/>\n", n.ovsID, n.vm.seg, ips)
			fmt.Fprintf(&devs, `    <interface type='bridge'>
      <mac address='%s'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='%s' profileid='%s'/>
      </virtualport>
      <target dev='%s'/>
      <model type='virtio'/>
    </interface>
`, n.vm.mac, n.ovsID, n.vm.prof, n.vm.tap)
			continue
		}
		fmt.Fprintf(&meta, "      <vem:port mac='%s' segment='%s' profile='%s'%s/>\n", n.vm.mac, n.vm.seg, n.vm.prof, ips)
		fmt.Fprintf(&devs, `    <interface type='ethernet'>
      <mac address='%s'/>
      <target dev='%s' managed='no'/>
      <model type='virtio'/>
    </interface>
`, n.vm.mac, n.vm.tap)
	}
	return fmt.Sprintf(`<domain type='kvm' id='7'>
  <name>%s</name>
  <uuid>6f1d3a52-0000-4000-8000-%012d</uuid>
  <metadata>
    <vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1">
%s    </vem:ports>
  </metadata>
  <memory unit='KiB'>65536</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
%s    <interface type='network'>
      <mac address='52:54:00:ff:ff:01'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`, name, len(name), meta.String(), devs.String())
}

type hookNIC struct {
	vm    *vm
	ovsID string
}

// apiPorts lists the agent's ports by interface.
func apiPorts(t testing.TB, socket string) map[string]api.Port {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := api.NewClient(socket).Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]api.Port{}
	for _, p := range ps {
		out[p.Interface] = p
	}
	return out
}

func TestHookAttachDetachAndAgentDown(t *testing.T) {
	h := newHost(t)
	bin := buildHook(t)
	vm6 := h.addVM("vm6", "hk6", "52:54:00:00:01:06", "192.0.2.6", "web", "default")
	vm7 := h.addVM("vm7", "hk7", "52:54:00:00:01:07", "192.0.2.7", "web", "open")
	web6 := hookDomain("web6", hookNIC{vm: vm6})
	web7 := hookDomain("web7", hookNIC{vm: vm7, ovsID: "7c0ffee0-0000-4000-8000-000000000007"})

	h.ping("vm6", vm7.ip, 1, false) // neither is a port yet
	for _, d := range []struct{ name, xml string }{{"web6", web6}, {"web7", web7}} {
		// The order libvirt calls a starting domain's hook in.
		for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"started", "begin"}} {
			r := runHook(t, h.host, bin, h.socket, d.xml, nil, d.name, op[0], op[1], "-")
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%s %s %s: exit %d: %s", d.name, op[0], op[1], r.code, r.stderr)
			}
		}
	}
	ports := apiPorts(t, h.socket)
	for _, v := range []*vm{vm6, vm7} {
		p, ok := ports[v.tap]
		if !ok || p.Source != "attached" || p.Segment != "web" || p.Profile != v.prof || p.MAC != v.mac.String() || p.State != api.PortUp {
			t.Fatalf("port %s after start: %+v (present %v)", v.tap, p, ok)
		}
	}
	h.ping("vm6", vm7.ip, 3, true)
	h.ping("vm1", vm6.ip, 3, true)
	h.ping("vm7", "192.0.2.2", 3, true)

	// Stopped: web6's port goes, web7's stays; release after it is quiet.
	if r := runHook(t, h.host, bin, h.socket, web6, nil, "web6", "stopped", "end", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("stopped: exit %d: %s", r.code, r.stderr)
	}
	if r := runHook(t, h.host, bin, h.socket, web6, nil, "web6", "release", "end", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("release: exit %d: %s", r.code, r.stderr)
	}
	ports = apiPorts(t, h.socket)
	if _, ok := ports[vm6.tap]; ok {
		t.Fatalf("%s still a port after stopped and release: %+v", vm6.tap, ports[vm6.tap])
	}
	out, err := h.vemctl("show", "ports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if s := portState(t, out, vm6.tap); s != "" {
		t.Fatalf("vemctl show ports still lists %s (%s)", vm6.tap, s)
	}
	h.ping("vm7", vm6.ip, 2, false)
	h.ping("vm1", vm6.ip, 2, false)
	h.ping("vm7", "192.0.2.1", 2, true)

	// A domain without vem ports never needs the agent, even down.
	plain := `<domain type='kvm'><name>plain</name><devices><interface type='network'><mac address='52:54:00:ff:ff:02'/><source network='default'/></interface></devices></domain>`

	// The agent down: the documented default fails the start with the
	// domain and interface named; "continue" lets it start, saying so.
	h.stopAgent()
	r := runHook(t, h.host, bin, h.socket, web6, nil, "web6", "start", "begin", "-")
	want := "vem-hook: domain web6: interface hk6: attach: vem-agent is not running"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "(agent-down policy fail)") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("start with the agent down: exit %d, stderr %q; want exit 1 and one line starting %q", r.code, r.stderr, want)
	}
	r = runHook(t, h.host, bin, h.socket, web6, []string{"VEM_HOOK_ON_AGENT_DOWN=continue"}, "web6", "start", "begin", "-")
	if r.code != 0 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "policy continue") {
		t.Fatalf("start with the agent down, policy continue: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"stopped", "end"}} {
		if r := runHook(t, h.host, bin, h.socket, plain, nil, "plain", op[0], op[1], "-"); r.code != 0 || r.stderr != "" {
			t.Fatalf("domain without vem ports, %s, agent down: exit %d: %s", op[0], r.code, r.stderr)
		}
	}
	// Stopping with the agent down: reported (libvirt logs it), status 1.
	r = runHook(t, h.host, bin, h.socket, web7, nil, "web7", "stopped", "end", "-")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "vem-hook: domain web7: interface hk7: detach: vem-agent is not running") {
		t.Fatalf("stopped with the agent down: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Logf("agent down: %s", strings.TrimSpace(r.stderr))

	// QEMU's exit deletes the tap; the agent, back up, keeps web7's port
	// (attached ports persist) as absent. At release libvirt's XML no
	// longer names the tap (seen with libvirtd 9.0): the hook finds the
	// port by MAC among the absent ones and detaches it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := h.host.Run(ctx, "ip", "link", "del", vm7.tap); err != nil {
		t.Fatalf("delete %s: %v: %s", vm7.tap, err, out)
	}
	h.startAgent()
	waitFor(t, 5*time.Second, vm7.tap+" absent", func() bool { return apiPorts(t, h.socket)[vm7.tap].State == api.PortAbsent })
	released := strings.Replace(web7, "<target dev='hk7'/>", "<target managed='yes'/>", 1)
	if released == web7 {
		t.Fatal("no target dev to remove")
	}
	if r := runHook(t, h.host, bin, h.socket, released, nil, "web7", "release", "end", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("release: exit %d: %s", r.code, r.stderr)
	}
	if p, ok := apiPorts(t, h.socket)[vm7.tap]; ok {
		t.Fatalf("%s still a port after release: %+v", vm7.tap, p)
	}
}

// TestHookRefusesBadDomains: a definition vem cannot honour fails the
// start with the reason, before anything is attached.
func TestHookRefusesBadDomains(t *testing.T) {
	h := newHost(t)
	bin := buildHook(t)
	vm6 := h.addVM("vm6", "hk6", "52:54:00:00:01:06", "192.0.2.6", "web", "default")
	good := hookDomain("web6", hookNIC{vm: vm6})
	for _, c := range []struct {
		name, xml, want string
	}{
		{"unknown segment", strings.Replace(good, "segment='web'", "segment='nosuch'", 1), `interface hk6: attach refused by vem-agent: attach hk6: invalid request: segment: no segment named "nosuch"`},
		{"entity expansion", `<!DOCTYPE d [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>` + good, "DTD"},
		{"huge", good + strings.Repeat(" ", 5<<20), "larger than"},
		{"two ports on one tap", hookDomain("web6", hookNIC{vm: vm6}, hookNIC{vm: &vm{tap: vm6.tap, mac: h.vms["vm1"].mac, seg: "web", prof: "open"}}), "both have target dev hk6"},
		{"no segment", strings.Replace(good, " segment='web'", "", 1), "no segment"},
	} {
		r := runHook(t, h.host, bin, h.socket, c.xml, nil, "web6", "start", "begin", "-")
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(r.stderr, "vem-hook: domain web6: ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", c.name, r.code, r.stderr, c.want)
		}
		if _, ok := apiPorts(t, h.socket)[vm6.tap]; ok {
			t.Fatalf("%s: %s attached", c.name, vm6.tap)
		}
	}
	h.ping("vm1", vm6.ip, 1, false)

	// An incoming migration: the destination checks the agent has the
	// segments and attaches nothing yet (start begin, next, does).
	if r := runHook(t, h.host, bin, h.socket, good, nil, "web6", "migrate", "begin", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("migrate: exit %d: %s", r.code, r.stderr)
	}
	r := runHook(t, h.host, bin, h.socket, strings.Replace(good, "segment='web'", "segment='nosuch'", 1), nil, "web6", "migrate", "begin", "-")
	if r.code != 1 || !strings.Contains(r.stderr, `vem-hook: domain web6: interface hk6: migrate: vem-agent has no segment "nosuch"`) {
		t.Fatalf("migrate to a host without the segment: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, ok := apiPorts(t, h.socket)[vm6.tap]; ok {
		t.Fatalf("migrate attached %s", vm6.tap)
	}
}

// TestHookAgentSlow: an agent that accepts and never answers holds the
// hook no longer than its timeout.
func TestHookAgentSlow(t *testing.T) {
	bin := buildHook(t)
	sock := filepath.Join(t.TempDir(), "slow.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	v := &vm{tap: "hk1", mac: net.HardwareAddr{0x52, 0x54, 0, 0, 1, 1}, seg: "web", prof: "default", ip: "192.0.2.11"}
	xml := hookDomain("slow1", hookNIC{vm: v})
	const timeout = 300 * time.Millisecond
	for _, op := range [][2]string{{"start", "begin"}, {"stopped", "end"}, {"migrate", "begin"}} {
		r := runHook(t, nil, bin, sock, xml, []string{"VEM_HOOK_TIMEOUT=" + timeout.String()}, "slow1", op[0], op[1], "-")
		if r.code != 1 || !strings.Contains(r.stderr, "vem-agent did not answer within 300ms") || !strings.HasPrefix(r.stderr, "vem-hook: domain slow1: interface hk1: ") {
			t.Errorf("%s with a silent agent: exit %d, stderr %q", op[0], r.code, r.stderr)
		}
		// The process start and the Go runtime come on top of the
		// timeout; on a loaded machine allow a second more.
		if r.took < timeout || r.took > timeout+time.Second {
			t.Errorf("%s with a silent agent returned after %v, timeout %v", op[0], r.took, timeout)
		}
		t.Logf("%s: returned after %v: %s", op[0], r.took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n < 3 {
		t.Errorf("the silent agent saw %d connections, want one a run", n)
	}
}

// TestHookHostileXML: what libvirt would never send, and what an
// attacker who can define domains might: each is refused with exit 1 and
// one line naming the domain and the problem, nothing is attached, and
// the agent is unharmed.
func TestHookHostileXML(t *testing.T) {
	h := newHost(t)
	bin := buildHook(t)
	vm6 := h.addVM("vm6", "hk6", "52:54:00:00:01:06", "192.0.2.6", "web", "default")
	good := hookDomain("web6", hookNIC{vm: vm6})
	body := good[strings.Index(good, "<name>"):]
	deep := strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100)
	for _, c := range []struct {
		name, domain, xml, want string
	}{
		{"external entity (XXE)", "web6", `<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain type='kvm'><description>&x;</description>` + body, "DTD"},
		{"billion laughs", "web6", `<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">` + strings.Repeat(`<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">`, 1) + `]>` + good, "DTD"},
		{"nested 100 deep", "web6", strings.Replace(good, "<devices>", "<devices>"+deep, 1), "nested deeper than 64"},
		{"processing instruction", "web6", strings.Replace(good, "<devices>", "<devices><?evil rm -rf /?>", 1), "processing instruction"},
		{"second root", "web6", good + "<domain type='kvm'><name>web6</name></domain>", "second root"},
		{"binary garbage", "web6", "\x00\xff\xfe\x01<domain>\x00", "refused"},
		{"not XML at all", "web6", "#!/bin/sh\nrm -rf /\n", "refused"},
		{"empty", "web6", "", "refused"},
		{"tap name with a path", "web6", strings.Replace(good, "dev='hk6'", "dev='../../etc'", 1), "not a valid interface name"},
		{"tap name too long", "web6", strings.Replace(good, "dev='hk6'", "dev='hk6aaaaaaaaaaaaaaaaa'", 1), "longer than 15 bytes"},
		{"unknown vem attribute", "web6", strings.Replace(good, "segment='web'", "segment='web' exec='reboot'", 1), "unknown attribute"},
		{"name that breaks lines", "web6\nvem-hook: all good", good, "names domain"},
	} {
		r := runHook(t, h.host, bin, h.socket, c.xml, nil, c.domain, "start", "begin", "-")
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(r.stderr, "vem-hook: domain ") || len(lines) != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line with %q", c.name, r.code, r.stderr, c.want)
		}
		t.Logf("%s: %s", c.name, strings.TrimSpace(r.stderr))
	}
	if p, ok := apiPorts(t, h.socket)[vm6.tap]; ok {
		t.Fatalf("a hostile domain attached %s: %+v", vm6.tap, p)
	}
	// The agent is unharmed: the good definition still attaches.
	if r := runHook(t, h.host, bin, h.socket, good, nil, "web6", "start", "begin", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("the good domain after the hostile ones: exit %d: %s", r.code, r.stderr)
	}
	h.ping("vm1", vm6.ip, 3, true)
}

// slowProxy listens on a new socket and relays each connection to
// target, holding the client's request for delay first: an agent that is
// slow to answer.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "slow.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				time.Sleep(delay)
				up, err := net.Dial("unix", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.UnixConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	return sock
}

// TestHookAgentSlowButInTime: an agent slower than usual but within the
// timeout attaches the ports; one slower than the timeout fails the start
// with the reason, and the stopped and release that libvirt runs after a
// failed start leave no port behind even if the attach landed late.
func TestHookAgentSlowButInTime(t *testing.T) {
	h := newHost(t)
	bin := buildHook(t)
	vm6 := h.addVM("vm6", "hk6", "52:54:00:00:01:06", "192.0.2.6", "web", "default")
	xml := hookDomain("web6", hookNIC{vm: vm6})
	const delay = 400 * time.Millisecond
	slow := slowProxy(t, h.socket, delay)

	r := runHook(t, h.host, bin, slow, xml, []string{"VEM_HOOK_TIMEOUT=3s"}, "web6", "start", "begin", "-")
	if r.code != 0 || r.stderr != "" || r.took < delay {
		t.Fatalf("start through an agent %v slow, timeout 3s: exit %d after %v: %s", delay, r.code, r.took, r.stderr)
	}
	if p := apiPorts(t, h.socket)[vm6.tap]; p.State != api.PortUp {
		t.Fatalf("%s after a slow start: %+v", vm6.tap, p)
	}
	h.ping("vm1", vm6.ip, 3, true)
	if r := runHook(t, h.host, bin, slow, xml, []string{"VEM_HOOK_TIMEOUT=3s"}, "web6", "stopped", "end", "-"); r.code != 0 || r.stderr != "" {
		t.Fatalf("stopped through the slow agent: exit %d: %s", r.code, r.stderr)
	}
	t.Logf("start through an agent %v slow returned after %v", delay, r.took.Round(time.Millisecond))

	r = runHook(t, h.host, bin, slow, xml, []string{"VEM_HOOK_TIMEOUT=150ms"}, "web6", "start", "begin", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "vem-agent did not answer within 150ms") || !strings.Contains(r.stderr, "(agent-down policy fail)") {
		t.Fatalf("start through an agent slower than the timeout: exit %d, stderr %q", r.code, r.stderr)
	}
	if r.took > 150*time.Millisecond+time.Second {
		t.Errorf("start with a 150ms timeout returned after %v", r.took)
	}
	t.Logf("start through an agent slower than its timeout returned after %v: %s", r.took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	// The proxy delivers the request after the hook gave up: the agent
	// attaches a port for a VM that did not start. libvirt then runs
	// stopped and release, which take it away.
	time.Sleep(delay + 200*time.Millisecond)
	for _, op := range [][2]string{{"stopped", "end"}, {"release", "end"}} {
		if r := runHook(t, h.host, bin, h.socket, xml, nil, "web6", op[0], op[1], "-"); r.code != 0 || r.stderr != "" {
			t.Fatalf("%s after the failed start: exit %d: %s", op[0], r.code, r.stderr)
		}
	}
	if p, ok := apiPorts(t, h.socket)[vm6.tap]; ok {
		t.Fatalf("%s left behind by a failed start: %+v", vm6.tap, p)
	}
}

// TestHookAgentCrashed: an agent killed without cleaning up leaves its
// socket file with nobody listening: the start fails (policy fail) and
// says so; with policy continue the VM starts.
func TestHookAgentCrashed(t *testing.T) {
	bin := buildHook(t)
	sock := filepath.Join(t.TempDir(), "dead.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the dead agent's socket file: %v", err)
	}
	v := &vm{tap: "hk1", mac: net.HardwareAddr{0x52, 0x54, 0, 0, 1, 1}, seg: "web", prof: "default", ip: "192.0.2.11"}
	xml := hookDomain("dead1", hookNIC{vm: v})
	r := runHook(t, nil, bin, sock, xml, nil, "dead1", "start", "begin", "-")
	want := "vem-hook: domain dead1: interface hk1: attach: vem-agent is not running (nothing is listening on " + sock + ")"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "(agent-down policy fail)") {
		t.Fatalf("start with a dead agent's socket: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	r = runHook(t, nil, bin, sock, xml, []string{"VEM_HOOK_ON_AGENT_DOWN=continue"}, "dead1", "start", "begin", "-")
	if r.code != 0 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "policy continue") {
		t.Fatalf("start with a dead agent's socket, policy continue: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runHook(t, nil, bin, sock, xml, nil, "dead1", "migrate", "begin", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "migrate: vem-agent is not running") {
		t.Fatalf("migrate to a host whose agent is dead: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestHookConcurrentStarts: twenty domains start at once, as libvirt runs
// their hooks in parallel: all attach and forward, and all detach.
func TestHookConcurrentStarts(t *testing.T) {
	h := newHost(t)
	bin := buildHook(t)
	const n = 20
	var vms []*vm
	var xmls []string
	for i := range n {
		v := h.addVM(fmt.Sprintf("c%d", i), fmt.Sprintf("hkc%d", i), fmt.Sprintf("52:54:00:00:02:%02x", i), fmt.Sprintf("192.0.2.%d", 100+i), "web", "default")
		vms = append(vms, v)
		nic := hookNIC{vm: v}
		if i%2 == 1 {
			nic.ovsID = fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", i)
		}
		xmls = append(xmls, hookDomain(fmt.Sprintf("conc%d", i), nic))
	}
	runAll := func(op, subOp string) []hookRun {
		res := make([]hookRun, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = runHook(t, h.host, bin, h.socket, xmls[i], nil, fmt.Sprintf("conc%d", i), op, subOp, "-")
			}()
		}
		wg.Wait()
		return res
	}
	var took []time.Duration
	for i, r := range runAll("start", "begin") {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("conc%d start: exit %d: %s", i, r.code, r.stderr)
		}
		took = append(took, r.took)
	}
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(took)
	t.Logf("%d concurrent starts: fastest %v, median %v, slowest %v", n, took[0].Round(time.Millisecond), took[n/2].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
	ports := apiPorts(t, h.socket)
	for _, v := range vms {
		if p, ok := ports[v.tap]; !ok || p.State != api.PortUp || p.MAC != v.mac.String() {
			t.Errorf("%s after concurrent starts: %+v (present %v)", v.tap, p, ok)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// Real packets: vm1 (a port of the file) reaches every one of them,
	// and the first reaches the last.
	for _, v := range vms {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := h.vms["vm1"].ns.Ping(ctx, v.ip, 1, 100*time.Millisecond)
		cancel()
		if err != nil || res.Received != 1 {
			// One retry: the first ping also resolves the address.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err = h.vms["vm1"].ns.Ping(ctx, v.ip, 2, 100*time.Millisecond)
			cancel()
			if err != nil || res.Received == 0 {
				t.Errorf("ping vm1 -> %s (%s): %v, %d replies", v.ip, v.tap, err, res.Received)
			}
		}
	}
	h.ping("c0", vms[n-1].ip, 3, true)

	for i, r := range runAll("stopped", "end") {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("conc%d stopped: exit %d: %s", i, r.code, r.stderr)
		}
	}
	ports = apiPorts(t, h.socket)
	for _, v := range vms {
		if _, ok := ports[v.tap]; ok {
			t.Errorf("%s still a port after stopped", v.tap)
		}
	}
	h.ping("c0", vms[n-1].ip, 2, false)
}

// BenchmarkHookLatency measures the hook from invocation to return with a
// real agent, per operation: start (attach one port), stopped (detach
// it), and start of a domain without vem ports (no agent call); then, for
// the agent's share, the same attach and detach through the API client
// alone. It reports p50 and p99 in milliseconds; it passes or fails on
// nothing.
//
//	go test -run='^$' -bench='^BenchmarkHookLatency$' -benchtime=200x ./test/e2e/
func BenchmarkHookLatency(b *testing.B) {
	topo.RequireRoot(b)
	if agentBin == "" {
		b.Fatal("vem-agent not built (TestMain)")
	}
	h := newBenchHost(b)
	bin := buildHook(b)
	xml := hookDomain("bench1", hookNIC{vm: h.vm})
	plain := `<domain type='kvm'><name>plain</name><devices><interface type='network'><mac address='52:54:00:ff:ff:02'/><source network='default'/></interface></devices></domain>`
	var start, stop, none []time.Duration
	b.ResetTimer()
	for range b.N {
		r := runHook(b, nil, bin, h.socket, xml, nil, "bench1", "start", "begin", "-")
		if r.code != 0 {
			b.Fatalf("start: exit %d: %s", r.code, r.stderr)
		}
		start = append(start, r.took)
		r = runHook(b, nil, bin, h.socket, xml, nil, "bench1", "stopped", "end", "-")
		if r.code != 0 {
			b.Fatalf("stopped: exit %d: %s", r.code, r.stderr)
		}
		stop = append(stop, r.took)
		r = runHook(b, nil, bin, h.socket, plain, nil, "plain", "start", "begin", "-")
		if r.code != 0 {
			b.Fatalf("plain start: exit %d: %s", r.code, r.stderr)
		}
		none = append(none, r.took)
	}
	b.StopTimer()
	// The agent's share: the same attach and detach straight through the
	// API client, without the hook process.
	c := api.NewClient(h.socket)
	req := spec.Port{Interface: h.vm.tap, MAC: h.vm.mac.String(), Segment: "web", Profile: "default", IPs: []string{h.vm.ip}}
	var apiAttach, apiDetach []time.Duration
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		err := c.Attach(ctx, req)
		t1 := time.Now()
		if err == nil {
			err = c.Detach(ctx, req.Interface)
		}
		t2 := time.Now()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		apiAttach, apiDetach = append(apiAttach, t1.Sub(t0)), append(apiDetach, t2.Sub(t1))
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"start", start}, {"stopped", stop}, {"novem", none}, {"api-attach", apiAttach}, {"api-detach", apiDetach}} {
		slices.Sort(m.d)
		p := func(q float64) float64 {
			return float64(m.d[min(len(m.d)-1, int(q*float64(len(m.d))))].Microseconds()) / 1000
		}
		b.ReportMetric(p(0.50), m.name+"-p50-ms")
		b.ReportMetric(p(0.99), m.name+"-p99-ms")
	}
}

// benchHost is one host namespace with the agent and one VM, for the
// benchmark (the test fixtures take a *testing.T).
type benchHost struct {
	socket string
	vm     *vm
}

func newBenchHost(b *testing.B) *benchHost {
	b.Helper()
	tp := topo.ForTest(b)
	host, err := tp.NS("host")
	if err != nil {
		b.Fatal(err)
	}
	v := newVMTB(b, tp, host, "vm1", "hkb1", "52:54:00:00:03:01", "192.0.2.1")
	v.seg, v.prof = "web", "default"
	dir := b.TempDir()
	instance := strings.ReplaceAll(host.Name(), "-", "_")
	sock := filepath.Join(dir, "vem.sock")
	cfg := filepath.Join(dir, "vem.yaml")
	b.Cleanup(func() {
		if out, err := exec.Command(agentBin, "--uninstall", "--instance", instance, "--state-dir", dir).CombinedOutput(); err != nil {
			b.Errorf("uninstall %s: %v: %s", instance, err, out)
		}
	})
	conf := fmt.Sprintf("host: hv1\ninstance: %s\nsocket: %s\nsegments:\n  - {name: web, type: local}\nprofiles:\n  - {name: default, portSecurity: true}\n", instance, sock)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := host.StartNetOnly(agentBin, "--config", cfg, "--state-dir", dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Stop(); err != nil {
			b.Logf("agent stop: %v", err)
		}
	})
	c := api.NewClient(sock)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("vem-agent not serving after 10s: %v\n%s", err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &benchHost{socket: sock, vm: v}
}

// newVMTB is newVM for a benchmark.
func newVMTB(b testing.TB, tp *topo.Topology, host *topo.NS, name, tap, mac, ip string) *vm {
	b.Helper()
	ns, err := tp.NS(name)
	if err != nil {
		b.Fatal(err)
	}
	hw, _ := net.ParseMAC(mac)
	if err := tp.Veth(host, tap, ns, "eth0", topo.MACs(nil, hw)); err != nil {
		b.Fatal(err)
	}
	if err := ns.AddAddr("eth0", ip+"/24"); err != nil {
		b.Fatal(err)
	}
	return &vm{ns: ns, tap: tap, mac: hw, ip: ip}
}
