//go:build cgo

package libvirtconn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"libvirt.org/go/libvirt"

	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
	"github.com/vem-switch/vem/spec"
)

// The test driver's test:///default is one in-process state shared by
// every connection of the process: the test defines and starts domains
// on its own read-write connection and the watcher sees them, with their
// events, on its read-only one.
const uri = "test:///default"

// domainXML is a test domain with one vem NIC per tap (metadata naming
// segment web) and one NIC that is not vem's. Tap names must not start
// with vnet: libvirt takes those for generated names and renames them.
func domainXML(name, uuid string, taps ...string) string {
	var meta, nics strings.Builder
	for i, tap := range taps {
		mac := fmt.Sprintf("52:54:00:%s:00:%02x", uuid[:2], i+1)
		fmt.Fprintf(&meta, `<vem:port mac="%s" segment="web" ips="192.0.2.%d"/>`, mac, i+10)
		fmt.Fprintf(&nics, `<interface type='ethernet'><mac address='%s'/><target dev='%s'/></interface>`, mac, tap)
	}
	return fmt.Sprintf(`<domain type='test'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
  <metadata><vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1">%s</vem:ports></metadata>
  <devices>%s
    <interface type='ethernet'><mac address='52:54:00:ff:%s:01'/><target dev='other-%s'/></interface>
  </devices>
</domain>`, name, uuid, meta.String(), nics.String(), uuid[:2], name)
}

func uuidOf(n int) string { return fmt.Sprintf("%02x000000-0000-4000-8000-%012x", n, n) }

// open returns the test's read-write connection (after the watcher's
// event loop is registered: the test driver queues events on it).
func open(t *testing.T) *libvirt.Connect {
	t.Helper()
	if err := startLoop(); err != nil {
		t.Fatal(err)
	}
	c, err := libvirt.NewConnect(uri)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() { _, _ = c.Close() })
	return c
}

func define(t *testing.T, c *libvirt.Connect, xml string) *libvirt.Domain {
	t.Helper()
	d, err := c.DomainDefineXML(xml)
	if err != nil {
		t.Fatalf("define: %v", err)
	}
	t.Cleanup(func() {
		if active, _ := d.IsActive(); active {
			_ = d.Destroy()
		}
		_ = d.Undefine()
		_ = d.Free()
	})
	return d
}

type harness struct {
	t     *testing.T
	agent *watchtest.Agent
	w     *libvirtwatch.Watcher
	stop  func()
}

func startWatcher(t *testing.T, agent *watchtest.Agent) *harness {
	t.Helper()
	w, err := libvirtwatch.New(libvirtwatch.Config{URI: uri, Dial: Dial, Agent: agent, Log: testLogger(t), Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h := run(t, agent, w)
	h.waitFor("connected", func(st libvirtwatch.Status) bool { return st.Connected })
	return h
}

func testLogger(t *testing.T) *zap.Logger { return zaptest.NewLogger(t) }

// run runs w until the test ends.
func run(t *testing.T, agent *watchtest.Agent, w *libvirtwatch.Watcher) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	h := &harness{t: t, agent: agent, w: w, stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}}
	t.Cleanup(h.stop)
	return h
}

// waitFor polls the watcher's status until cond holds (events arrive
// within milliseconds; 5 s is the bound of a failure).
func (h *harness) waitFor(what string, cond func(libvirtwatch.Status) bool) libvirtwatch.Status {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := h.w.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %s: status %+v; agent %v", what, st, h.agent.Attached())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func portState(st libvirtwatch.Status, domain, mac string) (libvirtwatch.PortStatus, bool) {
	i := slices.IndexFunc(st.Ports, func(p libvirtwatch.PortStatus) bool { return p.Domain == domain && p.MAC == mac })
	if i < 0 {
		return libvirtwatch.PortStatus{}, false
	}
	return st.Ports[i], true
}

func stateIs(domain, mac string, want libvirtwatch.PortState) func(libvirtwatch.Status) bool {
	return func(st libvirtwatch.Status) bool {
		p, ok := portState(st, domain, mac)
		return ok && p.State == want
	}
}

// TestResyncAtStart: a domain running before the watcher starts (its
// hook missed) is attached at start-up; a port the agent still has for a
// domain that no longer runs is detached; the non-vem NIC is left alone.
func TestResyncAtStart(t *testing.T) {
	c := open(t)
	run := define(t, c, domainXML("lw-run", uuidOf(0x11), "tap-run0", "tap-run1"))
	if err := run.Create(); err != nil {
		t.Fatal(err)
	}
	define(t, c, domainXML("lw-off", uuidOf(0x12), "tap-off0"))
	agent := watchtest.NewAgent()
	// Left over: lw-off's port, attached while it ran.
	agent.Put(spec.Port{Interface: "tap-off0", MAC: "52:54:00:12:00:01", Segment: "web", IPs: []string{"192.0.2.10"}})
	agent.SetAbsent("tap-off0", true)

	h := startWatcher(t, agent)
	st := h.w.Status()
	got := agent.Attached()
	if len(got) != 2 || got["tap-run0"].MAC != "52:54:00:11:00:01" || got["tap-run1"].Segment != "web" ||
		!slices.Equal(got["tap-run1"].IPs, []string{"192.0.2.11"}) {
		t.Fatalf("agent ports after resync: %v", got)
	}
	calls := agent.Calls()
	for _, want := range []string{"attach tap-run0", "attach tap-run1", "detach tap-off0"} {
		if !slices.Contains(calls, want) {
			t.Errorf("calls %v: no %q", calls, want)
		}
	}
	if slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "other-") }) {
		t.Errorf("calls %v touch a non-vem NIC", calls)
	}
	for _, mac := range []string{"52:54:00:11:00:01", "52:54:00:11:00:02"} {
		if p, _ := portState(st, "lw-run", mac); p.State != libvirtwatch.Online || !p.Attached {
			t.Errorf("lw-run %s: %+v, want online and attached", mac, p)
		}
	}
	if p, _ := portState(st, "lw-off", "52:54:00:12:00:01"); p.State != libvirtwatch.Offline || p.Attached {
		t.Errorf("lw-off: %+v, want offline (never started here) and not attached", p)
	}
}

