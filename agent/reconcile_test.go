package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/portchannel"
)

// localHead has two local segments, so no uplink is involved.
const localHead = `
host: hv1
segments:
  - {name: red, type: local}
  - {name: blue, type: local}
profiles:
  - {name: secure, portSecurity: true}
  - {name: shut, adminDown: true}
  - {name: open}
ports:
`

// The vEths of localYAML: tap-a (12) and tap-b (11) on red, tap-c (10)
// on blue.
const (
	portA = `  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: red, profile: secure}` + "\n"
	portB = `  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: red, profile: secure}` + "\n"
	portC = `  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: blue, profile: open}` + "\n"
)

const localYAML = localHead + portA + portB + portC

// fullYAML uses every kind of segment the datapath switches to, over a
// static port-channel.
const fullYAML = `
host: hv1
uplink: po1
vtep: {address: 198.51.100.1}
portChannels:
  - {name: po1, mode: static, hash: src-dst-ip, members: [{interface: eth1}, {interface: eth2}]}
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: mgmt, type: flat}
  - {name: db, type: vxlan, vni: 5001, vteps: [198.51.100.2, 198.51.100.3]}
  - {name: lab, type: local}
profiles:
  - {name: secure, portSecurity: true}
  - {name: shut, adminDown: true}
  - {name: open}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web, profile: secure}
  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: web, profile: open}
  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: mgmt, profile: shut}
  - {interface: tap-d, mac: "52:54:00:00:00:0d", segment: db, profile: open}
  - {interface: tap-e, mac: "52:54:00:00:00:0e", segment: lab, profile: open}
`

// sortRuns sorts each run of writes of the same operation: apply walks
// maps, so the order within a run is arbitrary, while the order of the
// runs is the reconciler's contract.
func sortRuns(writes []string) []string {
	out := slices.Clone(writes)
	op := func(w string) string { return strings.Fields(w)[0] }
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && op(out[j]) == op(out[i]) {
			j++
		}
		slices.Sort(out[i:j])
		i = j
	}
	return out
}

// writeIndex returns the position of the first write starting with
// prefix, or -1.
func writeIndex(writes []string, prefix string) int {
	return slices.IndexFunc(writes, func(w string) bool { return strings.HasPrefix(w, prefix) })
}

// samePort compares entries as the port table stores them, where a MAC
// is always six bytes.
func samePort(a, b bpf.Port) bool {
	pad := func(m []byte) []byte { return append(bytes.Clone(m), make([]byte, 6-len(m))...) }
	a.MAC, b.MAC = pad(a.MAC), pad(b.MAC)
	return portEqual(a, b)
}

