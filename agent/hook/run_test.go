package hook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// fakeClient records calls and answers from its tables.
type fakeClient struct {
	mu       sync.Mutex
	calls    []string
	ports    map[string]spec.Port
	segments []string
	// attachErr fails the attach of an interface; down fails every call
	// as an unreachable agent does; hang blocks until the context ends.
	attachErr map[string]error
	// absent marks ports whose interface is gone.
	absent map[string]bool
	down   bool
	hang   bool
}

func newFake() *fakeClient {
	return &fakeClient{ports: map[string]spec.Port{}, segments: []string{"web", "db"}, attachErr: map[string]error{}, absent: map[string]bool{}}
}

func (f *fakeClient) wait(ctx context.Context) error {
	if f.hang {
		<-ctx.Done()
		return fmt.Errorf("POST /v1/ports: %w", ctx.Err())
	}
	if f.down {
		return fmt.Errorf("%w (no socket at /run/vem/x.sock)", api.ErrNotRunning)
	}
	return nil
}

func (f *fakeClient) Attach(ctx context.Context, p spec.Port) error {
	f.mu.Lock()
	f.calls = append(f.calls, "attach "+p.Interface)
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.attachErr[p.Interface]; err != nil {
		return err
	}
	if !slices.Contains(f.segments, p.Segment) {
		return &api.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("attach %s: invalid request: segment: no segment named %q", p.Interface, p.Segment)}
	}
	f.ports[p.Interface] = p
	return nil
}

func (f *fakeClient) AttachIncoming(ctx context.Context, p spec.Port) error {
	if err := f.Attach(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[len(f.calls)-1] = "attach-incoming " + p.Interface
	return nil
}

func (f *fakeClient) Detach(ctx context.Context, iface string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "detach "+iface)
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ports[iface]; !ok {
		return &api.Error{Status: http.StatusNotFound, Message: "port " + iface + " is not attached: not found"}
	}
	delete(f.ports, iface)
	return nil
}

func (f *fakeClient) Ports(ctx context.Context) ([]api.Port, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "ports")
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []api.Port
	for _, p := range f.ports {
		st := api.PortUp
		if f.absent[p.Interface] {
			st = api.PortAbsent
		}
		ps = append(ps, api.Port{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Source: "attached", State: st})
	}
	return ps, nil
}

func (f *fakeClient) Segments(ctx context.Context) ([]api.Segment, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "segments")
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	var ss []api.Segment
	for _, s := range f.segments {
		ss = append(ss, api.Segment{Name: s})
	}
	return ss, nil
}

var testCfg = Config{Timeout: time.Second, OnAgentDown: AgentDownFail}

func run(t *testing.T, f *fakeClient, domain, op, subOp, xml string, cfg Config) Result {
	t.Helper()
	contacted, before := false, len(f.calls)
	res := Run(context.Background(), domain, op, subOp, []byte(xml), cfg, func() Client { contacted = true; return f })
	if !contacted && len(f.calls) > before {
		t.Fatal("calls without a client")
	}
	for _, m := range res.Messages {
		if strings.ContainsAny(m, "\n\r") || !strings.HasPrefix(m, "vem-hook: domain ") {
			t.Errorf("message not one line naming the domain: %q", m)
		}
	}
	return res
}

func twoPorts() string {
	return domainXML(vemPorts(
		`<vem:port mac='52:54:00:00:00:01' segment='web' profile='default' ips='192.0.2.1'/>`,
		`<vem:port interfaceid='i2' segment='db'/>`,
	), ethernet("52:54:00:00:00:01", "tap1")+ovs("52:54:00:00:00:02", "tap2", "i2", "open"))
}

