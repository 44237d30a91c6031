package portchannel

import (
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/lacp"
)

// TestLACPMembers drives an LACP-mode Channel's aggregator by hand (no
// sockets: its PDUs go nowhere, the partner's are made up) to check that
// the bundled members become the State and that MinLinks and the status
// follow.
func TestLACPMembers(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(1_700_000_000, 0))
	cfg := lacpTestConfig(0xa, "eth1", "eth2")
	cfg.MinLinks, cfg.Clock = 2, clk
	c, rec := newTestChannel(t, cfg)
	partner := lacp.SystemID{Priority: lacp.DefaultSystemPriority, MAC: lacp.MAC{0x02, 0, 0, 0, 0, 0xb}}
	// hear sends each member a PDU from a partner in sync, answering what
	// the member last said about itself, and lets a second pass.
	hear := func(names ...string) {
		t.Helper()
		for _, p := range c.Status().LACP.Ports {
			if !slices.Contains(names, p.Name) {
				continue
			}
			pdu := lacp.PDU{
				Actor: lacp.Info{
					System: partner, Key: 7, Port: lacp.PortID{Priority: lacp.DefaultPortPriority, Number: p.Actor.Port.Number},
					State: lacp.StateActivity | lacp.StateTimeout | lacp.StateAggregation | lacp.StateSynchronization |
						lacp.StateCollecting | lacp.StateDistributing,
				},
				Partner: p.Actor,
			}
			if err := c.runner.Aggregator().HandlePDU(p.Name, pdu); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Second)
	}

	c.SetCarrier("eth1", true)
	c.SetCarrier("eth2", true)
	for range 4 {
		hear("eth1", "eth2")
	}
	st := c.State()
	if want := []string{"eth1", "eth2"}; !slices.Equal(st.Distributing, want) || !slices.Equal(st.Collecting, want) || st.Pins != nil {
		t.Fatalf("state %+v, want both members distributing and collecting, no pins", st)
	}
	s := c.Status()
	if !s.Up || s.LACP == nil || s.LACP.Partner != partner || s.LACP.PartnerKey != 7 ||
		s.Members[0].Status != string(lacp.PortBundled) || !s.Members[0].Active || s.Members[0].Priority != lacp.DefaultPortPriority {
		t.Errorf("status %+v: want up, bundled towards %v key 7", s, partner)
	}
	if got := rec.eventsOf(EventChannelUp); len(got) != 1 {
		t.Errorf("channel-up events %q, want one", got)
	}

	// Below min-links the channel is down, though eth1 stays bundled.
	c.SetCarrier("eth2", false)
	if st := c.State(); len(st.Distributing) != 0 || len(st.Collecting) != 0 {
		t.Errorf("state %+v with one of min-links 2, want empty", st)
	}
	s = c.Status()
	if s.Up || s.Members[1].Status != string(lacp.PortDown) || s.Members[0].Active {
		t.Errorf("status %+v: want down, eth2 down, nothing active", s)
	}
	if got := rec.eventsOf(EventChannelDown); len(got) != 1 {
		t.Errorf("channel-down events %q, want one", got)
	}
	if rec.changes() != 2 {
		t.Errorf("OnChange called %d times, want 2 (up, down): %+v", rec.changes(), rec.states)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var bundled int
	for _, e := range rec.events {
		if e.Kind == EventLACP && (e.LACP == lacp.EventAggregateUp || e.LACP == lacp.EventAggregateDown) {
			t.Errorf("event %v passed on: the channel reports up and down itself", e)
		}
		if e.Kind == EventLACP && e.LACP == lacp.EventBundled {
			bundled++
		}
	}
	if bundled != 2 {
		t.Errorf("%d bundled events, want 2: %v", bundled, rec.events)
	}
}
