package vsm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/pair"
	"github.com/vem-switch/vem/vsm/store"
	"go.uber.org/zap/zaptest"
)

// member is one VSM of a pair under test, serving on loopback listeners.
type member struct {
	name   string
	cfg    *config.Config
	l      vsm.Listeners
	client *api.Client
	sup    *vsm.Supervisor
	cancel context.CancelFunc
	done   chan error
}

// newPair makes the configurations of a primary and a secondary whose
// control and management paths point at each other.
func newPair(t *testing.T) (a, b *member) {
	t.Helper()
	pki := t.TempDir()
	if err := protocol.GenerateDevPKI(pki, []string{"vsm-a", "vsm-b"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, role config.Role) *member {
		m := &member{name: name, l: vsm.Listeners{API: listen(t), VEM: listen(t), Control: listen(t), Management: listen(t)}}
		m.cfg = &config.Config{Name: name, Domain: 100, Role: role, Listen: m.l.VEM.Addr().String(),
			API: m.l.API.Addr().String(), DataDir: t.TempDir(), TLS: pkiFiles(pki, name),
			HeartbeatLossInterval: spec.Duration(config.MinHeartbeatLossInterval)}
		m.client = api.NewClient(m.cfg.API)
		return m
	}
	a, b = mk("vsm-a", config.RolePrimary), mk("vsm-b", config.RoleSecondary)
	a.cfg.Control = &config.Link{Address: a.l.Control.Addr().String(), Peer: b.l.Control.Addr().String()}
	b.cfg.Control = &config.Link{Address: b.l.Control.Addr().String(), Peer: a.l.Control.Addr().String()}
	a.cfg.Management = &config.Link{Address: a.l.Management.Addr().String(), Peer: b.l.Management.Addr().String()}
	b.cfg.Management = &config.Link{Address: b.l.Management.Addr().String(), Peer: a.l.Management.Addr().String()}
	return a, b
}

func (m *member) start(t *testing.T) {
	t.Helper()
	sup, err := vsm.New(m.cfg, zaptest.NewLogger(t).Named(m.name), vsm.Options{DiscoveryWindow: time.Second, HeartbeatInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.sup, m.cancel, m.done = sup, cancel, make(chan error, 1)
	go func() { m.done <- sup.ServeListeners(ctx, m.l) }()
	t.Cleanup(m.stop)
}

func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cancel = nil
}

// waitStatus polls m's redundancy status until ok accepts it.
func waitStatus(t *testing.T, m *member, d time.Duration, ok func(ha.Status) bool) ha.Status {
	t.Helper()
	var st ha.Status
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err = m.client.RedundancyStatus(ctx)
		cancel()
		if err == nil && ok(st) {
			return st
		}
	}
	t.Fatalf("%s: redundancy status %+v (%v) not reached in %v", m.name, st, err, d)
	return st
}

// contractJSON reads GET /v1/system/redundancy raw and checks the
// contract's keys.
func contractJSON(t *testing.T, m *member) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + m.cfg.API + "/v1/system/redundancy")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"role", "state", "internalState", "peer", "epoch"} {
		if _, ok := v[k]; !ok {
			t.Fatalf("%s: no %q in %s", m.name, k, data)
		}
	}
	peer, _ := v["peer"].(map[string]any)
	for _, k := range []string{"name", "role", "state"} {
		if _, ok := peer[k]; !ok {
			t.Fatalf("%s: no peer.%q in %s", m.name, k, data)
		}
	}
	return v
}

// supervisors checks the VSM rows of m's show module: "module host
// status this", comma-separated.
func supervisors(t *testing.T, m *member, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := m.client.Modules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, mod := range r.Modules {
		if mod.Type == api.TypeVSM {
			rows = append(rows, fmt.Sprintf("%d %s %s %v", mod.Module, mod.Host, mod.Status, mod.This))
		}
	}
	if got := strings.Join(rows, ","); got != want {
		t.Fatalf("%s: show module VSMs %q, want %q", m.name, got, want)
	}
}

const pairNetwork = `
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
`

