package main

// -dpa, part 1: a switchover at scale. A VSM pair (two vsm.Supervisors
// in this process, on loopback listeners, as vsm/pair_test.go runs
// them) and N simulated hosts, each a real dpa.DPA with a session to
// both VSMs over mutual TLS (one certificate per host) and a fake
// Applier that acknowledges at once. The active is stopped; every DPA
// hears the new active's switch request and reattaches. Per VEM the
// bench records, on its sessions, when the switch request came, when
// the new active accepted the attach and when the DPA acknowledged the
// new active's configuration.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/netdef"
)

const dpaBenchNetwork = `
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vlan, vlan: 101}
profiles:
  - {name: default, portSecurity: true}
`

// pairMember is one in-process VSM of the pair.
type pairMember struct {
	name   string
	cfg    *config.Config
	l      vsm.Listeners
	client *api.Client
	cancel context.CancelFunc
	done   chan error
}

func (m *pairMember) start() error {
	sup, err := vsm.New(m.cfg, nil, vsm.Options{DiscoveryWindow: time.Second})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- sup.ServeListeners(ctx, m.l) }()
	return nil
}

// stop stops the VSM (its sessions end, its listeners close); a no-op
// once stopped.
func (m *pairMember) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cancel = nil
}

func loopbackListener() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// newBenchPair makes a primary and a secondary in dir, with the pair's
// shortest heartbeat-loss interval.
func newBenchPair(dir, pki string) (a, b *pairMember, err error) {
	mk := func(name string, role config.Role) (*pairMember, error) {
		m := &pairMember{name: name}
		lns := make([]net.Listener, 4)
		for i := range lns {
			if lns[i], err = loopbackListener(); err != nil {
				return nil, err
			}
		}
		m.l = vsm.Listeners{API: lns[0], VEM: lns[1], Control: lns[2], Management: lns[3]}
		data := filepath.Join(dir, name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		m.cfg = &config.Config{Name: name, Domain: vsmBenchDomain, Role: role, Listen: m.l.VEM.Addr().String(),
			API: m.l.API.Addr().String(), DataDir: data,
			TLS:                   &config.TLS{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, name+".pem"), Key: filepath.Join(pki, name+"-key.pem")},
			HeartbeatLossInterval: spec.Duration(config.MinHeartbeatLossInterval)}
		m.client = api.NewClient(m.cfg.API)
		return m, nil
	}
	if a, err = mk("vsm-a", config.RolePrimary); err != nil {
		return nil, nil, err
	}
	if b, err = mk("vsm-b", config.RoleSecondary); err != nil {
		return nil, nil, err
	}
	link := func(x, y net.Listener) *config.Link {
		return &config.Link{Address: x.Addr().String(), Peer: y.Addr().String()}
	}
	a.cfg.Control, b.cfg.Control = link(a.l.Control, b.l.Control), link(b.l.Control, a.l.Control)
	a.cfg.Management, b.cfg.Management = link(a.l.Management, b.l.Management), link(b.l.Management, a.l.Management)
	return a, b, nil
}

// waitRedundancy polls m until ok accepts its redundancy status.
func waitRedundancy(ctx context.Context, m *pairMember, limit time.Duration, ok func(ha.Status) bool) (ha.Status, error) {
	var st ha.Status
	var err error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st, err = m.client.RedundancyStatus(ctx)
		if err == nil && ok(st) {
			return st, nil
		}
	}
	return st, fmt.Errorf("%s: redundancy status %+v (%v) not reached in %v", m.name, st, err, limit)
}

// simHost is one simulated VEM: a real DPA, its fake applier and what
// its sessions saw.
type simHost struct {
	host   string
	status func() string // for errors

	applies atomic.Int64
	// dials and dialFailures count the sessions the DPA opened to vsm-b
	// (and tried to) since mark.
	dials, dialFailures atomic.Int64
	dialTo              string

	mu         sync.Mutex
	switchAt   time.Time            // first switch request since mark
	acceptedAt map[string]time.Time // VSM → first AttachAccepted since mark
	ackedAt    map[string]time.Time // VSM → first Ack since mark
	ackedGen   map[string]uint64
	marked     bool
}