func TestRunLifecycle(t *testing.T) {
	f := newFake()
	xml := twoPorts()
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"started", "begin"}} {
		if res := run(t, f, "d1", op[0], op[1], xml, testCfg); res.Fail || len(res.Messages) > 0 {
			t.Fatalf("%s %s: %+v", op[0], op[1], res)
		}
	}
	want := map[string]spec.Port{
		"tap1": {Interface: "tap1", MAC: "52:54:00:00:00:01", Segment: "web", Profile: "default", IPs: []string{"192.0.2.1"}},
		"tap2": {Interface: "tap2", MAC: "52:54:00:00:00:02", Segment: "db", Profile: "open", IPs: []string{}},
	}
	for k, p := range f.ports {
		if p.IPs == nil {
			p.IPs = []string{}
			f.ports[k] = p
		}
	}
	if fmt.Sprint(f.ports) != fmt.Sprint(want) {
		t.Fatalf("attached %+v, want %+v", f.ports, want)
	}
	// prepare and started do not call the agent; start attaches each port once.
	if got := strings.Join(f.calls, ","); got != "attach tap1,attach tap2" {
		t.Fatalf("calls %s", got)
	}
	res := run(t, f, "d1", "stopped", "end", xml, testCfg)
	if res.Fail || len(f.ports) != 0 || !slices.Equal(res.Detached, []string{"tap1", "tap2"}) {
		t.Fatalf("stopped: %+v, left %v", res, f.ports)
	}
	// release after stopped finds nothing to detach: not an error.
	if res := run(t, f, "d1", "release", "end", xml, testCfg); res.Fail || len(res.Messages) > 0 || len(res.Detached) > 0 {
		t.Fatalf("release: %+v", res)
	}
}

// TestRunUnmatchedEntry: a domain whose metadata kept the entry of an
// unplugged NIC starts, its other port attached, with a message naming
// the entry.
func TestRunUnmatchedEntry(t *testing.T) {
	f := newFake()
	xml := domainXML(vemPorts(
		`<vem:port mac='52:54:00:00:00:01' segment='web'/>`,
		`<vem:port mac='52:54:00:00:00:09' segment='web'/>`,
	), ethernet("52:54:00:00:00:01", "tap1"))
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}} {
		res := run(t, f, "d1", op[0], op[1], xml, testCfg)
		if res.Fail || len(res.Messages) != 1 || !strings.Contains(res.Messages[0], "vem:port mac=52:54:00:00:00:09 matches no interface of the domain: ignored") {
			t.Fatalf("%s %s: %+v", op[0], op[1], res)
		}
	}
	if _, ok := f.ports["tap1"]; !ok || len(f.ports) != 1 {
		t.Fatalf("attached %+v", f.ports)
	}
}

// TestRunReleaseWithoutTarget: at release libvirt has dropped the target
// dev of the tap it deleted; a port left behind (stopped failed) is found
// by MAC, but only when its interface is gone.
func TestRunReleaseWithoutTarget(t *testing.T) {
	xml := domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet("52:54:00:00:00:01", ""))
	f := newFake()
	f.ports["tap1"] = spec.Port{Interface: "tap1", MAC: "52:54:00:00:00:01", Segment: "web"}
	f.ports["tap9"] = spec.Port{Interface: "tap9", MAC: "52:54:00:00:00:09", Segment: "web"}
	f.absent["tap9"] = true
	// tap1 still exists: another VM's live port with that MAC is left alone.
	if res := run(t, f, "d1", "release", "end", xml, testCfg); res.Fail || len(res.Detached) > 0 || len(f.ports) != 2 {
		t.Fatalf("live port: %+v, ports %v", res, f.ports)
	}
	f.absent["tap1"] = true
	if res := run(t, f, "d1", "release", "end", xml, testCfg); res.Fail || !slices.Equal(res.Detached, []string{"tap1"}) || len(f.ports) != 1 {
		t.Fatalf("absent port: %+v, ports %v", res, f.ports)
	}
	if res := run(t, f, "d1", "release", "end", xml, testCfg); res.Fail || len(res.Detached) > 0 {
		t.Fatalf("nothing left: %+v", res)
	}
	// The tap gone before the agent noticed: InterfaceGone says so.
	f.ports["tap1"] = spec.Port{Interface: "tap1", MAC: "52:54:00:00:00:01", Segment: "web"}
	f.absent["tap1"] = false
	gone := testCfg
	gone.InterfaceGone = func(name string) bool { return name == "tap1" }
	if res := run(t, f, "d1", "stopped", "end", xml, gone); res.Fail || !slices.Equal(res.Detached, []string{"tap1"}) {
		t.Fatalf("tap gone, agent not told yet: %+v, ports %v", res, f.ports)
	}
	f.down = true
	if res := run(t, f, "d1", "release", "end", xml, testCfg); !res.Fail || !strings.Contains(res.Messages[0], "list ports: vem-agent is not running") {
		t.Fatalf("agent down: %+v", res)
	}
}

