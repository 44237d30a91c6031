package lacp

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// negotiated returns a net where A and B have bundled links eth1..ethn.
func negotiated(t *testing.T, links int) *testNet {
	t.Helper()
	n := newTestNet(t)
	n.add("A", testConfig(0xa, links))
	n.add("B", testConfig(0xb, links))
	n.bundle("A", "B", links)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", ethRange(1, links)...)
	n.wantMembers("B", ethRange(1, links)...)
	return n
}

// viaJSON returns c after a trip through JSON, as a persisted checkpoint
// comes back.
func viaJSON(t *testing.T, c Checkpoint) Checkpoint {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out Checkpoint
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return out
}

func TestCheckpointContents(t *testing.T) {
	n := negotiated(t, 2)
	n.carrier(end{"A", "eth2"}, false)
	c := n.aggs["A"].Checkpoint()
	b := n.aggs["B"].cfg

	if c.Version != CheckpointVersion || c.Name != "A" || c.System != n.aggs["A"].cfg.System || c.Key != 1 ||
		c.Partner != b.System || c.PartnerKey != b.Key || !c.Taken.Equal(n.clk.Now()) || len(c.Ports) != 2 {
		t.Fatalf("checkpoint %+v: want version %d of A towards B, taken now, two ports", c, CheckpointVersion)
	}
	p1, p2 := c.Ports[0], c.Ports[1]
	wantPartner := Info{System: b.System, Key: b.Key, Port: PortID{DefaultPortPriority, 1},
		State: StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing}
	if p1.Name != "eth1" || p1.Port != (PortID{DefaultPortPriority, 1}) || p1.Key != 1 || p1.Partner != wantPartner ||
		p1.Receive != "CURRENT" || !p1.Selected || !p1.Attached || !p1.CollectingDistributing ||
		!p1.LastPDU.Equal(n.portStatus("A", "eth1").LastPDU) || p1.LastPDU.IsZero() {
		t.Errorf("eth1 %+v: want bundled towards B port 1 (%+v)", p1, wantPartner)
	}
	if p2.Name != "eth2" || p2.Receive != "PORT_DISABLED" || p2.Selected || p2.Attached || p2.CollectingDistributing {
		t.Errorf("eth2 %+v: want down, not aggregated", p2)
	}
	if got := viaJSON(t, c); !reflect.DeepEqual(got, c) {
		t.Errorf("after JSON:\n%+v\nwant\n%+v", got, c)
	}
}

func TestStateText(t *testing.T) {
	for _, tc := range []struct {
		text string
		want State
		ok   bool
	}{
		{"ATGSCD..", StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing, true},
		{"..G...FE", StateAggregation | StateDefaulted | StateExpired, true},
		{"........", 0, true},
		{"ATGSCDFE", 0xff, true},
		{"TAGSCD..", 0, false}, // letters out of place
		{"ATGSCD.", 0, false},
		{"atgscd..", 0, false},
	} {
		var s State
		err := s.UnmarshalText([]byte(tc.text))
		switch {
		case tc.ok && err != nil:
			t.Errorf("UnmarshalText(%q): %v", tc.text, err)
		case !tc.ok && err == nil:
			t.Errorf("UnmarshalText(%q) = %s, want an error", tc.text, s)
		case tc.ok && s != tc.want:
			t.Errorf("UnmarshalText(%q) = %s, want %s", tc.text, s, tc.want)
		}
	}
}

