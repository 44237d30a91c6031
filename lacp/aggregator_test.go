package lacp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		modeA      Mode
		modeB      Mode
		negotiates bool
	}{
		{"active-active", ModeActive, ModeActive, true},
		{"active-passive", ModeActive, ModePassive, true},
		{"passive-active", ModePassive, ModeActive, true},
		{"passive-passive", ModePassive, ModePassive, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			ca, cb := testConfig(0xa, 4), testConfig(0xb, 4)
			ca.Mode, cb.Mode = tc.modeA, tc.modeB
			n.add("A", ca)
			n.add("B", cb)
			n.bundle("A", "B", 4)

			// Nothing attaches before the wait-while time.
			n.clk.Advance(AggregateWaitTime - 10*time.Millisecond)
			n.wantMembers("A")
			n.clk.Advance(time.Second)
			if !tc.negotiates {
				n.clk.Advance(2 * time.Minute)
				n.wantMembers("A")
				n.wantMembers("B")
				for _, sys := range []string{"A", "B"} {
					for _, p := range n.aggs[sys].Status().Ports {
						if p.Counters.PDUsTx != 0 || p.State != PortIndividual {
							t.Errorf("%s %s: sent %d PDUs, state %s; want 0, individual", sys, p.Name, p.Counters.PDUsTx, p.State)
						}
					}
				}
				return
			}
			all := ethRange(1, 4)
			n.wantMembers("A", all...)
			n.wantMembers("B", all...)

			st := n.aggs["A"].Status()
			if !st.Up || st.Partner != cb.System || st.PartnerKey != cb.Key {
				t.Errorf("status up=%v partner=%v key %d; want up towards %v key %d", st.Up, st.Partner, st.PartnerKey, cb.System, cb.Key)
			}
			p := st.Ports[0]
			wantActor, wantPartner := "ATGSCD..", "ATGSCD.."
			if tc.modeA == ModePassive {
				wantActor = ".TGSCD.."
			}
			if tc.modeB == ModePassive {
				wantPartner = ".TGSCD.."
			}
			if p.State != PortBundled || p.Reason != "" || p.Actor.State.String() != wantActor || p.Partner.State.String() != wantPartner ||
				p.Receive != "CURRENT" || p.Mux != "COLLECTING_DISTRIBUTING" || p.Selected != "SELECTED" {
				t.Errorf("port status = %+v, want bundled %s/%s", p, wantActor, wantPartner)
			}
			if p.Partner.System != cb.System || p.Partner.Port != (PortID{DefaultPortPriority, 1}) || p.LastPDU.IsZero() ||
				p.Counters.PDUsRx == 0 || p.Counters.PDUsTx == 0 {
				t.Errorf("port status = %+v: want partner %v port 1, PDUs counted", p, cb.System)
			}
			if got := n.eventsOf("A", "eth1", EventBundled); len(got) != 1 {
				t.Errorf("bundled events = %v, want one", got)
			}
		})
	}
}