func TestRunNoVemPorts(t *testing.T) {
	plain := string(readTestdata(t, "plain.xml"))
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"stopped", "end"}, {"release", "end"}, {"migrate", "begin"}, {"reconnect", "begin"}} {
		f := newFake()
		f.down = true
		called := false
		res := Run(context.Background(), "plain", op[0], op[1], []byte(plain), testCfg, func() Client { called = true; return f })
		if called || res.Fail || len(res.Messages) > 0 {
			t.Errorf("%s %s on a domain without vem ports: contacted %v, %+v", op[0], op[1], called, res)
		}
	}
}

func TestRunIgnoredOperations(t *testing.T) {
	for _, op := range [][2]string{{"started", "begin"}, {"start", "end"}, {"define", "-"}, {"nosuch", "begin"}} {
		f := newFake()
		// Even garbage is not read for an operation the hook ignores.
		if res := run(t, f, "d1", op[0], op[1], "<garbage", testCfg); res.Fail || len(f.calls) > 0 {
			t.Errorf("%s %s: %+v, calls %v", op[0], op[1], res, f.calls)
		}
	}
}

func TestRunRefusesBadXML(t *testing.T) {
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"migrate", "begin"}} {
		f := newFake()
		res := run(t, f, "d1", op[0], op[1], `<!DOCTYPE x [<!ENTITY a "b">]><domain/>`, testCfg)
		if !res.Fail || len(f.calls) > 0 || len(res.Messages) != 1 || !strings.Contains(res.Messages[0], "DTD") {
			t.Errorf("%s: %+v, calls %v", op[0], res, f.calls)
		}
	}
	// The XML of another domain than the one libvirt named.
	f := newFake()
	res := run(t, f, "d2", "start", "begin", twoPorts(), testCfg)
	if !res.Fail || len(f.calls) > 0 || !strings.Contains(res.Messages[0], `names domain d1`) {
		t.Errorf("mismatched name: %+v", res)
	}
}