func TestApplyFirstWritesEverything(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	p := a.apply(t, fullYAML)
	w := dp.writes

	if len(dp.ports) != len(p.ports) {
		t.Errorf("port table has %d entries, plan %d", len(dp.ports), len(p.ports))
	}
	for ifindex, pi := range p.ports {
		if got, ok := dp.ports[ifindex]; !ok || !samePort(got, pi.Entry) {
			t.Errorf("port %s = %+v, want %+v", pi.Iface, got, pi.Entry)
		}
		if dp.links[ifindex] != pi.Kind {
			t.Errorf("port %s: attached as %s, want %s", pi.Iface, dp.links[ifindex], pi.Kind)
		}
		if !a.e.rec.linked[ifindex] {
			t.Errorf("port %s not recorded as linked", pi.Iface)
		}
		// Each port once: a fresh slot's counters are zeroed, its entry
		// written and its program attached.
		for _, want := range []string{
			fmt.Sprintf("ResetCounters %d", pi.Entry.Slot),
			fmt.Sprintf("SetPort %d", ifindex),
			fmt.Sprintf("Attach %d %s", ifindex, pi.Kind),
		} {
			if n := countWrites(w, want); n != 1 {
				t.Errorf("%q written %d times, want once", want, n)
			}
		}
	}
	// Programs go on last: a new port's first frame finds every table
	// it needs.
	firstAttach := writeIndex(w, "Attach")
	for i, x := range w {
		if !strings.HasPrefix(x, "Attach") && i > firstAttach {
			t.Errorf("%q written after the first attach:\n%s", x, strings.Join(w, "\n"))
		}
	}
	if len(dp.segments) != len(p.segments) {
		t.Errorf("segment table has %d entries, plan %d", len(dp.segments), len(p.segments))
	}
	for id, s := range p.segments {
		if got := dp.segments[id]; !segmentEqual(got, s) {
			t.Errorf("segment %s = %+v, want %+v", p.segNames[id], got, s)
		}
	}
	ids := segmentIDs(mustParse(t, fullYAML), nil)
	if want := map[uint16]uint32{100: ids["web"], 0: ids["mgmt"]}; !maps.Equal(dp.vlans, want) {
		t.Errorf("VLAN map = %v, want %v", dp.vlans, want)
	}
	if want := map[uint32]uint32{5001: ids["db"]}; !maps.Equal(dp.vnis, want) {
		t.Errorf("VNI map = %v, want %v", dp.vnis, want)
	}
	if dp.uplink != nil {
		t.Errorf("uplink written before the port-channel reported: %+v", dp.uplink)
	}
	both := []string{"eth1", "eth2"}
	if err := a.e.ChannelChanged(portchannel.State{Distributing: both, Collecting: both}); err != nil {
		t.Fatal(err)
	}
	p = a.e.view().plan
	if dp.uplink == nil || dp.uplink.Hash != p.uplink.Hash || len(p.uplink.Members) != 2 || !slices.Equal(dp.uplink.Members, p.uplink.Members) {
		t.Errorf("uplink = %+v, want %+v", dp.uplink, p.uplink)
	}
	if dp.settings == nil || *dp.settings != p.settings {
		t.Errorf("settings = %+v, want %+v", dp.settings, p.settings)
	}

	// A port's entry must never name a segment the table lacks.
	lastSeg, firstPort := -1, writeIndex(w, "SetPort")
	for i, x := range w {
		if strings.HasPrefix(x, "SetSegment") {
			lastSeg = i
		}
	}
	if lastSeg > firstPort {
		t.Errorf("a segment was written after a port:\n%s", strings.Join(w, "\n"))
	}
	for _, op := range []string{"Detach", "DeletePort", "DeleteSegment", "DeleteVNI", "DeleteUplink", "DeleteMACs"} {
		if i := writeIndex(w, op); i >= 0 {
			t.Errorf("first apply on an empty datapath wrote %q", w[i])
		}
	}
}

func countWrites(writes []string, w string) int {
	n := 0
	for _, x := range writes {
		if x == w {
			n++
		}
	}
	return n
}

// TestApplyUnchangedWritesNothing is the guarantee that reloading a
// configuration does not disturb the ports it did not change.
func TestApplyUnchangedWritesNothing(t *testing.T) {
	tests := []struct {
		name          string
		first, second string
	}{
		{"local segments", localYAML, localYAML},
		{"file reordered", localYAML, strings.Replace(localHead, `
  - {name: red, type: local}
  - {name: blue, type: local}`, `
  - {name: blue, type: local}
  - {name: red, type: local}`, 1) + portC + portB + portA},
		// Fails while uplink member entries are planned with a nil MAC:
		// the port table reads back six zero bytes, so portEqual never
		// matches and every reload rewrites every uplink member.
		{"vlan, flat, vxlan and local over a port-channel", fullYAML, fullYAML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFakeDatapath()
			a := newTestAgent(t, dp)
			a.apply(t, tt.first)
			a.apply(t, tt.second)
			if len(dp.writes) != 0 {
				t.Errorf("second apply wrote:\n%s", strings.Join(dp.writes, "\n"))
			}
		})
	}
}

// TestApplyUnchangedSettingsNotRewritten: the reconciler promises to
// write only what differs, and the global settings are written on every
// apply today (bpf.Datapath has no reader for them to compare with).
func TestApplyUnchangedSettingsNotRewritten(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	before := dp.settingsWrites
	a.apply(t, localYAML)
	if n := dp.settingsWrites - before; n != 0 {
		t.Errorf("unchanged configuration rewrote the settings %d times", n)
	}
}

