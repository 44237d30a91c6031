package ovs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The testdata files are ovs-appctl output captured from Open vSwitch 3.1
// negotiating with vem's lacp.Runner (system 32768,02:76:65:6d:00:01, key
// 11), before and after p1 was set down.

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseLACPShowNegotiated(t *testing.T) {
	st, err := ParseLACPShow(readTestdata(t, "lacp-show-negotiated.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Bond != "bond0" || !st.Active || !st.Negotiated || !st.Fast || st.AggregationKey != 1 {
		t.Errorf("header = bond %q active %v negotiated %v fast %v key %d, want bond0 true true true 1",
			st.Bond, st.Active, st.Negotiated, st.Fast, st.AggregationKey)
	}
	if got, want := st.System.String(), "65534,62:3d:4b:25:f6:48"; got != want {
		t.Errorf("System = %s, want %s", got, want)
	}
	if len(st.Members) != 2 {
		t.Fatalf("%d members, want 2", len(st.Members))
	}
	bundled := StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing
	for i, name := range []string{"p1", "p2"} {
		m, ok := st.Member(name)
		if !ok {
			t.Fatalf("no member %s", name)
		}
		port := uint16(i + 1)
		if m.Status != MemberCurrent || !m.Attached || !m.MayEnable || m.PortID != port || m.PortPriority != 65535 {
			t.Errorf("%s = %+v, want current, attached, may_enable, port %d priority 65535", name, m, port)
		}
		wantActor := Info{System: st.System, Key: 1, Port: port, PortPriority: 65535, State: bundled}
		if m.Actor.System.String() != wantActor.System.String() || m.Actor.Key != 1 || m.Actor.Port != port ||
			m.Actor.PortPriority != 65535 || m.Actor.State != bundled {
			t.Errorf("%s actor = %+v, want %+v", name, m.Actor, wantActor)
		}
		if got, want := m.Partner.System.String(), "32768,02:76:65:6d:00:01"; got != want {
			t.Errorf("%s partner system = %s, want %s", name, got, want)
		}
		if m.Partner.Key != 11 || m.Partner.Port != port || m.Partner.PortPriority != 32768 || m.Partner.State != bundled {
			t.Errorf("%s partner = %+v, want key 11 port %d priority 32768 state %v", name, m.Partner, port, bundled)
		}
	}
	if _, ok := st.Member("p3"); ok {
		t.Error("Member(p3) found a member that is not there")
	}
}

func TestParseLACPShowMemberDown(t *testing.T) {
	st, err := ParseLACPShow(readTestdata(t, "lacp-show-member-down.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := st.Member("p1")
	if p1.Status != MemberExpired || !p1.Attached || p1.MayEnable {
		t.Errorf("p1 = %s attached %v may_enable %v, want expired, attached, not may_enable", p1.Status, p1.Attached, p1.MayEnable)
	}
	if !p1.Actor.State.Has(StateExpired) || p1.Partner.State.Has(StateSynchronization) {
		t.Errorf("p1 actor state %q, partner state %q: want the actor expired and the partner out of sync", p1.Actor.State, p1.Partner.State)
	}
	if p2, _ := st.Member("p2"); p2.Status != MemberCurrent || !p2.MayEnable {
		t.Errorf("p2 = %s may_enable %v, want current and may_enable", p2.Status, p2.MayEnable)
	}
}

func TestParseLACPShowNoPartner(t *testing.T) {
	out := `---- bond1 ----
  status: passive
  sys_id: 62:3d:4b:25:f6:48
  sys_priority: 65534
  aggregation key: none
  lacp_time: slow

member: p3: defaulted detached
  port_id: 3
  port_priority: 65535
  may_enable: false

  actor sys_id: 62:3d:4b:25:f6:48
  actor state: aggregation defaulted

  partner sys_id: 00:00:00:00:00:00
  partner state:
`
	st, err := ParseLACPShow(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active || st.Negotiated || st.Fast || st.AggregationKey != 0 {
		t.Errorf("header = active %v negotiated %v fast %v key %d, want passive, not negotiated, slow, none",
			st.Active, st.Negotiated, st.Fast, st.AggregationKey)
	}
	m, _ := st.Member("p3")
	if m.Status != MemberDefaulted || m.Attached || m.Actor.State != StateAggregation|StateDefaulted || m.Partner.State != 0 {
		t.Errorf("p3 = %+v, want defaulted, detached, actor state aggregation+defaulted, partner state empty", m)
	}
	if got := m.Partner.State.String(); got != "none" {
		t.Errorf("empty state prints %q, want none", got)
	}
}

func TestParseLACPShowRejectsMalformed(t *testing.T) {
	for name, out := range map[string]string{
		"empty":          "",
		"no header":      "  status: active\n",
		"two bonds":      "---- bond0 ----\n---- bond1 ----\n",
		"unknown status": "---- bond0 ----\nmember: p1: confused attached\n",
		"bad attachment": "---- bond0 ----\nmember: p1: current glued\n",
		"short member":   "---- bond0 ----\nmember: p1: current\n",
		"bad state":      "---- bond0 ----\nmember: p1: current attached\n  actor state: activity sleepy\n",
		"bad number":     "---- bond0 ----\nmember: p1: current attached\n  partner key: 70000\n",
		"bad MAC":        "---- bond0 ----\n  sys_id: 62:3d\n",
	} {
		if _, err := ParseLACPShow(out); err == nil {
			t.Errorf("%s: no error for %q", name, out)
		}
	}
}

func TestStateStringRoundTrips(t *testing.T) {
	for s := range 256 {
		st := State(s)
		if st == 0 {
			continue
		}
		got, err := parseState(st.String())
		if err != nil || got != st {
			t.Errorf("parseState(%q) = %v, %v; want %v", st.String(), got, err, st)
		}
	}
}

func TestParseBondShow(t *testing.T) {
	st, err := ParseBondShow(readTestdata(t, "bond-show-negotiated.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Bond != "bond0" || st.Mode != "balance-tcp" || st.LACP != "negotiated" {
		t.Errorf("bond %q mode %q lacp %q, want bond0 balance-tcp negotiated", st.Bond, st.Mode, st.LACP)
	}
	if got := st.Fields["active member mac"]; got != "9a:3f:4b:e0:c5:ab(p2)" {
		t.Errorf(`Fields["active member mac"] = %q`, got)
	}
	if got := st.Enabled(); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Errorf("Enabled() = %v, want [p1 p2]", got)
	}
	p1, _ := st.Member("p1")
	p2, _ := st.Member("p2")
	if p1.Active || !p1.MayEnable || !p2.Active || !p2.MayEnable {
		t.Errorf("p1 = %+v, p2 = %+v: want both may_enable, p2 the active member", p1, p2)
	}

	down, err := ParseBondShow(readTestdata(t, "bond-show-member-down.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := down.Enabled(); !slices.Equal(got, []string{"p2"}) {
		t.Errorf("after p1 down Enabled() = %v, want [p2]", got)
	}
	if p1, _ := down.Member("p1"); p1.Enabled || p1.MayEnable {
		t.Errorf("after p1 down p1 = %+v, want disabled", p1)
	}
}

func TestParseBondShowHashes(t *testing.T) {
	// The member block of a balanced bond that has carried traffic.
	out := `---- bond0 ----
bond_mode: balance-slb
lacp_status: off

member eno1: enabled
  active member
  may_enable: true
  hash 77: 22327 kB load
  hash 200: 0 kB load

member eno2: disabled
  updelay expires in 150 ms
  may_enable: false
`
	st, err := ParseBondShow(out)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Member("eno1")
	if want := []BondHash{{77, 22327}, {200, 0}}; !slices.Equal(m.Hashes, want) {
		t.Errorf("eno1 hashes = %v, want %v", m.Hashes, want)
	}
	if st.LACP != "off" || st.Mode != "balance-slb" {
		t.Errorf("lacp %q mode %q", st.LACP, st.Mode)
	}
	for name, bad := range map[string]string{
		"no header":  "bond_mode: active-backup\n",
		"bad member": "---- bond0 ----\nmember eno1: sleeping\n",
		"bad hash":   "---- bond0 ----\nmember eno1: enabled\n  hash x: 1 kB load\n",
	} {
		if _, err := ParseBondShow(bad); err == nil {
			t.Errorf("%s: no error for %q", name, bad)
		}
	}
}