// mark starts a measurement: what came before is forgotten.
func (h *simHost) mark() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.switchAt, h.acceptedAt, h.ackedAt, h.ackedGen, h.marked = time.Time{}, map[string]time.Time{}, map[string]time.Time{}, map[string]uint64{}, true
	h.dials.Store(0)
	h.dialFailures.Store(0)
}

func (h *simHost) record(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.acceptedAt == nil {
		h.acceptedAt, h.ackedAt, h.ackedGen = map[string]time.Time{}, map[string]time.Time{}, map[string]uint64{}
	}
	f()
}

// Apply is the fake applier: counted, accepted at once.
func (h *simHost) Apply(context.Context, *spec.Switch) error { h.applies.Add(1); return nil }

// SetRemoteMACs accepts.
func (h *simHost) SetRemoteMACs(context.Context, []headless.RemoteMAC) error { return nil }

// recordingDialer wraps the DPA's real dialer so that the host sees its
// sessions' events.
type recordingDialer struct {
	inner dpa.Dialer
	h     *simHost
}

func (r recordingDialer) Dial(ctx context.Context, addr string, f dpa.Facts) (dpa.Session, error) {
	s, err := r.inner.Dial(ctx, addr, f)
	if addr == r.h.dialTo {
		r.h.dials.Add(1)
		if err != nil {
			r.h.dialFailures.Add(1)
		}
	}
	if err != nil {
		return nil, err
	}
	return &recordingSession{Session: s, h: r.h}, nil
}

// recordingSession records the switch requests and AttachAccepted it
// delivers and the Acks it sends.
type recordingSession struct {
	dpa.Session
	h *simHost
}

func (s *recordingSession) Recv(ctx context.Context) (protocol.Event, error) {
	ev, err := s.Session.Recv(ctx)
	now := time.Now()
	switch ev.(type) {
	case *protocol.SwitchRequest:
		s.h.record(func() {
			if s.h.switchAt.IsZero() {
				s.h.switchAt = now
			}
		})
	case *protocol.AttachAccepted:
		name := s.Name()
		s.h.record(func() {
			if _, ok := s.h.acceptedAt[name]; !ok {
				s.h.acceptedAt[name] = now
			}
		})
	}
	return ev, err
}

func (s *recordingSession) Ack(c *protocol.Config) error {
	err := s.Session.Ack(c)
	now := time.Now()
	name := s.Name()
	s.h.record(func() {
		if _, ok := s.h.ackedAt[name]; !ok {
			s.h.ackedAt[name], s.h.ackedGen[name] = now, c.Generation
		}
	})
	return err
}

// switchoverResult is part 1's figures.
type switchoverResult struct {
	hosts       int
	pkiTook     time.Duration
	attachAll   time.Duration // all DPAs started to all attached and current on the active
	stopToFirst time.Duration // active stopped to the first switch request
	stopToLast  time.Duration // ... to the last VEM current on the new active
	firstToLast time.Duration // first switch request to the last VEM current
	toAttached  []float64     // per VEM, switch request to AttachAccepted, ms
	toCurrent   []float64     // per VEM, switch request to configuration acked, ms
	applies     int64         // Applier calls of all DPAs during the switchover
	dials       int64         // sessions to the new active opened (or tried) during it
	dialFails   int64
	goroutines  int
	rssMB       float64
	load        string
}