// TestRestartKeepsPartnerBundle restarts A while B keeps running: resumed
// from its checkpoint, A reports its members at once and B's member set
// never shrinks; started afresh, both lose the bundle for the wait-while
// (the case the checkpoint exists for, to show the test can tell).
func TestRestartKeepsPartnerBundle(t *testing.T) {
	const links = 3
	all := ethRange(1, links)
	for _, tc := range []struct {
		name   string
		resume bool
	}{
		{"resumed", true},
		{"fresh", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := negotiated(t, links)
			before := len(n.historyOf("B"))
			cp := viaJSON(t, n.aggs["A"].Checkpoint())
			n.stop("A")
			n.clk.Advance(700 * time.Millisecond) // the agent restarting

			cfg := testConfig(0xa, links)
			if tc.resume {
				cfg.Resume = &cp
			}
			start := n.clk.Now()
			a := n.restart("A", cfg)
			if !tc.resume {
				n.raiseCabled("A")
				n.clk.Advance(10 * time.Second)
				n.wantMembers("A", all...)
				n.wantMembers("B", all...)
				if !slices.ContainsFunc(n.historyOf("B")[before:], func(m []string) bool { return len(m) < links }) {
					t.Errorf("B's members %v never shrank without a checkpoint: the test cannot tell", n.historyOf("B")[before:])
				}
				return
			}

			// Before any carrier, PDU or time: the members, no PDU sent.
			n.wantMembers("A", all...)
			for _, p := range a.Status().Ports {
				if p.State != PortBundled || !p.Resumed || p.Counters.PDUsRx != 0 || p.Counters.PDUsTx != 0 ||
					p.Actor.State.String() != "ATGSCD.." {
					t.Errorf("%s at start: %s resumed=%v rx=%d tx=%d actor %s; want bundled, resumed, ATGSCD.., no PDUs",
						p.Name, p.State, p.Resumed, p.Counters.PDUsRx, p.Counters.PDUsTx, p.Actor.State)
				}
			}
			// The carrier confirmed, each port sends at once.
			n.raiseCabled("A")
			for _, p := range all {
				if got := n.portStatus("A", p).Counters.PDUsTx; got != 1 {
					t.Errorf("%s sent %d PDUs on carrier, want 1 at once", p, got)
				}
			}
			for range 100 {
				n.clk.Advance(100 * time.Millisecond)
				n.wantMembers("B", all...)
				n.wantMembers("A", all...)
			}
			if got := n.historyOf("B")[before:]; len(got) != 0 {
				t.Errorf("B reported members %v during the restart, want no change", got)
			}
			if got := n.historyOf("A"); !reflect.DeepEqual(got, [][]string{all}) {
				t.Errorf("A reported %v, want all members once, at start", got)
			}
			for _, p := range all {
				if got := n.eventsOf("A", p, EventResumed); len(got) != 1 || !got[0].Time.Equal(start) {
					t.Errorf("%s resumed events %v, want one at start", p, got)
				}
				if got := n.eventsOf("A", p, EventResumeConfirmed); len(got) != 1 {
					t.Errorf("%s resume-confirmed events %v, want one", p, got)
				}
				if got := n.eventsOf("B", p, EventPartnerTimeout); len(got) != 0 {
					t.Errorf("B timed out %s: %v", p, got)
				}
				if st := n.portStatus("A", p); st.Resumed || st.Receive != "CURRENT" {
					t.Errorf("%s after the first PDU: resumed=%v receive %s, want confirmed, CURRENT", p, st.Resumed, st.Receive)
				}
			}
		})
	}
}

// TestResumeIgnored checks that a checkpoint of another actor identity is
// not used, as a whole or for the port whose identity changed.
func TestResumeIgnored(t *testing.T) {
	n0 := negotiated(t, 3)
	saved := n0.aggs["A"].Checkpoint()
	for _, tc := range []struct {
		name   string
		edit   func(*Config, *Checkpoint)
		port   string // of the ignored event; "" for the whole checkpoint
		why    string // in its message
		resume []string
	}{
		{"same identity", func(*Config, *Checkpoint) {}, "", "", ethRange(1, 3)},
		{"system MAC", func(c *Config, _ *Checkpoint) { c.System.MAC[5] = 0xd }, "", "actor system", nil},
		{"system priority", func(c *Config, _ *Checkpoint) { c.System.Priority = 1 }, "", "actor system", nil},
		{"key", func(c *Config, _ *Checkpoint) {
			c.Key = 7
			for i := range c.Ports {
				c.Ports[i].Key = 7
			}
		}, "", "actor key", nil},
		{"version", func(_ *Config, cp *Checkpoint) { cp.Version = 2 }, "", "version 2", nil},
		{"port number", func(c *Config, _ *Checkpoint) { c.Ports[1].Number = 9 }, "eth2", "actor port", []string{"eth1", "eth3"}},
		{"port priority", func(c *Config, _ *Checkpoint) { c.Ports[0].Priority = 1 }, "eth1", "actor port", []string{"eth2", "eth3"}},
		{"port key", func(c *Config, _ *Checkpoint) { c.Ports[2].Key = 5 }, "eth3", "actor port key", []string{"eth1", "eth2"}},
		{"port removed", func(c *Config, _ *Checkpoint) { c.Ports = c.Ports[:2] }, "", "eth3 of the checkpoint is no longer a member", []string{"eth1", "eth2"}},
		{"inconsistent partner", func(_ *Config, cp *Checkpoint) { cp.PartnerKey = 4 }, "eth1", "inconsistent", nil},
		{"expired", func(_ *Config, cp *Checkpoint) { cp.Ports[0].Receive = "EXPIRED" }, "eth1", "receive state EXPIRED", []string{"eth2", "eth3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cfg, cp := testConfig(0xa, 3), viaJSON(t, saved)
			tc.edit(&cfg, &cp)
			cfg.Resume = &cp
			n.add("A", cfg)
			n.wantMembers("A", tc.resume...)
			got := n.eventsOf("A", tc.port, EventCheckpointIgnored)
			switch {
			case tc.why == "" && len(got) != 0:
				t.Errorf("ignored events %v, want none", got)
			case tc.why != "" && (len(got) == 0 || !strings.Contains(got[0].Message, tc.why)):
				t.Errorf("ignored events for port %q: %v, want one saying %q", tc.port, got, tc.why)
			}
			for _, p := range n.aggs["A"].Status().Ports {
				want := PortDown
				if slices.Contains(tc.resume, p.Name) {
					want = PortBundled
				}
				if p.State != want {
					t.Errorf("%s = %s, want %s", p.Name, p.State, want)
				}
			}
		})
	}
}