func TestPartnerTimeout(t *testing.T) {
	for _, tc := range []struct {
		rate    Rate
		timeout time.Duration
	}{
		{RateFast, 3 * time.Second},
		{RateSlow, 90 * time.Second},
	} {
		t.Run(tc.rate.String(), func(t *testing.T) {
			n := newTestNet(t)
			ca := testConfig(0xa, 2)
			ca.Rate = tc.rate
			n.add("A", ca)
			n.add("B", testConfig(0xb, 2))
			n.bundle("A", "B", 2)
			n.clk.Advance(5 * time.Second)
			n.wantMembers("A", "eth1", "eth2")

			// B goes silent on eth2 while the carrier stays up.
			n.setMute(end{"B", "eth2"}, true)
			n.clk.Advance(n.latency) // let frames in flight land
			last := n.portStatus("A", "eth2").LastPDU
			n.clk.Advance(last.Add(tc.timeout - 100*time.Millisecond).Sub(n.clk.Now()))
			n.wantMembers("A", "eth1", "eth2")
			n.clk.Advance(100 * time.Millisecond)
			n.wantMembers("A", "eth1")
			if got := n.eventsOf("A", "eth2", EventPartnerTimeout); len(got) != 1 || !got[0].Time.Equal(last.Add(tc.timeout)) {
				t.Errorf("timeout events = %v, want one at %v", got, last.Add(tc.timeout))
			}
			if st := n.portStatus("A", "eth2"); st.Receive != "EXPIRED" || !st.Actor.State.Has(StateExpired) {
				t.Errorf("eth2 = %+v, want EXPIRED", st)
			}
			n.clk.Advance(ShortTimeoutTime)
			if st := n.portStatus("A", "eth2"); st.Receive != "DEFAULTED" || st.State != PortIndividual {
				t.Errorf("eth2 = %+v, want DEFAULTED individual", st)
			}
			// A stopped claiming sync, so B took eth2 out as well.
			n.wantMembers("B", "eth1")

			n.setMute(end{"B", "eth2"}, false)
			n.clk.Advance(tc.timeout + 5*time.Second)
			n.wantMembers("A", "eth1", "eth2")
		})
	}
}

// TestTransmitRate checks the periodic machine: a port sends at the rate its
// partner asks for, and a passive port only when its partner is active.
func TestTransmitRate(t *testing.T) {
	for _, tc := range []struct {
		rateB Rate // what B asks of A
		want  int  // PDUs A sends in the minute
	}{
		{RateFast, 60},
		{RateSlow, 2},
	} {
		t.Run(tc.rateB.String(), func(t *testing.T) {
			n := newTestNet(t)
			n.add("A", testConfig(0xa, 1))
			cb := testConfig(0xb, 1)
			cb.Rate = tc.rateB
			n.add("B", cb)
			n.bundle("A", "B", 1)
			n.clk.Advance(time.Minute)
			n.wantMembers("A", "eth1")
			before := n.portStatus("A", "eth1").Counters.PDUsTx
			n.clk.Advance(time.Minute)
			if got := int(n.portStatus("A", "eth1").Counters.PDUsTx - before); got != tc.want {
				t.Errorf("A sent %d PDUs in a minute of steady state, want %d", got, tc.want)
			}
		})
	}
}