// TestPairFailover runs a primary and a secondary on loopback: the
// primary is active with an HA standby; a change accepted by the active
// is on the standby when the active answers; the standby refuses
// changes; once the active stops, the standby takes over within the
// heartbeat-loss interval (6 s) with a higher epoch and sends a switch
// request to a VEM connected to it.
func TestPairFailover(t *testing.T) {
	a, b := newPair(t)
	a.start(t)
	b.start(t)
	sa := waitStatus(t, a, 15*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby })
	sb := waitStatus(t, b, 5*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })
	if sa.Role != config.RolePrimary || sb.Role != config.RoleSecondary || sb.Peer.Name != "vsm-a" || sb.Peer.State != "active" {
		t.Fatalf("status: %+v / %+v", sa, sb)
	}
	ja, jb := contractJSON(t, a), contractJSON(t, b)
	if ja["state"] != "active" || jb["state"] != "standby" || ja["internalState"] != "Active with HA standby" {
		t.Fatalf("contract: %v / %v", ja, jb)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	supervisors(t, a, "1 vsm-a active true,2 vsm-b ha-standby false")
	supervisors(t, b, "1 vsm-a active false,2 vsm-b ha-standby true")
	res, err := a.client.Apply(ctx, []byte(pairNetwork), netdef.YAML)
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledged: the standby holds it already.
	segs, err := b.client.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if segs.Generation != res.Generation || len(segs.Segments) != 1 || segs.Segments[0].Name != "web" {
		t.Fatalf("standby at generation %d with %+v, the active acknowledged generation %d", segs.Generation, segs.Segments, res.Generation)
	}
	// Writes that make no generation, such as a module number, are
	// replicated too.
	if _, err := a.sup.Store().AssignModule("hv9", 9, "198.51.100.9"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs, err := b.sup.Store().ModuleRecords()
		if err == nil && slices.ContainsFunc(recs, func(r store.ModuleRecord) bool { return r.Host == "hv9" && r.Module == 9 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("module of hv9 not replicated: %+v, %v", recs, err)
		}
	}
	var ae *api.Error
	if _, err := b.client.Apply(ctx, []byte(pairNetwork), netdef.YAML); !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("a change on the standby: %v", err)
	}
	if _, err := b.client.Switchover(ctx); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("a switchover asked of the standby: %v", err)
	}

	// A VEM connected to the standby: heartbeats, no attach.
	conf, err := protocol.ClientTLS(protocol.TLSFiles{CA: b.cfg.TLS.CA, Cert: filepath.Join(filepath.Dir(b.cfg.TLS.CA), "hv1.pem"),
		Key: filepath.Join(filepath.Dir(b.cfg.TLS.CA), "hv1-key.pem")}, protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	s, err := protocol.Dial(ctx, b.cfg.Listen, protocol.ClientConfig{Domain: 100, TLS: conf,
		Host: &spec.Switch{Host: "hv1", Uplink: "eth0", VTEP: &spec.VTEP{Address: "198.51.100.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The standby does not attach it: two of its heartbeats and no
	// AttachAccepted.
	if err := s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
		t.Fatal(err)
	}
	for heartbeats := 0; heartbeats < 2; {
		ev, err := s.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case *protocol.Heartbeat:
			if e.GetState() != protocol.State_STATE_STANDBY {
				t.Fatalf("the standby heartbeats %v", e)
			}
			heartbeats++
		case *protocol.AttachAccepted:
			t.Fatalf("the standby attached the VEM: %v", e)
		}
	}

	a.stop()
	stopped := time.Now()
	var sr *protocol.SwitchRequest
	for sr == nil {
		ev, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for the switch request: %v", err)
		}
		sr, _ = ev.(*protocol.SwitchRequest)
	}
	took := time.Since(stopped)
	t.Logf("active stopped → switch request from %s at epoch %d: %v", sr.GetName(), sr.GetEpoch(), took)
	if err := s.RequestAttach(protocol.AttachReason_ATTACH_REASON_SWITCH_REQUEST); err != nil {
		t.Fatal(err)
	}
	for attached := false; !attached; {
		ev, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for the attach: %v", err)
		}
		if acc, ok := ev.(*protocol.AttachAccepted); ok {
			if acc.GetName() != "vsm-b" || acc.GetEpoch() != sr.GetEpoch() || acc.GetModule() < 3 {
				t.Fatalf("attach accepted %v", acc)
			}
			attached = true
		}
	}
	if sr.GetName() != "vsm-b" || sr.GetEpoch() <= sa.Epoch {
		t.Fatalf("switch request %v, the old active's epoch %d", sr, sa.Epoch)
	}
	// Within the loss interval (6 s) and a heartbeat or so of the last
	// one heard.
	if took > config.MinHeartbeatLossInterval+1500*time.Millisecond {
		t.Fatalf("takeover took %v", took)
	}
	sb = waitStatus(t, b, 2*time.Second, func(s ha.Status) bool { return s.State == ha.Active })
	if sb.Epoch != sr.GetEpoch() || sb.Peer.State != ha.PeerAbsent || sb.InternalState != ha.InternalActiveNoStandby {
		t.Fatalf("the new active: %+v", sb)
	}
	supervisors(t, b, "1 vsm-a absent false,2 vsm-b active true")
	jb = contractJSON(t, b)
	if jb["state"] != "active" || jb["epoch"].(float64) != float64(sr.GetEpoch()) {
		t.Fatalf("contract: %v", jb)
	}
	// The new active accepts changes, and holds the old one's.
	segs, err = b.client.Segments(ctx)
	if err != nil || !slices.ContainsFunc(segs.Segments, func(s spec.Segment) bool { return s.Name == "web" }) {
		t.Fatalf("segments on the new active: %+v, %v", segs, err)
	}
	if _, err := b.client.Apply(ctx, []byte(pairNetwork), netdef.YAML); err != nil {
		t.Fatal(err)
	}
}

