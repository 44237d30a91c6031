package agent

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// fakeLinks resolves interface names from a table instead of netlink.
type fakeLinks map[string]Link

// Lookup wraps its error the way netlinkLinks does, so a missing
// interface is named in the message.
func (f fakeLinks) Lookup(name string) (Link, error) {
	l, ok := f[name]
	if !ok {
		return Link{}, fmt.Errorf("interface %s: %w", name, errNoInterface)
	}
	return l, nil
}

// fakeDatapath is an in-memory datapath. It keeps what the pinned maps
// would hold, reads back what bpf.Datapath reads back (a port's MAC is
// always six bytes, an empty flood list is nil, VLAN 0 mappings are
// absent), and records every write call in order.
type fakeDatapath struct {
	ports    map[int]bpf.Port
	segments map[uint32]bpf.Segment
	vlans    map[uint16]uint32
	vnis     map[uint32]uint32
	uplink   *bpf.Uplink
	settings *bpf.Settings
	// settingsWrites counts SetSettings calls apart from writes: the
	// global parameters are not a port's or segment's state.
	settingsWrites int
	links          map[int]bpf.PortKind // pinned tcx links
	macs           []bpf.MACEntry
	statics        map[staticKey]bpf.MACEntry
	writes         []string
	attachErr      error // Attach fails with it when set
	setPortErr     error // SetPort fails with it when set
	setPortErrOn   int   // ... only for this ifindex, unless 0
	bindings       map[uint16][]bpf.AddressBinding
}

var _ datapath = (*fakeDatapath)(nil)

func newFakeDatapath() *fakeDatapath {
	return &fakeDatapath{
		ports:    map[int]bpf.Port{},
		segments: map[uint32]bpf.Segment{},
		vlans:    map[uint16]uint32{},
		vnis:     map[uint32]uint32{},
		links:    map[int]bpf.PortKind{},
		statics:  map[staticKey]bpf.MACEntry{},
	}
}

func (f *fakeDatapath) record(format string, args ...any) {
	f.writes = append(f.writes, fmt.Sprintf(format, args...))
}