// TestResumeSilentPartner checks that a resumed port whose partner says
// nothing times out current_while after the start, as at any other time.
func TestResumeSilentPartner(t *testing.T) {
	for _, tc := range []struct {
		rate    Rate
		timeout time.Duration
	}{
		{RateFast, ShortTimeoutTime},
		{RateSlow, LongTimeoutTime},
	} {
		t.Run(tc.rate.String(), func(t *testing.T) {
			n := newTestNet(t)
			ca := testConfig(0xa, 2)
			ca.Rate = tc.rate
			n.add("A", ca)
			n.add("B", testConfig(0xb, 2))
			n.bundle("A", "B", 2)
			n.clk.Advance(5 * time.Second)
			cp := n.aggs["A"].Checkpoint()
			n.stop("A")
			n.stop("B") // the partner is gone too, links up
			n.clk.Advance(2 * time.Second)

			ca.Resume = &cp
			start := n.clk.Now()
			n.restart("A", ca)
			n.raiseCabled("A")
			n.clk.Advance(tc.timeout - time.Millisecond)
			n.wantMembers("A", "eth1", "eth2")
			n.clk.Advance(time.Millisecond)
			n.wantMembers("A")
			for _, p := range []string{"eth1", "eth2"} {
				if got := n.eventsOf("A", p, EventPartnerTimeout); len(got) != 1 || !got[0].Time.Equal(start.Add(tc.timeout)) {
					t.Errorf("%s timeout events %v, want one at start+%v", p, got, tc.timeout)
				}
				if st := n.portStatus("A", p); st.Receive != "EXPIRED" || st.Resumed {
					t.Errorf("%s receive %s resumed=%v, want EXPIRED, not resumed", p, st.Receive, st.Resumed)
				}
			}
		})
	}
}