func TestApplyChangedPort(t *testing.T) {
	ids := segmentIDs(mustParse(t, localYAML), nil)
	red, blue := ids["red"], ids["blue"]
	tests := []struct {
		name  string
		yaml  string
		want  []string // writes, runs of one operation sorted
		port  int      // the changed port
		check func(bpf.Port) bool
		macs  []int // ports whose MACs remain
	}{
		{
			name: "admin down",
			yaml: localHead + portA + strings.Replace(portB, "secure", "shut", 1) + portC,
			want: []string{fmt.Sprintf("SetSegment %d [12]", red), "SetPort 11",
				fmt.Sprintf("DeleteStaticMAC %d 52:54:00:00:00:0b", red), "DeleteMACs"},
			port: 11, check: func(p bpf.Port) bool { return p.Down },
			macs: []int{10, 12, 12},
		},
		{
			name: "port security on",
			yaml: localHead + portA + portB + strings.Replace(portC, "profile: open", "profile: secure", 1),
			// The learned entry of the MAC that turned static goes.
			want: []string{"SetPort 10", fmt.Sprintf("SetStaticMAC %d 52:54:00:00:00:0c 10", blue),
				fmt.Sprintf("DeleteMAC %d 52:54:00:00:00:0c", blue)},
			port: 10, check: func(p bpf.Port) bool { return p.Secure },
			macs: []int{11, 11, 12, 12},
		},
		{
			name: "moved segment",
			yaml: localHead + portA + portB + strings.Replace(portC, "blue", "red", 1),
			want: sortRuns([]string{
				fmt.Sprintf("SetSegment %d []", blue), fmt.Sprintf("SetSegment %d [10 11 12]", red),
				"SetPort 10", "DeleteMACs",
			}),
			port: 10, check: func(p bpf.Port) bool { return p.Segment == red },
			macs: []int{11, 11, 12, 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFakeDatapath()
			a := newTestAgent(t, dp)
			a.apply(t, localYAML)
			dp.learn(red, "52:54:00:00:00:0a", 12)
			dp.learn(red, "52:54:00:00:01:0a", 12)
			dp.learn(red, "52:54:00:00:00:0b", 11)
			dp.learn(red, "52:54:00:00:01:0b", 11)
			dp.learn(blue, "52:54:00:00:00:0c", 10)

			a.apply(t, tt.yaml)
			if got := sortRuns(dp.writes); !slices.Equal(got, tt.want) {
				t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !tt.check(dp.ports[tt.port]) {
				t.Errorf("port %d = %+v, change not written", tt.port, dp.ports[tt.port])
			}
			if got := dp.macIfindexes(); !slices.Equal(got, tt.macs) {
				t.Errorf("MACs left on ports %v, want %v", got, tt.macs)
			}
		})
	}
}

func TestApplyRemovedPort(t *testing.T) {
	red := segmentIDs(mustParse(t, localYAML), nil)["red"]
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	dp.learn(red, "52:54:00:00:00:0a", 12)
	dp.learn(red, "52:54:00:00:00:0b", 11)

	a.apply(t, localHead+portA+portC)
	want := []string{fmt.Sprintf("SetSegment %d [12]", red), fmt.Sprintf("DeleteStaticMAC %d 52:54:00:00:00:0b", red),
		"Detach 11", "DeletePort 11", "DeleteMACs"}
	if !slices.Equal(dp.writes, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(dp.writes, "\n"), strings.Join(want, "\n"))
	}
	// A flood racing the removal must not find the port in the list
	// after its entry is gone.
	if seg, del := writeIndex(dp.writes, "SetSegment"), writeIndex(dp.writes, "DeletePort 11"); seg < 0 || del < 0 || seg > del {
		t.Errorf("segment written at %d, port deleted at %d: the segment must go first", seg, del)
	}
	if _, ok := dp.ports[11]; ok {
		t.Error("port 11 still in the port table")
	}
	if _, ok := dp.links[11]; ok {
		t.Error("port 11 still attached")
	}
	if a.e.rec.linked[11] {
		t.Error("port 11 still recorded as linked")
	}
	if got := dp.macIfindexes(); !slices.Equal(got, []int{12}) {
		t.Errorf("MACs left on ports %v, want [12]", got)
	}

	// The freed slot goes to the next port, Vethernet numbers stay dense.
	p := a.apply(t, localHead+portA+portC+strings.ReplaceAll(portB, "tap-b", "tap-d"))
	if got := p.ports[13].Entry.Slot; got != 2 {
		t.Errorf("new port got slot %d, want the freed slot 2", got)
	}
}