// TestPairSwitchover: a manual switchover makes the standby active and
// the former active its HA standby, which then follows the new active's
// changes; a second switchover before that is refused with the guide's
// message.
func TestPairSwitchover(t *testing.T) {
	a, b := newPair(t)
	a.start(t)
	b.start(t)
	sa := waitStatus(t, a, 15*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if _, err := a.client.Switchover(ctx); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if _, err := a.client.Switchover(ctx); !errors.As(err, &ae) || ae.Status != http.StatusConflict ||
		ae.Message != ha.ErrStandbyNotReady.Error() && ae.Message != ha.ErrNotActive.Error() {
		t.Fatalf("a second switchover: %v", err)
	}
	sb := waitStatus(t, b, 10*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby })
	if sb.Epoch <= sa.Epoch {
		t.Fatalf("epoch %d after the switchover, %d before", sb.Epoch, sa.Epoch)
	}
	waitStatus(t, a, 5*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })
	res, err := b.client.Apply(ctx, []byte(pairNetwork), netdef.YAML)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := a.client.Segments(ctx)
	if err != nil || segs.Generation != res.Generation || len(segs.Segments) != 1 {
		t.Fatalf("the new standby: %+v, %v; the active acknowledged generation %d", segs, err, res.Generation)
	}
}

// TestStandaloneRedundancy: a standalone VSM is active with no standby and
// refuses a switchover with the guide's message.
func TestStandaloneRedundancy(t *testing.T) {
	apiLn := listen(t)
	cfg := &config.Config{Name: "vsm-a", Domain: 100, Role: config.RoleStandalone, API: apiLn.Addr().String(), DataDir: t.TempDir()}
	sup, err := vsm.New(cfg, nil, vsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Serve(ctx, apiLn, nil) }()
	defer func() { cancel(); <-done }()
	m := &member{name: "vsm-a", cfg: cfg, client: api.NewClient(cfg.API)}
	st := waitStatus(t, m, 5*time.Second, func(s ha.Status) bool { return s.State == ha.Active })
	if st.Role != config.RoleStandalone || st.InternalState != ha.InternalActiveNoStandby || st.Peer.State != ha.PeerAbsent || st.Epoch < 1 {
		t.Fatalf("status %+v", st)
	}
	var ae *api.Error
	if _, err := m.client.Switchover(ctx); !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Message != "Failed to switchover (standby not ready to takeover)" {
		t.Fatalf("switchover: %v", err)
	}
	// A paired role needs a control path.
	if _, err := m.client.SetRole(ctx, config.RolePrimary); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("set role primary without control: %v", err)
	}
	r, err := m.client.SetRole(ctx, config.RoleStandalone)
	if err != nil || r.NextBoot != config.RoleStandalone {
		t.Fatalf("set role: %+v, %v", r, err)
	}
}

// relisten opens m's listeners again on the same addresses, for a
// restart.
func (m *member) relisten(t *testing.T) {
	t.Helper()
	var lns []net.Listener
	for _, addr := range []string{m.cfg.API, m.cfg.Listen, m.cfg.Control.Address, m.cfg.Management.Address} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	m.l = vsm.Listeners{API: lns[0], VEM: lns[1], Control: lns[2], Management: lns[3]}
}

// TestStandbyResynchronises: a change the active accepts while its
// standby is down is answered within the replication timeout (the
// active waits for a stable standby it still hears to follow again, as
// it does when the control path goes), not replicated, and the standby
// holds it once it is back and stable again.
func TestStandbyResynchronises(t *testing.T) {
	a, b := newPair(t)
	a.start(t)
	b.start(t)
	waitStatus(t, a, 15*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalActiveHAStandby })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if _, err := a.client.Apply(ctx, []byte(pairNetwork), netdef.YAML); err != nil {
		t.Fatal(err)
	}
	b.stop()
	start := time.Now()
	res, err := a.client.Apply(ctx, []byte("segments:\n  - {name: db, type: vxlan, vni: 5001}\n"), netdef.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > pair.DefaultReplicationTimeout+time.Second {
		t.Fatalf("a change with the standby down took %v", took)
	}
	b.relisten(t)
	b.start(t)
	waitStatus(t, b, 15*time.Second, func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })
	segs, err := b.client.Segments(ctx)
	if err != nil || segs.Generation != res.Generation || len(segs.Segments) != 2 {
		t.Fatalf("the standby back: %+v, %v; the active is at generation %d", segs, err, res.Generation)
	}
}