func (f *fakeDatapath) Ports() ([]bpf.Port, error) {
	out := make([]bpf.Port, 0, len(f.ports))
	for _, p := range f.ports {
		p.MAC = slices.Clone(p.MAC)
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeDatapath) SetPort(p bpf.Port) error {
	f.record("SetPort %d", p.Ifindex)
	if f.setPortErr != nil && (f.setPortErrOn == 0 || f.setPortErrOn == p.Ifindex) {
		return f.setPortErr
	}
	if p.Slot == 0 || p.Slot >= bpf.MaxPorts {
		return fmt.Errorf("port ifindex %d: slot %d out of range", p.Ifindex, p.Slot)
	}
	// The map value holds a fixed 6-byte MAC.
	mac := make(net.HardwareAddr, 6)
	copy(mac, p.MAC)
	p.MAC = mac
	f.ports[p.Ifindex] = p
	return nil
}

func (f *fakeDatapath) DeletePort(ifindex int) error {
	f.record("DeletePort %d", ifindex)
	delete(f.ports, ifindex)
	return nil
}

func (f *fakeDatapath) Segments() ([]bpf.Segment, error) {
	out := make([]bpf.Segment, 0, len(f.segments))
	for _, s := range f.segments {
		s.Ports = slices.Clone(s.Ports)
		s.VTEPs = slices.Clone(s.VTEPs)
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeDatapath) SetSegment(s bpf.Segment) error {
	f.record("SetSegment %d %v", s.ID, floodIfindexes(s))
	if len(s.Ports) > bpf.MaxFlood {
		return fmt.Errorf("segment %d: too many ports", s.ID)
	}
	s.Ports = slices.Clone(s.Ports)
	if len(s.Ports) == 0 {
		s.Ports = nil
	}
	s.VTEPs = slices.Clone(s.VTEPs)
	if len(s.VTEPs) == 0 {
		s.VTEPs = nil
	}
	f.segments[s.ID] = s
	return nil
}

func (f *fakeDatapath) DeleteSegment(id uint32) error {
	f.record("DeleteSegment %d", id)
	delete(f.segments, id)
	return nil
}

func (f *fakeDatapath) VLANs() (map[uint16]uint32, error) {
	return maps.Clone(f.vlans), nil
}

func (f *fakeDatapath) SetVLAN(vid uint16, segment uint32) error {
	f.record("SetVLAN %d %d", vid, segment)
	if segment == 0 {
		delete(f.vlans, vid)
	} else {
		f.vlans[vid] = segment
	}
	return nil
}

func (f *fakeDatapath) VNIs() (map[uint32]uint32, error) {
	return maps.Clone(f.vnis), nil
}

func (f *fakeDatapath) SetVNI(vni, segment uint32) error {
	f.record("SetVNI %d %d", vni, segment)
	f.vnis[vni] = segment
	return nil
}

func (f *fakeDatapath) DeleteVNI(vni uint32) error {
	f.record("DeleteVNI %d", vni)
	delete(f.vnis, vni)
	return nil
}

func (f *fakeDatapath) SetSettings(s bpf.Settings) error {
	f.settingsWrites++
	f.settings = &s
	return nil
}

func (f *fakeDatapath) Uplink() (bpf.Uplink, error) {
	if f.uplink == nil {
		return bpf.Uplink{}, nil
	}
	return bpf.Uplink{Hash: f.uplink.Hash, Members: slices.Clone(f.uplink.Members)}, nil
}

func (f *fakeDatapath) SetUplink(u bpf.Uplink) error {
	f.record("SetUplink")
	u.Members = slices.Clone(u.Members)
	f.uplink = &u
	return nil
}

func (f *fakeDatapath) DeleteUplink() error {
	f.record("DeleteUplink")
	f.uplink = nil
	return nil
}

func (f *fakeDatapath) Attach(ifindex int, kind bpf.PortKind) error {
	if f.attachErr != nil {
		return f.attachErr
	}
	f.record("Attach %d %s", ifindex, kind)
	f.links[ifindex] = kind
	return nil
}

func (f *fakeDatapath) Detach(ifindex int) error {
	f.record("Detach %d", ifindex)
	delete(f.links, ifindex)
	return nil
}

func (f *fakeDatapath) Attached() ([]int, error) {
	out := make([]int, 0, len(f.links))
	for i := range f.links {
		out = append(out, i)
	}
	return out, nil
}

// DeleteMACs records a write only when it deleted something: scanning
// the table changes nothing.
func (f *fakeDatapath) DeleteMACs(drop func(bpf.MACEntry) bool) (int, error) {
	n := len(f.macs)
	f.macs = slices.DeleteFunc(f.macs, drop)
	if n != len(f.macs) {
		f.record("DeleteMACs")
	}
	return n - len(f.macs), nil
}

func (f *fakeDatapath) DeleteMAC(segment uint32, mac net.HardwareAddr) error {
	n := len(f.macs)
	f.macs = slices.DeleteFunc(f.macs, func(e bpf.MACEntry) bool {
		return e.Segment == segment && bytes.Equal(e.MAC, mac)
	})
	if n != len(f.macs) {
		f.record("DeleteMAC %d %s", segment, mac)
	}
	return nil
}

func (f *fakeDatapath) StaticMACs() ([]bpf.MACEntry, error) {
	return slices.Collect(maps.Values(f.statics)), nil
}

func (f *fakeDatapath) SetStaticMAC(e bpf.MACEntry) error {
	f.record("SetStaticMAC %d %s %d", e.Segment, e.MAC, e.Ifindex)
	e.Static = true
	f.statics[staticKeyOf(e)] = e
	return nil
}

func (f *fakeDatapath) DeleteStaticMAC(segment uint32, mac net.HardwareAddr) error {
	f.record("DeleteStaticMAC %d %s", segment, mac)
	delete(f.statics, staticKeyOf(bpf.MACEntry{Segment: segment, MAC: mac}))
	return nil
}

func (f *fakeDatapath) SetPortAddresses(slot uint16, bindings []bpf.AddressBinding) error {
	f.record("SetPortAddresses %d %v", slot, bindings)
	if f.bindings == nil {
		f.bindings = map[uint16][]bpf.AddressBinding{}
	}
	if len(bindings) == 0 {
		delete(f.bindings, slot)
	} else {
		f.bindings[slot] = bindings
	}
	return nil
}

func (f *fakeDatapath) ResetCounters(slot uint16) error {
	f.record("ResetCounters %d", slot)
	return nil
}

// learn adds a MAC entry as the datapath would on a frame from ifindex.
func (f *fakeDatapath) learn(segment uint32, mac string, ifindex int) {
	m, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	f.macs = append(f.macs, bpf.MACEntry{Segment: segment, MAC: m, Ifindex: ifindex})
}

// macIfindexes returns the ports MAC entries are held for, sorted.
func (f *fakeDatapath) macIfindexes() []int {
	var out []int
	for _, e := range f.macs {
		out = append(out, e.Ifindex)
	}
	slices.Sort(out)
	return out
}

func floodIfindexes(s bpf.Segment) []int {
	out := make([]int, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = p.Ifindex
	}
	return out
}

// testLinks is the host every test runs on: ifindexes deliberately out
// of the order the configurations list the interfaces in.
var testLinks = fakeLinks{
	"eth1":  {Index: 2, MTU: 9000, Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}},
	"eth2":  {Index: 3, MTU: 9000},
	"eth3":  {Index: 4, MTU: 1500, Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}},
	"tap-a": {Index: 12},
	"tap-b": {Index: 11, PeerInOtherNetns: true},
	"tap-c": {Index: 10},
	"tap-d": {Index: 13},
	"tap-e": {Index: 14},
}