func TestApplyRemovedSegment(t *testing.T) {
	const head = `
host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
segments:
  - {name: web, type: vlan, vlan: 100}
`
	const keep = `ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web}
`
	tests := []struct {
		name    string
		segment string
		unmap   string // the write that unmaps it from the wire, if any
	}{
		{"vlan", "{name: gone, type: vlan, vlan: 200}", "SetVLAN 200 0"},
		{"flat", "{name: gone, type: flat}", "SetVLAN 0 0"},
		{"vxlan", "{name: gone, type: vxlan, vni: 5001, vteps: [198.51.100.2]}", "DeleteVNI 5001"},
		{"local", "{name: gone, type: local}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head + "  - " + tt.segment + "\n" + keep +
				`  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: gone}` + "\n"
			ids := segmentIDs(mustParse(t, before), nil)
			web, gone := ids["web"], ids["gone"]
			dp := newFakeDatapath()
			a := newTestAgent(t, dp)
			a.apply(t, before)
			dp.learn(web, "52:54:00:00:00:0a", 12)
			dp.learn(web, "52:54:00:00:00:01", 2) // remote, behind the uplink
			dp.learn(gone, "52:54:00:00:00:0b", 11)
			dp.learn(gone, "52:54:00:00:00:02", 2)

			a.apply(t, head+keep)
			del := writeIndex(dp.writes, fmt.Sprintf("DeleteSegment %d", gone))
			if del < 0 {
				t.Fatalf("segment not deleted; writes:\n%s", strings.Join(dp.writes, "\n"))
			}
			if _, ok := dp.segments[gone]; ok {
				t.Error("segment still in the table")
			}
			if tt.unmap != "" {
				// Frames from the wire must stop reaching the segment
				// before it goes.
				if i := writeIndex(dp.writes, tt.unmap); i < 0 || i > del {
					t.Errorf("%q at %d, segment deleted at %d; writes:\n%s", tt.unmap, i, del, strings.Join(dp.writes, "\n"))
				}
			}
			if _, ok := dp.vlans[200]; ok {
				t.Error("VLAN 200 still mapped")
			}
			if _, ok := dp.vlans[0]; ok {
				t.Error("untagged frames still mapped")
			}
			if len(dp.vnis) != 0 {
				t.Errorf("VNIs still mapped: %v", dp.vnis)
			}
			for _, e := range dp.macs {
				if e.Segment == gone {
					t.Errorf("MAC %s (ifindex %d) of the removed segment kept", e.MAC, e.Ifindex)
				}
			}
			if got := dp.macIfindexes(); !slices.Equal(got, []int{2, 12}) {
				t.Errorf("MACs left on ports %v, want web's [2 12]", got)
			}
			for _, w := range dp.writes {
				if strings.Contains(w, fmt.Sprintf("Segment %d", web)) || strings.HasPrefix(w, "SetVLAN 100") {
					t.Errorf("kept segment web disturbed: %q", w)
				}
			}
		})
	}
}