// runSwitchover runs part 1 with n simulated hosts: real DPAs, or with
// clients the bench's protocol clients, which on a switch request ask the
// new active to attach them on the session they hold (what the pair
// costs without the DPA's rules).
func runSwitchover(ctx context.Context, dir string, n int, clients bool) (switchoverResult, error) {
	res := switchoverResult{hosts: n}
	raiseNoFile()
	dir = filepath.Join(dir, "switchover-"+strings.ReplaceAll(simKind(clients), " ", "-"))
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("hv%04d", i)
	}
	pki := filepath.Join(dir, "pki")
	t0 := time.Now()
	if err := protocol.GenerateDevPKI(pki, []string{"vsm-a", "vsm-b"}, hosts); err != nil {
		return res, err
	}
	res.pkiTook = time.Since(t0)
	fmt.Printf("switchover: dev PKI for %d hosts in %v\n", n, res.pkiTook.Round(time.Millisecond))

	a, b, err := newBenchPair(dir, pki)
	if err != nil {
		return res, err
	}
	defer b.stop()
	defer a.stop()
	if err := a.start(); err != nil {
		return res, err
	}
	if err := b.start(); err != nil {
		return res, err
	}
	if _, err := waitRedundancy(ctx, a, 20*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby }); err != nil {
		return res, err
	}
	if _, err := waitRedundancy(ctx, b, 10*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby }); err != nil {
		return res, err
	}
	applied, err := a.client.Apply(ctx, []byte(dpaBenchNetwork), netdef.YAML)
	if err != nil {
		return res, fmt.Errorf("network on the active: %w", err)
	}
	fmt.Printf("switchover: pair up (vsm-a active, vsm-b HA standby), network at generation %d\n", applied.Generation)

	// The DPAs, started in batches so that the TLS handshakes do not all
	// time out together on two cores.
	dctx, dcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { dcancel(); wg.Wait() }()
	sims := make([]*simHost, n)
	lim := spec.DefaultLimits
	t0 = time.Now()
	for i, h := range hosts {
		conf, err := protocol.ClientTLS(protocol.TLSFiles{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, h+".pem"),
			Key: filepath.Join(pki, h+"-key.pem")}, protocol.KindVEM, protocol.KindVSM)
		if err != nil {
			return res, err
		}
		sim := &simHost{host: h, dialTo: b.cfg.Listen}
		sims[i] = sim
		addrs := []string{a.cfg.Listen, b.cfg.Listen}
		cc := protocol.ClientConfig{Domain: vsmBenchDomain, Host: &spec.Switch{Host: h, Uplink: "eth0"}, TLS: conf,
			Validate: spec.ValidateOptions{Limits: &lim}}
		if clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runSimClient(dctx, sim, addrs, cc)
			}()
		} else {
			d, err := dpa.New(dpa.Config{
				Addresses: addrs,
				Dialer:    recordingDialer{h: sim, inner: dpa.ProtocolDialer{Config: cc}},
				Applier:   sim,
				Logger:    debugLogger(i),
			})
			if err != nil {
				return res, err
			}
			sim.status = func() string { return fmt.Sprintf("%+v", d.Status()) }
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = d.Run(dctx)
			}()
		}
		if i%50 == 49 {
			time.Sleep(40 * time.Millisecond)
		}
	}
	if err := waitAll(ctx, sims, 120*time.Second, func(s *simHost) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ackedGen["vsm-a"] >= applied.Generation
	}); err != nil {
		return res, fmt.Errorf("attach to vsm-a: %w", err)
	}
	res.attachAll = time.Since(t0)
	fmt.Printf("switchover: %d %s attached to vsm-a and current in %v\n", n, simKind(clients), res.attachAll.Round(time.Millisecond))
	// Let the heartbeats settle and the standby sessions open, and the
	// DPAs refresh their sessions to vsm-b with their module (within 5 s
	// of attaching), as a pair in service would have long before.
	time.Sleep(6 * time.Second)

	for _, s := range sims {
		s.mark()
	}
	var applies0 int64
	for _, s := range sims {
		applies0 += s.applies.Load()
	}
	res.load = loadAverage()
	stopped := time.Now()
	a.stop()
	fmt.Printf("switchover: vsm-a stopped (load %s); waiting for vsm-b's switch requests\n", res.load)
	if err := waitAll(ctx, sims, 90*time.Second, func(s *simHost) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.ackedAt["vsm-b"]
		return ok
	}); err != nil {
		return res, fmt.Errorf("reattach to vsm-b: %w", err)
	}
	var first, last time.Time
	for _, s := range sims {
		s.mu.Lock()
		sr, acc, ack := s.switchAt, s.acceptedAt["vsm-b"], s.ackedAt["vsm-b"]
		s.mu.Unlock()
		if sr.IsZero() {
			// Attached to vsm-b without its switch request (headless or
			// its session to vsm-a lost first): measured from the stop.
			sr = stopped
		}
		if first.IsZero() || sr.Before(first) {
			first = sr
		}
		if ack.After(last) {
			last = ack
		}
		res.toAttached = append(res.toAttached, ms(acc.Sub(sr)))
		res.toCurrent = append(res.toCurrent, ms(ack.Sub(sr)))
	}
	for _, s := range sims {
		res.applies += s.applies.Load()
		res.dials += s.dials.Load()
		res.dialFails += s.dialFailures.Load()
	}
	res.applies -= applies0
	res.stopToFirst, res.stopToLast, res.firstToLast = first.Sub(stopped), last.Sub(stopped), last.Sub(first)
	res.goroutines = runtime.NumGoroutine()
	res.rssMB = float64(rssKB(os.Getpid())) / 1024
	return res, nil
}

