package agent

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/spec"
)

// vsmHostYAML is a VSM-mode file: host facts and the vsm section.
const vsmHostYAML = `
host: hv1
uplink: po1
vtep: {address: 198.51.100.1}
portChannels:
  - {name: po1, mode: lacp-active, members: [{interface: eth1}, {interface: eth2}]}
vsm:
  domain: 100
  addresses: [203.0.113.1:7443]
  tls: {ca: /ca.pem, cert: /hv1.pem, key: /hv1-key.pem}
`

// vsmNetwork is what a VSM sends: segments, profiles and this host's
// bound ports.
func vsmNetwork(t *testing.T, ports ...spec.Port) *spec.Switch {
	t.Helper()
	return &spec.Switch{
		Segments: []spec.Segment{
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001, VTEPs: []string{"198.51.100.2"}},
		},
		Profiles: []spec.Profile{{Name: "open"}},
		Ports:    ports,
	}
}

// newVSMAgent is an Agent in VSM mode over the test engine, without a
// DPA: the tests call its Applier as the DPA would.
func newVSMAgent(t *testing.T) (*Agent, *testAgent) {
	ta := newTestAgent(t, newFakeDatapath())
	a := &Agent{
		opts: Options{Clock: clock.System()}, log: zap.NewNop(), links: ta.links, engine: ta.e,
		store: attachedStore{path: filepath.Join(t.TempDir(), "attached-ports.json")},
		vsm:   &vsmMode{}, base: mustParse(t, vsmHostYAML),
	}
	if err := a.engine.Apply(context.Background(), a.desiredLocked(a.base, nil)); err != nil {
		t.Fatalf("host facts: %v", err)
	}
	return a, ta
}