// TestApplyRestartReattaches: a restarted agent finds the maps as it
// left them but must swap its own programs onto every port, once.
func TestApplyRestartReattaches(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)

	a.restart()
	a.apply(t, localYAML)
	want := []string{"Attach 10 veth", "Attach 11 veth", "Attach 12 veth"}
	if got := sortRuns(dp.writes); !slices.Equal(got, want) {
		t.Errorf("writes after restart:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	a.apply(t, localYAML)
	if len(dp.writes) != 0 {
		t.Errorf("third apply wrote:\n%s", strings.Join(dp.writes, "\n"))
	}
}

// TestApplyDetachesStrayLinks: a link pinned by an earlier agent for an
// interface that is no longer a port (its table entry already gone) is
// detached, so no stale program keeps switching its frames.
func TestApplyDetachesStrayLinks(t *testing.T) {
	dp := newFakeDatapath()
	dp.links[99] = bpf.PortVEth
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	if _, ok := dp.links[99]; ok {
		t.Errorf("stray link on ifindex 99 still attached; writes:\n%s", strings.Join(dp.writes, "\n"))
	}
	if countWrites(dp.writes, "Detach 99") != 1 {
		t.Errorf("Detach 99 written %d times, want once", countWrites(dp.writes, "Detach 99"))
	}
}

// TestApplyStaticMACs: each port-secured, up vEth's MAC is a static entry
// in its segment; it follows the port when it moves segment and goes when
// the port goes down, opens up or is removed.
func TestApplyStaticMACs(t *testing.T) {
	ids := segmentIDs(mustParse(t, localYAML), nil)
	red, blue := ids["red"], ids["blue"]
	key := func(seg uint32, mac string) staticKey {
		m, _ := net.ParseMAC(mac)
		return staticKeyOf(bpf.MACEntry{Segment: seg, MAC: m})
	}
	tests := []struct {
		name string
		yaml string
		want map[staticKey]int // static entry → ifindex
	}{
		{"secure ports only", localYAML, map[staticKey]int{
			key(red, "52:54:00:00:00:0a"): 12, key(red, "52:54:00:00:00:0b"): 11}},
		{"moved segment", localHead + portA + strings.Replace(portB, "red", "blue", 1) + portC, map[staticKey]int{
			key(red, "52:54:00:00:00:0a"): 12, key(blue, "52:54:00:00:00:0b"): 11}},
		{"admin down", localHead + portA + strings.Replace(portB, "secure", "shut", 1) + portC, map[staticKey]int{
			key(red, "52:54:00:00:00:0a"): 12}},
		{"port security off", localHead + portA + strings.Replace(portB, "profile: secure", "profile: open", 1) + portC, map[staticKey]int{
			key(red, "52:54:00:00:00:0a"): 12}},
		{"removed", localHead + portA + portC, map[staticKey]int{
			key(red, "52:54:00:00:00:0a"): 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFakeDatapath()
			a := newTestAgent(t, dp)
			a.apply(t, localYAML)
			a.apply(t, tt.yaml)
			got := map[staticKey]int{}
			for k, e := range dp.statics {
				got[k] = e.Ifindex
				if p := dp.ports[e.Ifindex]; e.Slot != p.Slot || e.Peer != p.Peer {
					t.Errorf("static %s: slot %d peer %v, port has slot %d peer %v", e.MAC, e.Slot, e.Peer, p.Slot, p.Peer)
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("static MACs %v, want %v", got, tt.want)
			}
		})
	}
}

// TestApplyStaticMACsAfterRestart: a restarted agent reads the static
// table once, removes entries no port has any more and keeps the rest.
func TestApplyStaticMACsAfterRestart(t *testing.T) {
	red := segmentIDs(mustParse(t, localYAML), nil)["red"]
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.apply(t, localYAML)
	stale := bpf.MACEntry{Segment: red, MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x99}, Ifindex: 99, Static: true}
	dp.statics[staticKeyOf(stale)] = stale

	a.restart()
	a.apply(t, localYAML)
	want := []string{fmt.Sprintf("DeleteStaticMAC %d %s", red, stale.MAC)}
	var got []string
	for _, w := range dp.writes {
		if strings.Contains(w, "StaticMAC") {
			got = append(got, w)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("static table writes %v, want %v", got, want)
	}
}

// TestApplyShadowedPurgeOutlivesFailedAttach: the learned entry of a MAC
// that became static goes once the programs are on, even when the apply
// that installed the static entry failed to attach a port.
func TestApplyShadowedPurgeOutlivesFailedAttach(t *testing.T) {
	red := segmentIDs(mustParse(t, localYAML), nil)["red"]
	dp := newFakeDatapath()
	dp.learn(red, "52:54:00:00:00:0a", 12) // learned by an older program
	dp.attachErr = errors.New("tcx attach failed")
	a := newTestAgent(t, dp)
	if err := a.e.Apply(context.Background(), Desired{Switch: mustParse(t, localYAML)}); err == nil {
		t.Fatal("apply succeeded with attach failing")
	}
	if got := dp.macIfindexes(); !slices.Equal(got, []int{12}) {
		t.Fatalf("learned entries on %v before the programs are on, want [12]", got)
	}
	dp.attachErr = nil
	a.apply(t, localYAML)
	if got := dp.macIfindexes(); len(got) != 0 {
		t.Errorf("learned entries left on %v, want the shadowed one gone", got)
	}
}