func TestRunStartPortProblem(t *testing.T) {
	// One port unusable: nothing is attached, every problem is reported.
	f := newFake()
	xml := domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`),
		ethernet("52:54:00:00:00:01", "tap1")+ovs("52:54:00:00:00:02", "tap2", "i2", "p"))
	res := run(t, f, "d1", "start", "begin", xml, testCfg)
	if !res.Fail || len(f.calls) > 0 || len(res.Messages) != 1 || !strings.Contains(res.Messages[0], "interface tap2: no segment") {
		t.Fatalf("%+v, calls %v", res, f.calls)
	}
	// The same at prepare: the VM fails before libvirt allocates anything.
	if res := run(t, f, "d1", "prepare", "begin", xml, testCfg); !res.Fail || len(f.calls) > 0 {
		t.Fatalf("prepare: %+v", res)
	}
}

func TestRunStartRefusedRollsBack(t *testing.T) {
	f := newFake()
	f.attachErr["tap2"] = &api.Error{Status: http.StatusConflict, Message: "attach tap2: port tap2 is configured in /etc/vem/vem.yaml: conflict"}
	res := run(t, f, "d1", "start", "begin", twoPorts(), testCfg)
	if !res.Fail || len(f.ports) != 0 {
		t.Fatalf("%+v, left %v", res, f.ports)
	}
	if got := strings.Join(f.calls, ","); got != "attach tap1,attach tap2,detach tap1" {
		t.Errorf("calls %s", got)
	}
	if len(res.Messages) != 1 || !strings.Contains(res.Messages[0], "domain d1: interface tap2: attach refused by vem-agent: attach tap2: port tap2 is configured") {
		t.Errorf("messages %q", res.Messages)
	}
}

func TestRunAgentDown(t *testing.T) {
	f := newFake()
	f.down = true
	res := run(t, f, "d1", "start", "begin", twoPorts(), testCfg)
	if !res.Fail || len(res.Messages) != 2 || !strings.Contains(res.Messages[0], "interface tap1: attach: vem-agent is not running") ||
		!strings.Contains(res.Messages[0], "policy fail") || !strings.Contains(res.Messages[1], "tap2: not attached") {
		t.Fatalf("fail policy: %+v", res)
	}
	cont := Config{Timeout: time.Second, OnAgentDown: AgentDownContinue}
	f = newFake()
	f.down = true
	res = run(t, f, "d1", "start", "begin", twoPorts(), cont)
	if res.Fail || len(res.Messages) != 2 || !strings.Contains(res.Messages[1], "interface tap2") || !strings.Contains(res.Messages[1], "policy continue") {
		t.Fatalf("continue policy: %+v", res)
	}
	// A refusal is not the agent being down: continue does not cover it.
	f = newFake()
	f.segments = []string{"web"}
	if res := run(t, f, "d1", "start", "begin", twoPorts(), cont); !res.Fail || !strings.Contains(res.Messages[0], `no segment named "db"`) {
		t.Fatalf("refused under continue: %+v", res)
	}
	// Detach with the agent down: reported, and libvirt logs the failure.
	f = newFake()
	f.down = true
	if res := run(t, f, "d1", "stopped", "end", twoPorts(), testCfg); !res.Fail || len(res.Messages) != 2 {
		t.Fatalf("stopped: %+v", res)
	}
	// Reconnect never fails: libvirt would kill the running domain.
	if res := run(t, f, "d1", "reconnect", "begin", twoPorts(), testCfg); res.Fail || len(res.Messages) != 2 {
		t.Fatalf("reconnect: %+v", res)
	}
}

func TestRunAgentSlow(t *testing.T) {
	f := newFake()
	f.hang = true
	cfg := Config{Timeout: 100 * time.Millisecond, OnAgentDown: AgentDownFail}
	start := time.Now()
	res := run(t, f, "d1", "start", "begin", twoPorts(), cfg)
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v with a 100ms timeout", took)
	}
	if !res.Fail || !strings.Contains(res.Messages[0], "interface tap1: attach: vem-agent did not answer within 100ms") {
		t.Fatalf("%+v", res)
	}
}

func TestRunMigrate(t *testing.T) {
	// No target dev yet on the destination: fine, the ports attach at start.
	xml := domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet("52:54:00:00:00:01", ""))
	f := newFake()
	if res := run(t, f, "d1", "migrate", "begin", xml, testCfg); res.Fail || len(res.Messages) > 0 || strings.Join(f.calls, ",") != "segments" || len(f.ports) > 0 {
		t.Fatalf("migrate: %+v, calls %v", res, f.calls)
	}
	f.segments = []string{"db"}
	if res := run(t, f, "d1", "migrate", "begin", xml, testCfg); !res.Fail || !strings.Contains(res.Messages[0], `vem-agent has no segment "web"`) {
		t.Fatalf("migrate to a host without the segment: %+v", res)
	}
	f.down = true
	if res := run(t, f, "d1", "restore", "begin", xml, testCfg); !res.Fail || !strings.Contains(res.Messages[0], "not running") {
		t.Fatalf("restore with the agent down: %+v", res)
	}
}

func TestRunReattach(t *testing.T) {
	f := newFake()
	res := run(t, f, "d1", "reconnect", "begin", twoPorts(), testCfg)
	if res.Fail || len(f.ports) != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestParseAgentDown(t *testing.T) {
	for _, s := range []string{"fail", "continue"} {
		if p, err := ParseAgentDown(s); err != nil || string(p) != s {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	if _, err := ParseAgentDown("ignore"); err == nil {
		t.Error("ignore accepted")
	}
}