// TestVSMApplierAppliesMergedConfiguration: a VSM configuration is
// applied merged with the file's host facts; a refused one leaves the
// running state and says so.
func TestVSMApplierAppliesMergedConfiguration(t *testing.T) {
	a, ta := newVSMAgent(t)
	ctx := context.Background()
	good := vsmNetwork(t, spec.Port{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web"})
	if err := (vsmApplier{a}).Apply(ctx, good); err != nil {
		t.Fatal(err)
	}
	if ta.dp.vlans[100] == 0 || ta.dp.vnis[5001] == 0 {
		t.Fatalf("VLAN 100 → %d, VNI 5001 → %d: the VSM's segments are not in the datapath", ta.dp.vlans[100], ta.dp.vnis[5001])
	}
	if p, ok := ta.dp.ports[12]; !ok || p.Segment != ta.dp.vlans[100] {
		t.Fatalf("tap-a %+v (present %v), want it on web", p, ok)
	}
	if v := a.engine.view(); v.sw.VTEP == nil || v.sw.Uplink != "po1" || v.sw.VSM != nil {
		t.Errorf("applied switch %+v lacks the file's host facts (or keeps its vsm section)", v.sw)
	}

	bad := vsmNetwork(t, spec.Port{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "nowhere"})
	ta.dp.writes = nil
	err := (vsmApplier{a}).Apply(ctx, bad)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("Apply(unknown segment) = %v, want refused naming it", err)
	}
	if len(ta.dp.writes) != 0 {
		t.Errorf("a refused configuration wrote %v", ta.dp.writes)
	}
	if a.vsm.network.Ports[0].Segment != "web" {
		t.Errorf("the refused configuration replaced the running one: %+v", a.vsm.network.Ports)
	}
}

// TestVSMAttachedPortsYieldToTheVSM: a port attached locally (served at
// once) is dropped from the attached ports when the VSM's configuration
// lists it, without leaving the datapath.
func TestVSMAttachedPortsYieldToTheVSM(t *testing.T) {
	a, ta := newVSMAgent(t)
	ctx := context.Background()
	if err := (vsmApplier{a}).Apply(ctx, vsmNetwork(t)); err != nil {
		t.Fatal(err)
	}
	port := spec.Port{Interface: "tap-b", MAC: "52:54:00:00:00:0b", Segment: "web"}
	a.mu.Lock()
	err := a.applyAttachedLocked(ctx, []spec.Port{port})
	a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ta.dp.ports[11]; !ok {
		t.Fatal("the attached port served locally is not in the datapath")
	}
	if err := (vsmApplier{a}).Apply(ctx, vsmNetwork(t, port)); err != nil {
		t.Fatal(err)
	}
	if len(a.attached) != 0 {
		t.Errorf("attached %+v after the VSM bound it, want none", a.attached)
	}
	if _, ok := ta.dp.ports[11]; !ok {
		t.Error("the port left the datapath when the VSM bound it")
	}
	for _, p := range a.engine.view().orphans {
		t.Errorf("orphaned %+v", p)
	}
}

// TestRemoteMACsBecomeStaticEntries: the VSM's remote MACs are static
// entries against their VTEP in their bridge domain's segment; unknown
// bridge domains are skipped, a local port's MAC stays local, and a MAC
// no longer distributed is removed.
func TestRemoteMACsBecomeStaticEntries(t *testing.T) {
	a, ta := newVSMAgent(t)
	ctx := context.Background()
	local := spec.Port{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "db"}
	if err := (vsmApplier{a}).Apply(ctx, vsmNetwork(t, local)); err != nil {
		t.Fatal(err)
	}
	macs := []headless.RemoteMAC{
		{VNI: 5001, MAC: "52:54:00:00:01:01", VTEP: "198.51.100.2"},
		{VNI: 5001, MAC: "52:54:00:00:00:0a", VTEP: "198.51.100.2"}, // tap-a's own
		{VNI: 7777, MAC: "52:54:00:00:01:02", VTEP: "198.51.100.3"}, // not a bridge domain of this host
	}
	if err := (vsmApplier{a}).SetRemoteMACs(ctx, macs); err != nil {
		t.Fatal(err)
	}
	seg := ta.dp.vnis[5001]
	remote := staticKey{segment: seg, mac: [6]byte{0x52, 0x54, 0, 0, 1, 1}}
	e, ok := ta.dp.statics[remote]
	if !ok || !e.Remote || e.VTEP != netip.MustParseAddr("198.51.100.2") || e.Ifindex != 2 {
		t.Fatalf("remote MAC entry %+v (present %v), want remote via 198.51.100.2 on eth1", e, ok)
	}
	own := ta.dp.statics[staticKey{segment: seg, mac: [6]byte{0x52, 0x54, 0, 0, 0, 0x0a}}]
	if own.Remote || own.Ifindex != 12 {
		t.Errorf("tap-a's MAC %+v, want its local static entry", own)
	}
	if n := len(ta.dp.statics); n != 2 {
		t.Errorf("%d static entries %v, want tap-a's and the remote one", n, ta.dp.statics)
	}

	// A reapplied configuration keeps them; an empty set removes them.
	if err := (vsmApplier{a}).Apply(ctx, vsmNetwork(t, local)); err != nil {
		t.Fatal(err)
	}
	if _, ok := ta.dp.statics[remote]; !ok {
		t.Error("a configuration update dropped the remote MACs")
	}
	if err := (vsmApplier{a}).SetRemoteMACs(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := ta.dp.statics[remote]; ok {
		t.Error("the remote MAC stayed after the VSM withdrew it")
	}
}

// TestRemoteMACUpdateRefused: a malformed remote MAC refuses the update
// and keeps the running set.
func TestRemoteMACUpdateRefused(t *testing.T) {
	a, ta := newVSMAgent(t)
	ctx := context.Background()
	if err := (vsmApplier{a}).Apply(ctx, vsmNetwork(t)); err != nil {
		t.Fatal(err)
	}
	good := []headless.RemoteMAC{{VNI: 5001, MAC: "52:54:00:00:01:01", VTEP: "198.51.100.2"}}
	if err := (vsmApplier{a}).SetRemoteMACs(ctx, good); err != nil {
		t.Fatal(err)
	}
	err := (vsmApplier{a}).SetRemoteMACs(ctx, []headless.RemoteMAC{{VNI: 5001, MAC: "52:54:00:00:01:01", VTEP: "2001:db8::1"}})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("SetRemoteMACs(IPv6 VTEP) = %v, want refused", err)
	}
	if len(a.vsm.remote) != 1 || len(ta.dp.statics) != 1 {
		t.Errorf("remote %v, statics %v after a refused update", a.vsm.remote, ta.dp.statics)
	}
}

// TestStandaloneDPAStatus: an agent without a vsm section says so.
func TestStandaloneDPAStatus(t *testing.T) {
	d, err := (&Agent{}).DPA(context.Background())
	if err != nil || d.Mode != "standalone" || d.VSMs == nil {
		t.Errorf("DPA() = %+v, %v, want standalone with an empty VSM list", d, err)
	}
}

// TestVSMReloadReappliesHostFacts: in VSM mode a reload of the file
// re-applies its host facts with the VSM's configuration; a changed vsm
// section needs a restart.
func TestVSMReloadReappliesHostFacts(t *testing.T) {
	a, ta := newVSMAgent(t)
	path := filepath.Join(t.TempDir(), "vem.yaml")
	a.opts.ConfigFile, a.file, a.cfg0 = path, fileSource{path: path}, a.base
	if err := (vsmApplier{a}).Apply(context.Background(), vsmNetwork(t,
		spec.Port{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web"})); err != nil {
		t.Fatal(err)
	}
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(vsmHostYAML, "vtep: {address: 198.51.100.1}", "vtep: {address: 198.51.100.1}\nmacAgeing: 60s", 1))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	v := a.engine.view()
	if time.Duration(v.sw.MACAgeing) != time.Minute || len(v.sw.Ports) != 1 || v.sw.Ports[0].Segment != "web" {
		t.Errorf("after the reload: macAgeing %v, ports %+v; want 1m and the VSM's tap-a", v.sw.MACAgeing, v.sw.Ports)
	}
	if _, ok := ta.dp.ports[12]; !ok {
		t.Error("the VSM's port left the datapath on a reload")
	}

	write(strings.Replace(vsmHostYAML, "domain: 100", "domain: 101", 1))
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Reload(changed vsm section) = %v, want a restart asked for", err)
	}
	write(vsmHostYAML + "segments:\n  - {name: web, type: vlan, vlan: 100}\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "segments: not allowed with vsm") {
		t.Errorf("Reload(file with segments) = %v, want refused naming segments", err)
	}
}
