package libvirtwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
)

// fakeLibvirt is a libvirt daemon: domains, connections that deliver
// events, and a switch to make it go away and come back.
type fakeLibvirt struct {
	mu    sync.Mutex
	doms  map[string]DomainInfo
	conn  *fakeConn
	down  bool
	dials []time.Time
}

type fakeConn struct {
	lv     *fakeLibvirt
	events chan Event
	broken bool
}

func newFakeLibvirt() *fakeLibvirt { return &fakeLibvirt{doms: map[string]DomainInfo{}} }

func (lv *fakeLibvirt) dial(uri string) (Conn, error) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	lv.dials = append(lv.dials, time.Now())
	if lv.down {
		return nil, fmt.Errorf("cannot connect to %s: no libvirtd", uri)
	}
	lv.conn = &fakeConn{lv: lv, events: make(chan Event, 64)}
	return lv.conn, nil
}

func (c *fakeConn) Domains() ([]DomainInfo, error) {
	c.lv.mu.Lock()
	defer c.lv.mu.Unlock()
	if c.broken {
		return nil, errors.New("connection broken")
	}
	var out []DomainInfo
	for _, d := range c.lv.doms {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DomainInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (c *fakeConn) Domain(uuid string) (DomainInfo, error) {
	c.lv.mu.Lock()
	defer c.lv.mu.Unlock()
	if c.broken {
		return DomainInfo{}, errors.New("connection broken")
	}
	d, ok := c.lv.doms[uuid]
	if !ok {
		return DomainInfo{}, fmt.Errorf("domain %s: %w", uuid, ErrNoDomain)
	}
	return d, nil
}

func (c *fakeConn) Events() <-chan Event { return c.events }
func (c *fakeConn) Close() error         { return nil }

// set defines or changes a domain and, with ev, delivers an event of it.
func (lv *fakeLibvirt) set(d DomainInfo, ev *Event) {
	lv.mu.Lock()
	lv.doms[d.UUID] = d
	c := lv.conn
	lv.mu.Unlock()
	if ev != nil && c != nil {
		ev.UUID, ev.Domain = d.UUID, d.Name
		c.events <- *ev
	}
}

// remove undefines a domain, delivering ev.
func (lv *fakeLibvirt) remove(d DomainInfo, ev Event) {
	lv.mu.Lock()
	delete(lv.doms, d.UUID)
	c := lv.conn
	lv.mu.Unlock()
	ev.UUID, ev.Domain = d.UUID, d.Name
	c.events <- ev
}

// crash makes libvirtd go away: the connection closes and dials fail
// until back.
func (lv *fakeLibvirt) crash() {
	lv.mu.Lock()
	lv.down = true
	c := lv.conn
	c.broken = true
	lv.mu.Unlock()
	c.events <- Event{Kind: EventClosed, Err: errors.New("end of file")}
}

func (lv *fakeLibvirt) back() {
	lv.mu.Lock()
	lv.down = false
	lv.mu.Unlock()
}

func (lv *fakeLibvirt) dialTimes() []time.Time {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return slices.Clone(lv.dials)
}

// nic is one interface of a test domain.
type nic struct {
	tap, mac, segment string
	vem               bool // in vem's metadata
}

func domXML(name, uuid string, nics ...nic) []byte {
	var meta, devs strings.Builder
	for _, n := range nics {
		if n.vem {
			fmt.Fprintf(&meta, `<vem:port mac="%s" segment="%s"/>`, n.mac, n.segment)
		}
		target := ""
		if n.tap != "" {
			target = fmt.Sprintf(`<target dev='%s'/>`, n.tap)
		}
		fmt.Fprintf(&devs, `<interface type='ethernet'><mac address='%s'/>%s</interface>`, n.mac, target)
	}
	return fmt.Appendf(nil, `<domain type='kvm'><name>%s</name><uuid>%s</uuid>
<metadata><vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1">%s</vem:ports></metadata>
<devices>%s</devices></domain>`, name, uuid, meta.String(), devs.String())
}

func running(name, uuid string, nics ...nic) DomainInfo {
	return DomainInfo{Name: name, UUID: uuid, Running: true, XML: domXML(name, uuid, nics...)}
}

func stopped(name, uuid string, reason StopReason, nics ...nic) DomainInfo {
	return DomainInfo{Name: name, UUID: uuid, Reason: reason, XML: domXML(name, uuid, nics...)}
}

type harness struct {
	t     *testing.T
	lv    *fakeLibvirt
	agent *watchtest.Agent
	w     *Watcher
	stop  func()
}

func start(t *testing.T, lv *fakeLibvirt, agent *watchtest.Agent, tweak func(*Config)) *harness {
	t.Helper()
	cfg := Config{URI: "fake:///", Dial: lv.dial, Agent: agent, Log: zaptest.NewLogger(t), Resync: time.Hour,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, AgentRetry: 20 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	h := &harness{t: t, lv: lv, agent: agent, w: w, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) waitFor(what string, cond func(Status) bool) Status {
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
		time.Sleep(2 * time.Millisecond)
	}
}

// waitResync waits for the n-th full reconciliation.
func (h *harness) waitResync(n int) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("resync %d", n), func(Status) bool {
		h.w.mu.Lock()
		defer h.w.mu.Unlock()
		return h.w.resyncs >= n
	})
}

func port(st Status, domain, mac string) (PortStatus, bool) {
	i := slices.IndexFunc(st.Ports, func(p PortStatus) bool { return p.Domain == domain && p.MAC == mac })
	if i < 0 {
		return PortStatus{}, false
	}
	return st.Ports[i], true
}

func stateIs(domain, mac string, want PortState) func(Status) bool {
	return func(st Status) bool {
		p, ok := port(st, domain, mac)
		return ok && p.State == want
	}
}