// TestResumeFirstPDU drives a resumed port with hand-made PDUs: a partner
// that confirms the checkpoint keeps the port bundled; one that
// contradicts it sends the port through a fresh negotiation.
func TestResumeFirstPDU(t *testing.T) {
	n0 := negotiated(t, 1)
	cp := n0.aggs["A"].Checkpoint()
	b := n0.portStatus("B", "eth1").Actor
	other := SystemID{DefaultSystemPriority, MAC{2, 0, 0, 0, 0, 0xc}}
	for _, tc := range []struct {
		name    string
		edit    func(*PDU)
		confirm bool
		why     string // in the contradicted event
	}{
		{"same partner", func(*PDU) {}, true, ""},
		{"out of sync", func(p *PDU) { p.Actor.State &^= StateSynchronization }, false, "out of sync"},
		{"has us wrong", func(p *PDU) { p.Partner.Key = 99 }, false, "out of sync"},
		{"partner key", func(p *PDU) { p.Actor.Key = 2 }, false, "key 2"},
		{"partner port", func(p *PDU) { p.Actor.Port.Number = 7 }, false, "port 32768,7"},
		{"partner system", func(p *PDU) { p.Actor.System = other }, false, "02:00:00:00:00:0c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cfg := testConfig(0xa, 1)
			cfg.Resume = &cp
			a := n.add("A", cfg)
			n.carrier(end{"A", "eth1"}, true)
			ours, err := Unmarshal(n.last[end{"A", "eth1"}])
			if err != nil {
				t.Fatal(err)
			}
			if ours.Actor.State.String() != "ATGSCD.." || ours.Partner != cp.Ports[0].Partner {
				t.Fatalf("first PDU actor %s partner %+v: want ATGSCD.. and the checkpoint's partner", ours.Actor.State, ours.Partner)
			}
			pdu := PDU{Actor: b, Partner: ours.Actor}
			tc.edit(&pdu)
			n.clk.Advance(300 * time.Millisecond)
			if err := a.HandlePDU("eth1", pdu); err != nil {
				t.Fatal(err)
			}
			confirmed := n.eventsOf("A", "eth1", EventResumeConfirmed)
			contra := n.eventsOf("A", "eth1", EventResumeContradicted)
			if tc.confirm {
				n.wantMembers("A", "eth1")
				if len(confirmed) != 1 || len(contra) != 0 {
					t.Errorf("confirmed %v, contradicted %v; want one confirmation", confirmed, contra)
				}
				return
			}
			n.wantMembers("A")
			if len(confirmed) != 0 || len(contra) != 1 || !strings.Contains(contra[0].Message, tc.why) {
				t.Fatalf("confirmed %v, contradicted %v; want one contradiction saying %q", confirmed, contra, tc.why)
			}
			if st := n.portStatus("A", "eth1"); st.Mux != "WAITING" || st.Actor.State.Has(StateSynchronization) {
				t.Errorf("after the contradiction mux %s actor %s, want WAITING out of sync", st.Mux, st.Actor.State)
			}
			if tc.name == "partner system" {
				if got := n.eventsOf("A", "eth1", EventPartnerChanged); len(got) != 1 {
					t.Errorf("partner-changed events %v, want one", got)
				}
			}
			// A partner that gets in sync bundles the port after the
			// wait-while, as for any new partner.
			pdu.Actor.State |= StateSynchronization
			pdu.Partner = a.Status().Ports[0].Actor
			n.clk.Advance(AggregateWaitTime - time.Millisecond)
			if err := a.HandlePDU("eth1", pdu); err != nil {
				t.Fatal(err)
			}
			n.wantMembers("A")
			n.clk.Advance(time.Millisecond)
			pdu.Partner = a.Status().Ports[0].Actor
			if err := a.HandlePDU("eth1", pdu); err != nil {
				t.Fatal(err)
			}
			n.wantMembers("A", "eth1")
		})
	}
}

// TestResumeNewPartner resumes A after its links were recabled from B to
// C: C's first PDU makes A negotiate afresh, and C never bundles on A's
// stale claim of sync.
func TestResumeNewPartner(t *testing.T) {
	n := negotiated(t, 2)
	cp := n.aggs["A"].Checkpoint()
	cfg := n.aggs["A"].cfg
	for _, p := range []string{"eth1", "eth2"} {
		n.unplug(end{"A", p})
	}
	n.stop("A")
	n.add("C", testConfig(0xc, 2))
	for _, p := range []string{"eth1", "eth2"} {
		n.cable(end{"A", p}, end{"C", p}, false)
		n.carrier(end{"C", p}, true)
	}
	n.clk.Advance(500 * time.Millisecond)

	cfg.Resume = &cp
	start := n.clk.Now()
	n.restart("A", cfg)
	n.wantMembers("A", "eth1", "eth2") // the checkpoint's word, for now
	n.raiseCabled("A")
	n.clk.Advance(3 * n.latency) // A's PDU to C, C's answer to A
	n.wantMembers("A")
	n.wantMembers("C")
	for _, p := range []string{"eth1", "eth2"} {
		if got := n.eventsOf("A", p, EventResumeContradicted); len(got) != 1 || !strings.Contains(got[0].Message, "02:00:00:00:00:0c") {
			t.Errorf("%s contradicted events %v, want one naming C", p, got)
		}
		if got := n.eventsOf("A", p, EventPartnerChanged); len(got) != 1 {
			t.Errorf("%s partner-changed events %v, want one", p, got)
		}
	}
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1", "eth2")
	n.wantMembers("C", "eth1", "eth2")
	if st := n.aggs["A"].Status(); st.Partner != n.aggs["C"].cfg.System {
		t.Errorf("A's partner %s, want C", st.Partner)
	}
	for _, p := range []string{"eth1", "eth2"} {
		got := n.eventsOf("C", p, EventBundled)
		if len(got) != 1 || got[0].Time.Before(start.Add(AggregateWaitTime)) {
			t.Errorf("C %s bundled %v, want once, after a wait-while from A's start %v", p, got, start)
		}
	}
}