func TestTransmitLimit(t *testing.T) {
	n := newTestNet(t)
	a := n.add("A", testConfig(0xa, 1))
	n.carrier(end{"A", "eth1"}, true)
	// Every PDU from a different partner port sets NTT.
	for i := range 10 {
		pdu := PDU{Actor: Info{System: SystemID{1, MAC{2, 0, 0, 0, 0, 0xb}}, Key: 1, Port: PortID{1, uint16(i + 1)}, State: StateActivity | StateAggregation | StateTimeout}}
		if err := a.HandlePDU("eth1", pdu); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.sent[end{"A", "eth1"}]; got != txLimit {
		t.Errorf("sent %d PDUs at one instant, want %d", got, txLimit)
	}
	n.clk.Advance(FastPeriodicTime)
	if got := n.sent[end{"A", "eth1"}]; got != txLimit+1 {
		t.Errorf("sent %d PDUs after a second, want %d (the held one)", got, txLimit+1)
	}
}

func TestCarrier(t *testing.T) {
	n := newTestNet(t)
	n.add("A", testConfig(0xa, 3))
	n.add("B", testConfig(0xb, 3))
	n.bundle("A", "B", 3)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1", "eth2", "eth3")

	// Carrier loss on one side: that side drops the member at once.
	n.carrier(end{"A", "eth2"}, false)
	n.wantMembers("A", "eth1", "eth3")
	if st := n.portStatus("A", "eth2"); st.State != PortDown || st.Receive != "PORT_DISABLED" {
		t.Errorf("eth2 state %s, receive %s; want down, PORT_DISABLED", st.State, st.Receive)
	}
	if got := n.eventsOf("A", "eth2", EventUnbundled); len(got) != 1 {
		t.Errorf("unbundled events %v, want one", got)
	}
	n.carrier(end{"B", "eth2"}, false)
	n.wantMembers("B", "eth1", "eth3")
	// A port without carrier does not time its partner out.
	n.clk.Advance(10 * time.Second)
	if got := n.eventsOf("A", "eth2", EventPartnerTimeout); len(got) != 0 {
		t.Errorf("timeout events while down: %v", got)
	}

	n.carrier(end{"A", "eth2"}, true)
	n.carrier(end{"B", "eth2"}, true)
	n.wantMembers("A", "eth1", "eth3")
	n.clk.Advance(AggregateWaitTime + 100*time.Millisecond)
	n.wantMembers("A", "eth1", "eth2", "eth3")
	n.wantMembers("B", "eth1", "eth2", "eth3")
}

func TestPartnerChange(t *testing.T) {
	n := newTestNet(t)
	n.add("A", testConfig(0xa, 2))
	n.add("B", testConfig(0xb, 2))
	n.add("C", testConfig(0xc, 2))
	n.bundle("A", "B", 2)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1", "eth2")

	// eth2 is recabled to another switch.
	n.unplug(end{"A", "eth2"})
	n.cable(end{"A", "eth2"}, end{"C", "eth1"}, true)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1")
	if got := n.eventsOf("A", "eth2", EventPartnerChanged); len(got) != 1 || !strings.Contains(got[0].Message, "02:00:00:00:00:0c") {
		t.Errorf("partner-changed events = %v, want one naming C", got)
	}
	if got := n.eventsOf("A", "eth2", EventPartnerMismatch); len(got) != 1 {
		t.Errorf("partner-mismatch events = %v, want one", got)
	}
	st := n.portStatus("A", "eth2")
	if st.State != PortIndividual || !strings.Contains(st.Reason, "differs from the port-channel's partner") {
		t.Errorf("eth2 = %s (%s), want individual for a different partner", st.State, st.Reason)
	}
	// C never bundles: A does not claim sync on the link.
	n.wantMembers("C")

	// Once B is gone altogether, A aggregates towards C instead.
	n.unplug(end{"A", "eth1"})
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth2")
	n.wantMembers("C", "eth1")
	if st := n.aggs["A"].Status(); st.Partner != n.aggs["C"].cfg.System {
		t.Errorf("A partner %v, want C", st.Partner)
	}
}

func TestDifferentPartnerSystem(t *testing.T) {
	n := newTestNet(t)
	n.add("A", testConfig(0xa, 3))
	n.add("B", testConfig(0xb, 2))
	n.add("C", testConfig(0xc, 1))
	// The odd port has the best port ID, so only its score keeps it out.
	n.cable(end{"A", "eth1"}, end{"C", "eth1"}, true)
	n.cable(end{"A", "eth2"}, end{"B", "eth1"}, true)
	n.cable(end{"A", "eth3"}, end{"B", "eth2"}, true)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth2", "eth3")
	n.wantMembers("B", "eth1", "eth2")
	n.wantMembers("C")
	if st := n.portStatus("A", "eth1"); st.State != PortIndividual {
		t.Errorf("eth1 = %s, want individual", st.State)
	}
	if got := n.eventsOf("A", "eth1", EventPartnerMismatch); len(got) == 0 {
		t.Error("no partner-mismatch event for eth1")
	}
}

func TestKeyMismatch(t *testing.T) {
	for _, odd := range []int{1, 2} {
		t.Run(fmt.Sprintf("eth%d", odd), func(t *testing.T) {
			n := newTestNet(t)
			n.add("A", testConfig(0xa, 2))
			cb := testConfig(0xb, 2)
			cb.Ports[odd-1].Key = 2
			n.add("B", cb)
			n.bundle("A", "B", 2)
			n.clk.Advance(10 * time.Second)
			other := fmt.Sprintf("eth%d", 3-odd)
			oddName := fmt.Sprintf("eth%d", odd)
			n.wantMembers("A", other)
			n.wantMembers("B", other)
			for _, sys := range []string{"A", "B"} {
				st := n.portStatus(sys, oddName)
				if st.State != PortIndividual || !strings.Contains(st.Reason, "key") {
					t.Errorf("%s %s = %s (%s), want individual for the key", sys, oddName, st.State, st.Reason)
				}
				if got := n.eventsOf(sys, oddName, EventKeyMismatch); len(got) != 1 {
					t.Errorf("%s key-mismatch events = %v, want one", sys, got)
				}
			}
		})
	}
}

// TestHotStandby wires 16 links, numbered differently on each end, and
// checks that both ends agree on the 8 active ones, chosen by the port
// priorities of the system with the better ID.
func TestHotStandby(t *testing.T) {
	const links = 16
	for _, tc := range []struct {
		name    string
		prioA   uint16 // system priorities
		prioB   uint16
		active  []string // A's active ports
		standby []string // A's best standby, in order
	}{
		// A decides; A prefers its high-numbered ports.
		{"A decides", 100, 200, ethRange(9, 16), ethRange(1, 8)},
		// B decides; B prefers its even ports, which are A's odd ones.
		// Its standby order is by its port numbers: eth16 is its 1.
		{"B decides", 200, 100, []string{"eth1", "eth3", "eth5", "eth7", "eth9", "eth11", "eth13", "eth15"},
			[]string{"eth16", "eth14"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			ca, cb := testConfig(0xa, links), testConfig(0xb, links)
			ca.System.Priority, cb.System.Priority = tc.prioA, tc.prioB
			for i := range ca.Ports {
				if i >= 8 {
					ca.Ports[i].Priority = 10
				}
				// B.ethi is cabled to A.ethi but numbered backwards.
				cb.Ports[i].Number = uint16(links - i)
				if cb.Ports[i].Number%2 == 0 {
					cb.Ports[i].Priority = 10
				}
			}
			n.add("A", ca)
			n.add("B", cb)
			n.bundle("A", "B", links)
			n.clk.Advance(5 * time.Second)

			want := slices.Clone(tc.active)
			slices.SortFunc(want, byPortNumber)
			n.wantMembers("A", want...)
			n.wantMembers("B", want...) // same links: ethi on both ends
			for _, p := range n.aggs["A"].Status().Ports {
				wantState := PortStandby
				if slices.Contains(want, p.Name) {
					wantState = PortBundled
				}
				if p.State != wantState {
					t.Errorf("A %s = %s, want %s", p.Name, p.State, wantState)
				}
			}

			// An active link fails: the best standby takes over.
			for i, gone := range tc.active[:2] {
				n.unplug(end{"A", gone})
				n.clk.Advance(time.Second)
				want = slices.DeleteFunc(want, func(s string) bool { return s == gone })
				want = append(want, tc.standby[i])
				slices.SortFunc(want, byPortNumber)
				n.wantMembers("A", want...)
				n.wantMembers("B", want...)
			}
		})
	}
}

func byPortNumber(x, y string) int {
	var a, b int
	fmt.Sscanf(x, "eth%d", &a)
	fmt.Sscanf(y, "eth%d", &b)
	return a - b
}

func TestMinLinks(t *testing.T) {
	n := newTestNet(t)
	ca := testConfig(0xa, 4)
	ca.MinLinks = 3
	n.add("A", ca)
	n.add("B", testConfig(0xb, 4))
	n.bundle("A", "B", 4)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", ethRange(1, 4)...)

	n.unplug(end{"A", "eth1"})
	n.wantMembers("A", ethRange(2, 4)...)
	n.unplug(end{"A", "eth2"})
	n.wantMembers("A")
	st := n.aggs["A"].Status()
	if st.Up || len(st.Members) != 0 {
		t.Errorf("status up=%v members=%v, want down with none", st.Up, st.Members)
	}
	// The members still run LACP; only the aggregate is down.
	if p := n.portStatus("A", "eth3"); p.State != PortBundled {
		t.Errorf("eth3 = %s, want bundled", p.State)
	}
	if got := n.eventsOf("A", "", EventAggregateDown); len(got) != 1 {
		t.Errorf("aggregate-down events = %v, want one", got)
	}
	n.cable(end{"A", "eth1"}, end{"B", "eth1"}, true)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1", "eth3", "eth4")
	if got := n.eventsOf("A", "", EventAggregateUp); len(got) != 2 {
		t.Errorf("aggregate-up events = %v, want two", got)
	}
}

func TestMalformedPDU(t *testing.T) {
	n := newTestNet(t)
	a := n.add("A", testConfig(0xa, 2))
	n.add("B", testConfig(0xb, 2))
	n.bundle("A", "B", 2)
	n.clk.Advance(5 * time.Second)

	good := PDU{Actor: n.portStatus("B", "eth1").Actor}.Marshal()
	for _, bad := range [][]byte{nil, {SubtypeLACP}, good[:60], append([]byte{SubtypeLACP, 0}, good[2:]...)} {
		var fe *FormatError
		if err := a.Receive("eth1", bad); !errors.As(err, &fe) {
			t.Errorf("Receive(%x) = %v, want a FormatError", bad, err)
		}
	}
	if st := n.portStatus("A", "eth1"); st.Counters.MalformedRx != 4 || st.State != PortBundled {
		t.Errorf("eth1 malformed=%d state=%s, want 4 and still bundled", st.Counters.MalformedRx, st.State)
	}
	if err := a.Receive("eth9", good); err == nil {
		t.Error("Receive on an unknown port succeeded")
	}
	// Other slow protocols (e.g. OAM, subtype 3) are not ours to count.
	if err := a.Receive("eth1", []byte{3, 1, 2, 3}); err != nil {
		t.Errorf("Receive(OAM) = %v", err)
	}
	n.wantMembers("A", "eth1", "eth2")
}

func TestMarkerResponder(t *testing.T) {
	var sent [][]byte
	cfg := testConfig(0xa, 1)
	cfg.Clock = clocktest.NewFake(time.Unix(0, 0))
	cfg.Transmitter = TransmitterFunc(func(port string, payload []byte) error {
		sent = append(sent, payload)
		return nil
	})
	a, err := NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetCarrier("eth1", true); err != nil {
		t.Fatal(err)
	}
	sent = nil
	req := Marker{Port: 7, System: MAC{2, 0, 0, 0, 0, 0xb}, TransactionID: 0xdeadbeef}
	if err := a.Receive("eth1", req.Marshal()); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 {
		t.Fatalf("sent %d frames, want one response", len(sent))
	}
	resp, err := UnmarshalMarker(sent[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := (Marker{Response: true, Port: 7, System: req.System, TransactionID: req.TransactionID}); resp != want {
		t.Errorf("response %+v, want %+v", resp, want)
	}
	// Responses are counted, not answered.
	if err := a.Receive("eth1", resp.Marshal()); err != nil {
		t.Fatal(err)
	}
	c := a.Status().Ports[0].Counters
	if len(sent) != 1 || c.MarkerRx != 2 || c.MarkerTx != 1 {
		t.Errorf("sent %d, counters %+v; want 1 sent, 2 marker rx, 1 marker tx", len(sent), c)
	}
}

// TestSynchronousTransmitter delivers each PDU to the peer inside Transmit,
// so outputs re-enter the Aggregators while they deliver.
func TestSynchronousTransmitter(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(0, 0))
	aggs := map[string]*Aggregator{}
	members := map[string][]string{}
	for _, pair := range [][2]string{{"A", "B"}, {"B", "A"}} {
		self, peer := pair[0], pair[1]
		cfg := testConfig(self[0], 2)
		cfg.Clock = clk
		cfg.Transmitter = TransmitterFunc(func(port string, payload []byte) error {
			return aggs[peer].Receive(port, payload)
		})
		cfg.OnMembers = func(m []string) { members[self] = m }
		a, err := NewAggregator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		aggs[self] = a
	}
	for _, p := range []string{"eth1", "eth2"} {
		for _, sys := range []string{"A", "B"} {
			if err := aggs[sys].SetCarrier(p, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(5 * time.Second)
	for _, sys := range []string{"A", "B"} {
		if !slices.Equal(members[sys], []string{"eth1", "eth2"}) {
			t.Errorf("%s members = %v, want both", sys, members[sys])
		}
	}
}

func TestPartnerAdmin(t *testing.T) {
	n := newTestNet(t)
	ca := testConfig(0xa, 2)
	ca.PartnerAdmin = &Info{
		System: SystemID{DefaultSystemPriority, MAC{2, 0, 0, 0, 0, 0xee}},
		Key:    9,
		State:  StateAggregation | StateSynchronization,
	}
	n.add("A", ca)
	for _, p := range []string{"eth1", "eth2"} {
		n.carrier(end{"A", p}, true) // no LACP at the other end
	}
	n.clk.Advance(ShortTimeoutTime - time.Millisecond)
	n.wantMembers("A")
	n.clk.Advance(AggregateWaitTime + time.Second)
	n.wantMembers("A", "eth1", "eth2")
	if st := n.portStatus("A", "eth1"); st.Receive != "DEFAULTED" || !st.Actor.State.Has(StateDefaulted) {
		t.Errorf("eth1 = %+v, want defaulted", st)
	}
}

func TestChurn(t *testing.T) {
	n := newTestNet(t)
	n.add("A", testConfig(0xa, 2))
	n.carrier(end{"A", "eth1"}, true) // nobody at the other end; eth2 stays down
	n.clk.Advance(ChurnDetectionTime - time.Millisecond)
	if got := n.eventsOf("A", "eth1", EventActorChurn); len(got) != 0 {
		t.Fatalf("churn reported early: %v", got)
	}
	n.clk.Advance(time.Millisecond)
	st := n.portStatus("A", "eth1")
	if !st.ActorChurn || !st.PartnerChurn {
		t.Errorf("churn actor=%v partner=%v, want both", st.ActorChurn, st.PartnerChurn)
	}
	for _, k := range []EventKind{EventActorChurn, EventPartnerChurn} {
		if got := n.eventsOf("A", "eth1", k); len(got) != 1 {
			t.Errorf("%v events = %v, want one", k, got)
		}
		// A port without carrier is not churning, just down.
		n.clk.Advance(time.Minute)
		if got := n.eventsOf("A", "eth2", k); len(got) != 0 {
			t.Errorf("%v events for a down port: %v", k, got)
		}
	}

	// A partner that synchronizes ends the churn.
	n.add("B", testConfig(0xb, 1))
	n.cable(end{"A", "eth1"}, end{"B", "eth1"}, false)
	n.carrier(end{"B", "eth1"}, true)
	n.clk.Advance(5 * time.Second)
	n.wantMembers("A", "eth1")
	if st := n.portStatus("A", "eth1"); st.ActorChurn || st.PartnerChurn {
		t.Errorf("churn actor=%v partner=%v after sync, want neither", st.ActorChurn, st.PartnerChurn)
	}
}

func TestConfigValidation(t *testing.T) {
	tx := TransmitterFunc(func(string, []byte) error { return nil })
	valid := func() Config {
		c := testConfig(0xa, 2)
		c.Transmitter = tx
		return c
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string // in the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"zero MAC", func(c *Config) { c.System.MAC = MAC{} }, "system MAC"},
		{"multicast MAC", func(c *Config) { c.System.MAC = SlowProtocolsMAC() }, "system MAC"},
		{"zero key", func(c *Config) { c.Key = 0 }, "key"},
		{"no transmitter", func(c *Config) { c.Transmitter = nil }, "transmitter"},
		{"no ports", func(c *Config) { c.Ports = nil }, "ports"},
		{"duplicate name", func(c *Config) { c.Ports[1].Name = "eth1" }, "duplicate name"},
		{"duplicate number", func(c *Config) { c.Ports[1].Number = 1 }, "duplicate number"},
		{"zero number", func(c *Config) { c.Ports[0].Number = 0 }, "number"},
		{"max active", func(c *Config) { c.MaxActive = 9 }, "max active"},
		{"min links", func(c *Config) { c.MaxActive, c.MinLinks = 2, 3 }, "min links"},
		{"mode", func(c *Config) { c.Mode = 7 }, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			_, err := NewAggregator(c)
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("NewAggregator: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("NewAggregator = %v, want an error about %s", err, tc.field)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	n := newTestNet(t)
	a := n.add("A", testConfig(0xa, 1))
	n.carrier(end{"A", "eth1"}, true)
	a.Close()
	if n.clk.Pending() != 0 {
		t.Errorf("%d timers pending after Close", n.clk.Pending())
	}
	if err := a.SetCarrier("eth1", false); !errors.Is(err, ErrClosed) {
		t.Errorf("SetCarrier after Close = %v, want ErrClosed", err)
	}
}

// TestScriptedPartner drives one port with hand-made PDUs to check the
// receive machine's rules: the partner is in sync only if it has our
// information right, and a change of partner port detaches the port.
func TestScriptedPartner(t *testing.T) {
	n := newTestNet(t)
	a := n.add("A", testConfig(0xa, 1))
	n.carrier(end{"A", "eth1"}, true)
	b := SystemID{DefaultSystemPriority, MAC{2, 0, 0, 0, 0, 0xb}}
	send := func(partnerPort uint16, view func(*Info)) {
		t.Helper()
		ours, err := Unmarshal(n.last[end{"A", "eth1"}])
		if err != nil {
			t.Fatal(err)
		}
		pdu := PDU{
			Actor:   Info{System: b, Key: 1, Port: PortID{DefaultPortPriority, partnerPort}, State: StateActivity | StateTimeout | StateAggregation | StateSynchronization | StateCollecting | StateDistributing},
			Partner: ours.Actor,
		}
		if view != nil {
			view(&pdu.Partner)
		}
		if err := a.HandlePDU("eth1", pdu); err != nil {
			t.Fatal(err)
		}
	}
	state := func(want PortState) {
		t.Helper()
		if st := n.portStatus("A", "eth1"); st.State != want {
			t.Fatalf("eth1 = %s (%s, mux %s), want %s", st.State, st.Reason, st.Mux, want)
		}
	}

	send(5, nil)
	state(PortWaiting)
	n.clk.Advance(AggregateWaitTime)
	send(5, nil)
	state(PortBundled)
	n.wantMembers("A", "eth1")

	for _, tc := range []struct {
		name string
		view func(*Info)
	}{
		{"our key", func(i *Info) { i.Key = 99 }},
		{"our port", func(i *Info) { i.Port.Number = 2 }},
		{"our system", func(i *Info) { i.System.Priority = 1 }},
		{"our aggregation", func(i *Info) { i.State &^= StateAggregation }},
	} {
		send(5, tc.view)
		if st := n.portStatus("A", "eth1"); st.State != PortWaiting || st.Partner.State.Has(StateSynchronization) {
			t.Errorf("partner wrong about %s: eth1 %s, partner %s; want waiting, out of sync", tc.name, st.State, st.Partner.State)
		}
		send(5, nil)
		state(PortBundled)
	}

	// The same partner on another of its ports is a new link: the port
	// detaches and waits again.
	send(6, nil)
	state(PortWaiting)
	n.wantMembers("A")
	n.clk.Advance(AggregateWaitTime)
	send(6, nil)
	state(PortBundled)
}