// mustParse parses an operator's YAML.
func mustParse(t *testing.T, yaml string) *spec.Switch {
	t.Helper()
	cfg, err := spec.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("spec.Parse: %v\n%s", err, yaml)
	}
	return cfg
}

// testAgent drives the real Engine over a fake datapath, fake links and
// a fake forwarding sysctl.
type testAgent struct {
	t     testing.TB
	dp    *fakeDatapath
	links fakeLinks
	fwd   *fakeForwarding
	e     *Engine
	dir   string
}

func newTestAgent(t testing.TB, dp *fakeDatapath) *testAgent {
	a := &testAgent{t: t, dp: dp, links: testLinks, fwd: &fakeForwarding{on: map[string]bool{}}, dir: t.TempDir()}
	a.restart()
	return a
}

// restart models a new agent process on the same pinned maps: a new
// engine that adopts the port table's slots, nothing known to be linked.
func (a *testAgent) restart() {
	id, err := loadIdentity(filepath.Join(a.dir, "lacp-identity.json"))
	if err != nil {
		a.t.Fatal(err)
	}
	a.e = NewEngine(EngineOptions{Datapath: a.dp, Links: a.links, Limits: spec.DefaultLimits,
		Forwarding: a.fwd, Identity: id})
	ports, _ := a.dp.Ports()
	a.e.Adopt(ports)
}

// apply applies yaml through the engine and returns the plan it wrote.
// The write log is cleared first.
func (a *testAgent) apply(t *testing.T, yaml string) *plan {
	t.Helper()
	cfg := mustParse(t, yaml)
	a.dp.writes = nil
	if err := a.e.Apply(context.Background(), Desired{Switch: cfg}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return a.e.view().plan
}

// fakeForwarding is the forwarding sysctl of a test.
type fakeForwarding struct {
	on   map[string]bool
	fail error
}

func (f *fakeForwarding) Forwarding(iface string) (bool, error) { return f.on[iface], nil }
func (f *fakeForwarding) SetForwarding(iface string, on bool) error {
	if f.fail != nil {
		return f.fail
	}
	f.on[iface] = on
	return nil
}