// TestResumeCarrierDown checks that a resumed port whose link turns out to
// be down leaves the aggregate and sends nothing.
func TestResumeCarrierDown(t *testing.T) {
	n := negotiated(t, 2)
	cp := n.aggs["A"].Checkpoint()
	n.stop("A")
	cfg := testConfig(0xa, 2)
	cfg.Resume = &cp
	a := n.restart("A", cfg)
	n.carrier(end{"A", "eth1"}, true)
	n.carrier(end{"A", "eth2"}, false)
	n.wantMembers("A", "eth1")
	n.clk.Advance(10 * time.Second)
	n.wantMembers("A", "eth1")
	n.wantMembers("B", "eth1")
	if st := a.Status().Ports[1]; st.State != PortDown || st.Counters.PDUsTx != 0 || st.Resumed {
		t.Errorf("eth2 %s, sent %d, resumed=%v; want down, silent, not resumed", st.State, st.Counters.PDUsTx, st.Resumed)
	}
}

// TestResumeDefaulted resumes a port bundled on the administrative partner
// (no LACP at the other end): it stays bundled, with nothing to time out,
// unless the administrative partner changed.
func TestResumeDefaulted(t *testing.T) {
	admin := Info{System: SystemID{DefaultSystemPriority, MAC{2, 0, 0, 0, 0, 0xee}}, Key: 9,
		State: StateAggregation | StateSynchronization}
	n0 := newTestNet(t)
	cfg := testConfig(0xa, 1)
	cfg.PartnerAdmin = &admin
	n0.add("A", cfg)
	n0.carrier(end{"A", "eth1"}, true)
	n0.clk.Advance(10 * time.Second)
	n0.wantMembers("A", "eth1")
	cp := n0.aggs["A"].Checkpoint()

	for _, tc := range []struct {
		name  string
		admin *Info
		want  []string
	}{
		{"same admin partner", &admin, []string{"eth1"}},
		{"admin partner removed", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cfg := testConfig(0xa, 1)
			cfg.PartnerAdmin, cfg.Resume = tc.admin, &cp
			n.add("A", cfg)
			n.wantMembers("A", tc.want...)
			n.carrier(end{"A", "eth1"}, true)
			n.clk.Advance(time.Minute)
			if tc.want == nil {
				if got := n.eventsOf("A", "eth1", EventCheckpointIgnored); len(got) != 1 {
					t.Errorf("ignored events %v, want one", got)
				}
				return
			}
			n.wantMembers("A", tc.want...)
			if got := n.historyOf("A"); len(got) != 1 {
				t.Errorf("A's members %v, want one report, at start", got)
			}
			if st := n.portStatus("A", "eth1"); st.Receive != "DEFAULTED" {
				t.Errorf("receive %s, want DEFAULTED", st.Receive)
			}
		})
	}
}

// TestOnCheckpoint checks that OnCheckpoint follows state changes, not the
// PDUs of a steady state.
func TestOnCheckpoint(t *testing.T) {
	n := negotiated(t, 2)
	got := n.checkpointsOf("A")
	if len(got) == 0 {
		t.Fatal("no checkpoint reported during negotiation")
	}
	last := got[len(got)-1]
	if !last.sameState(n.aggs["A"].Checkpoint()) || !last.Ports[0].CollectingDistributing || !last.Ports[1].CollectingDistributing {
		t.Errorf("last checkpoint %+v, want the current state, both ports collecting and distributing", last)
	}
	n.clk.Advance(time.Minute)
	if again := n.checkpointsOf("A"); len(again) != len(got) {
		t.Errorf("%d checkpoints reported in a steady minute, want none", len(again)-len(got))
	}
	n.carrier(end{"A", "eth2"}, false)
	got = n.checkpointsOf("A")
	if last = got[len(got)-1]; !last.Ports[0].CollectingDistributing || last.Ports[1].CollectingDistributing || last.Ports[1].Receive != "PORT_DISABLED" {
		t.Errorf("after eth2 went down: %+v", last)
	}
}