// TestLifecycle follows a domain through start, destroy, start, shutdown
// and a crash-less failure path: ports attach at start and detach at
// every stop, with the state an operator would expect.
func TestLifecycle(t *testing.T) {
	c := open(t)
	agent := watchtest.NewAgent()
	h := startWatcher(t, agent)
	const mac = "52:54:00:21:00:01"
	d := define(t, c, domainXML("lw-life", uuidOf(0x21), "tap-life0"))
	h.waitFor("defined domain offline", stateIs("lw-life", mac, libvirtwatch.Offline))
	agent.Calls()

	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("online after start", stateIs("lw-life", mac, libvirtwatch.Online))
	if p := agent.Attached()["tap-life0"]; p.MAC != mac || p.Segment != "web" {
		t.Fatalf("agent after start: %v", agent.Attached())
	}

	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor("intentional-offline after destroy", stateIs("lw-life", mac, libvirtwatch.IntentionalOffline))
	if p, _ := portState(st, "lw-life", mac); !strings.Contains(p.Reason, "destroyed") || p.Attached {
		t.Errorf("after destroy: %+v", p)
	}
	if _, ok := agent.Attached()["tap-life0"]; ok {
		t.Errorf("tap-life0 still attached after destroy")
	}

	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("online after restart", stateIs("lw-life", mac, libvirtwatch.Online))
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	st = h.waitFor("intentional-offline after shutdown", stateIs("lw-life", mac, libvirtwatch.IntentionalOffline))
	if p, _ := portState(st, "lw-life", mac); !strings.Contains(p.Reason, "shut down") {
		t.Errorf("after shutdown: %+v", p)
	}
	calls := agent.Calls()
	want := []string{"attach tap-life0", "detach tap-life0", "attach tap-life0", "detach tap-life0"}
	if !slices.Equal(calls, want) {
		t.Errorf("agent calls %v, want %v", calls, want)
	}
}

// TestTransientStop: a transient domain is gone from libvirt when its
// stopped event arrives; the event's reason still sets the state.
func TestTransientStop(t *testing.T) {
	c := open(t)
	agent := watchtest.NewAgent()
	h := startWatcher(t, agent)
	const mac = "52:54:00:31:00:01"
	d, err := c.DomainCreateXML(domainXML("lw-transient", uuidOf(0x31), "tap-tr0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	h.waitFor("online", stateIs("lw-transient", mac, libvirtwatch.Online))
	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor("intentional-offline", stateIs("lw-transient", mac, libvirtwatch.IntentionalOffline))
	if p, _ := portState(st, "lw-transient", mac); !p.Gone || p.Attached {
		t.Errorf("after destroying a transient domain: %+v", p)
	}
	if len(agent.Attached()) != 0 {
		t.Errorf("agent still has %v", agent.Attached())
	}
}

// TestMetadataChange makes a running domain's second NIC vem's by
// adding its entry to the live metadata, then takes it back: the
// metadata-change events attach and detach its port. (libvirt 9.0's test
// driver has no AttachDeviceFlags, so device-added and device-removed
// are tested with fakes in package libvirtwatch.)
func TestMetadataChange(t *testing.T) {
	c := open(t)
	agent := watchtest.NewAgent()
	h := startWatcher(t, agent)
	const mac1, mac2 = "52:54:00:41:00:01", "52:54:00:41:00:02"
	xml := strings.Replace(domainXML("lw-meta", uuidOf(0x41), "tap-meta0"), "</devices>",
		"<interface type='ethernet'><mac address='"+mac2+"'/><target dev='tap-meta1'/></interface></devices>", 1)
	d := define(t, c, xml)
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("first port online", stateIs("lw-meta", mac1, libvirtwatch.Online))
	if _, ok := agent.Attached()["tap-meta1"]; ok {
		t.Fatalf("a NIC without vem metadata was attached: %v", agent.Attached())
	}
	setMeta := func(ports string) {
		t.Helper()
		if err := d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, "<ports>"+ports+"</ports>", "vem", "https://vem-switch.dev/xmlns/libvirt/1", libvirt.DOMAIN_AFFECT_LIVE); err != nil {
			t.Fatalf("set metadata: %v", err)
		}
	}
	setMeta(`<port mac="` + mac1 + `" segment="web" ips="192.0.2.10"/><port mac="` + mac2 + `" segment="db"/>`)
	h.waitFor("second port online", stateIs("lw-meta", mac2, libvirtwatch.Online))
	if p := agent.Attached()["tap-meta1"]; p.Segment != "db" || p.MAC != mac2 {
		t.Fatalf("agent after the metadata change: %v", agent.Attached())
	}
	setMeta(`<port mac="` + mac1 + `" segment="web" ips="192.0.2.10"/>`)
	h.waitFor("second port gone", func(st libvirtwatch.Status) bool {
		_, ok := portState(st, "lw-meta", mac2)
		return !ok
	})
	if _, ok := agent.Attached()["tap-meta1"]; ok {
		t.Errorf("tap-meta1 still attached: %v", agent.Attached())
	}
	if p, ok := agent.Attached()["tap-meta0"]; !ok || p.Segment != "web" {
		t.Errorf("tap-meta0 lost by another port's removal: %v", agent.Attached())
	}
}