// waitAll waits until ok holds for every host, for at most limit.
func waitAll(ctx context.Context, sims []*simHost, limit time.Duration, ok func(*simHost) bool) error {
	deadline := time.Now().Add(limit)
	for {
		left := 0
		var example string
		for _, s := range sims {
			if !ok(s) {
				left++
				example = s.host
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			st := "?"
			for _, s := range sims {
				if s.host == example && s.status != nil {
					st = s.status()
				}
			}
			return fmt.Errorf("%d of %d hosts not there after %v (%s: %s)", left, len(sims), limit, example, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return parseLoadAvg(string(data))
}

// debugLogger logs the DPA of host i when $VEM_BENCH_DEBUG_HOST names it.
func debugLogger(i int) *zap.Logger {
	if os.Getenv("VEM_BENCH_DEBUG_HOST") != fmt.Sprint(i) {
		return nil
	}
	l, _ := zap.NewDevelopment()
	return l
}

func simKind(clients bool) string {
	if clients {
		return "protocol clients"
	}
	return "DPAs"
}

// runSimClient is a simulated host as a bare protocol client: a session
// with each VSM, an attach request to the first active heard, the switch
// request answered on the session it came on, every configuration
// acknowledged at once. It returns when ctx ends.
func runSimClient(ctx context.Context, h *simHost, addrs []string, cc protocol.ClientConfig) {
	var wg sync.WaitGroup
	var attachedOnce sync.Once
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				s, err := protocol.Dial(dctx, addr, cc)
				cancel()
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(500 * time.Millisecond):
					}
					continue
				}
				simClientSession(ctx, h, s, &attachedOnce)
				_ = s.Close()
			}
		}()
	}
	wg.Wait()
}

func simClientSession(ctx context.Context, h *simHost, s *protocol.VSMSession, attachedOnce *sync.Once) {
	name := s.Peer().Name
	for {
		ev, err := s.Recv(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		switch e := ev.(type) {
		case *protocol.Heartbeat:
			if e.GetState() == protocol.State_STATE_ACTIVE {
				attachedOnce.Do(func() { _ = s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL) })
			}
		case *protocol.SwitchRequest:
			h.record(func() {
				if h.switchAt.IsZero() {
					h.switchAt = now
				}
			})
			_ = s.RequestAttach(protocol.AttachReason_ATTACH_REASON_SWITCH_REQUEST)
		case *protocol.AttachAccepted:
			h.record(func() {
				if _, ok := h.acceptedAt[name]; !ok {
					h.acceptedAt[name] = now
				}
			})
		case *protocol.Config:
			_ = s.Ack(e)
			acked := time.Now()
			h.record(func() {
				if _, ok := h.ackedAt[name]; !ok {
					h.ackedAt[name], h.ackedGen[name] = acked, e.Generation
				}
			})
		}
	}
}
