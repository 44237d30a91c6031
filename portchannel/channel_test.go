package portchannel

import (
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// step is one input to a Channel and the State expected after it.
type step struct {
	do   func(*Channel)
	dist string // want Distributing (and Collecting), space separated
	pins string // want Pins ("v1:a v2:b"), mac-pinning only
}

func carrier(member string, up bool) func(*Channel) {
	return func(c *Channel) { c.SetCarrier(member, up) }
}

func veths(names string) func(*Channel) {
	return func(c *Channel) { c.SetVEths(strings.Fields(names)) }
}

// reconfigure applies f to a copy of the Channel's configuration.
func reconfigure(t *testing.T, f func(*Config)) func(*Channel) {
	return func(c *Channel) {
		c.mu.Lock()
		cfg := c.cfg.clone()
		c.mu.Unlock()
		f(&cfg)
		if err := c.Reconfigure(cfg); err != nil {
			t.Fatalf("Reconfigure: %v", err)
		}
	}
}

// up sets the carrier of several members.
func up(names string) func(*Channel) {
	return func(c *Channel) {
		for _, n := range strings.Fields(names) {
			c.SetCarrier(n, true)
		}
	}
}

func runSteps(t *testing.T, cfg Config, steps []step) {
	t.Helper()
	c, rec := newTestChannel(t, cfg)
	for i, s := range steps {
		s.do(c)
		st := c.State()
		want := strings.Fields(s.dist)
		if !slices.Equal(st.Distributing, want) || !slices.Equal(st.Collecting, want) {
			t.Fatalf("step %d: distributing %v collecting %v, want %v", i, st.Distributing, st.Collecting, want)
		}
		if cfg.Mode != spec.ModeMACPinning {
			if st.Pins != nil {
				t.Fatalf("step %d: pins %v in mode %s, want nil", i, st.Pins, cfg.Mode)
			}
			continue
		}
		if st.Pins == nil {
			t.Fatalf("step %d: nil pins in mac-pinning mode", i)
		}
		if got := formatPins(st.Pins); got != formatPins(pinsOf(s.pins)) {
			t.Fatalf("step %d: pins %s, want %s", i, got, formatPins(pinsOf(s.pins)))
		}
		if rec.changes() > 0 && !rec.last().Equal(st) {
			t.Fatalf("step %d: last OnChange %+v differs from State %+v", i, rec.last(), st)
		}
	}
}

func TestStatic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		members  string
		minLinks int
		steps    []step
	}{
		{"members with carrier, in config order", "eth1 eth2 eth3", 0, []step{
			{do: func(*Channel) {}, dist: ""},
			{do: carrier("eth3", true), dist: "eth3"},
			{do: carrier("eth1", true), dist: "eth1 eth3"},
			{do: carrier("eth2", true), dist: "eth1 eth2 eth3"},
			{do: carrier("eth1", false), dist: "eth2 eth3"},
			{do: carrier("eth9", true), dist: "eth2 eth3"},
			{do: veths("v1 v2"), dist: "eth2 eth3"},
		}},
		{"priorities do not matter", "eth1:5 eth2:1", 0, []step{
			{do: up("eth1 eth2"), dist: "eth1 eth2"},
		}},
		{"min-links", "eth1 eth2 eth3", 2, []step{
			{do: carrier("eth1", true), dist: ""},
			{do: carrier("eth2", true), dist: "eth1 eth2"},
			{do: carrier("eth3", true), dist: "eth1 eth2 eth3"},
			{do: carrier("eth1", false), dist: "eth2 eth3"},
			{do: carrier("eth2", false), dist: ""},
			{do: carrier("eth1", true), dist: "eth1 eth3"},
		}},
		{"reconfigure members and min-links", "eth1 eth2", 0, []step{
			{do: up("eth1 eth2"), dist: "eth1 eth2"},
			{do: reconfigure(t, func(c *Config) { c.MinLinks = 2 }), dist: "eth1 eth2"},
			{do: reconfigure(t, func(c *Config) { c.Members = members(t, "eth2 eth3") }), dist: ""},
			{do: carrier("eth3", true), dist: "eth2 eth3"},
			// A removed member's carrier is forgotten: re-added, it
			// waits for news.
			{do: reconfigure(t, func(c *Config) { c.Members = members(t, "eth1 eth2 eth3") }), dist: "eth2 eth3"},
			{do: carrier("eth1", true), dist: "eth1 eth2 eth3"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, Config{Mode: spec.ModeStatic, Members: members(t, tc.members), MinLinks: tc.minLinks}, tc.steps)
		})
	}
}

func TestMACPinning(t *testing.T) {
	for _, tc := range []struct {
		name     string
		members  string
		auto     bool
		minLinks int
		steps    []step
	}{
		{"failover in priority order", "a:1 b:2 c:3", true, 0, []step{
			{do: veths("v1 v2 v3"), dist: "", pins: ""},
			{do: carrier("c", true), dist: "c", pins: "v1:c v2:c v3:c"},
			{do: up("a b"), dist: "a b c", pins: "v1:a v2:a v3:a"},
			{do: carrier("a", false), dist: "b c", pins: "v1:b v2:b v3:b"},
			{do: carrier("b", false), dist: "c", pins: "v1:c v2:c v3:c"},
			{do: carrier("c", false), dist: "", pins: ""},
		}},
		{"fail back with auto on", "a:1 b:2", true, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v2"), dist: "a b", pins: "v1:a v2:a"},
			{do: carrier("a", false), dist: "b", pins: "v1:b v2:b"},
			{do: carrier("a", true), dist: "a b", pins: "v1:a v2:a"},
		}},
		{"no fail back with auto off", "a:1 b:2", false, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v2"), dist: "a b", pins: "v1:a v2:a"},
			{do: carrier("a", false), dist: "b", pins: "v1:b v2:b"},
			{do: carrier("a", true), dist: "a b", pins: "v1:b v2:b"},
			// New vEths go to the best-priority operational member.
			{do: veths("v1 v2 v3"), dist: "a b", pins: "v1:b v2:b v3:a"},
			// Only the failed member's vEths move.
			{do: carrier("b", false), dist: "a", pins: "v1:a v2:a v3:a"},
			{do: carrier("b", true), dist: "a b", pins: "v1:a v2:a v3:a"},
		}},
		{"equal priorities share round-robin", "a b c", true, 0, []step{
			{do: up("a b c"), dist: "a b c"},
			{do: veths("v1 v2 v3 v4 v5"), dist: "a b c", pins: "v1:a v2:b v3:c v4:a v5:b"},
			// b's vEths go to the least loaded of the others.
			{do: carrier("b", false), dist: "a c", pins: "v1:a v2:c v3:c v4:a v5:a"},
			// Back, b gets its share again with the fewest moves.
			{do: carrier("b", true), dist: "a b c", pins: "v1:a v2:c v3:c v4:a v5:b"},
			{do: veths("v1 v2 v3 v4 v5 v6"), dist: "a b c", pins: "v1:a v2:c v3:c v4:a v5:b v6:b"},
			// Removed vEths leave an imbalance that auto evens out.
			{do: veths("v2 v3 v5 v6"), dist: "a b c", pins: "v2:c v3:a v5:b v6:b"},
		}},
		{"equal priorities without auto keep their pins", "a b", false, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v2 v3 v4"), dist: "a b", pins: "v1:a v2:b v3:a v4:b"},
			{do: carrier("b", false), dist: "a", pins: "v1:a v2:a v3:a v4:a"},
			{do: carrier("b", true), dist: "a b", pins: "v1:a v2:a v3:a v4:a"},
			{do: veths("v1 v2 v3 v4 v5"), dist: "a b", pins: "v1:a v2:a v3:a v4:a v5:b"},
		}},
		{"best priority group shares, standby waits", "a:1 b:1 c:2", true, 0, []step{
			{do: up("a b c"), dist: "a b c"},
			{do: veths("v1 v2 v3"), dist: "a b c", pins: "v1:a v2:b v3:a"},
			{do: carrier("a", false), dist: "b c", pins: "v1:b v2:b v3:b"},
			{do: carrier("b", false), dist: "c", pins: "v1:c v2:c v3:c"},
			{do: carrier("b", true), dist: "b c", pins: "v1:b v2:b v3:b"},
			{do: carrier("a", true), dist: "a b c", pins: "v1:b v2:b v3:a"},
		}},
		{"min-links", "a:1 b:2", true, 2, []step{
			{do: veths("v1"), dist: "", pins: ""},
			{do: carrier("a", true), dist: "", pins: ""},
			{do: carrier("b", true), dist: "a b", pins: "v1:a"},
			{do: carrier("a", false), dist: "", pins: ""},
			{do: carrier("a", true), dist: "a b", pins: "v1:a"},
		}},
		{"auto on: better priority and better member", "a:2 b:3", true, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v2"), dist: "a b", pins: "v1:a v2:a"},
			{do: reconfigure(t, func(c *Config) { c.Members[1].Priority = 1 }), dist: "a b", pins: "v1:b v2:b"},
			{do: reconfigure(t, func(c *Config) { c.Members = append(c.Members, Member{Name: "c", Priority: 0}) }), dist: "a b", pins: "v1:b v2:b"},
			{do: carrier("c", true), dist: "a b c", pins: "v1:c v2:c"},
			// Removed from the configuration, c's vEths move.
			{do: reconfigure(t, func(c *Config) { c.Members = c.Members[:2] }), dist: "a b", pins: "v1:b v2:b"},
		}},
		{"auto off: no switch on better priority or member", "a:2 b:3", false, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v2"), dist: "a b", pins: "v1:a v2:a"},
			{do: reconfigure(t, func(c *Config) { c.Members[1].Priority = 1 }), dist: "a b", pins: "v1:a v2:a"},
			{do: veths("v1 v2 v3"), dist: "a b", pins: "v1:a v2:a v3:b"},
			// Turning auto on switches at once.
			{do: reconfigure(t, func(c *Config) { c.AutoPriorityFailover = true }), dist: "a b", pins: "v1:b v2:b v3:b"},
		}},
		{"duplicate vEths count once", "a b", true, 0, []step{
			{do: up("a b"), dist: "a b"},
			{do: veths("v1 v1 v2"), dist: "a b", pins: "v1:a v2:b"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, Config{Mode: spec.ModeMACPinning, Members: members(t, tc.members),
				MinLinks: tc.minLinks, AutoPriorityFailover: tc.auto}, tc.steps)
		})
	}
}

func TestOnChangeOnlyOnRealChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode spec.ChannelMode
		do   func(*Channel)
		want int // OnChange calls
	}{
		{"static carrier up", spec.ModeStatic, carrier("a", true), 1},
		{"static carrier repeated", spec.ModeStatic, func(c *Channel) { c.SetCarrier("a", true); c.SetCarrier("a", true) }, 1},
		{"static carrier down while down", spec.ModeStatic, carrier("a", false), 0},
		{"static non-member", spec.ModeStatic, carrier("x", true), 0},
		{"static vEths", spec.ModeStatic, func(c *Channel) { c.SetCarrier("a", true); c.SetVEths([]string{"v1"}) }, 1},
		{"static flap", spec.ModeStatic, func(c *Channel) { c.SetCarrier("a", true); c.SetCarrier("a", false) }, 2},
		{"static min-links not reached", spec.ModeStatic, func(c *Channel) {
			c.mu.Lock()
			c.cfg.MinLinks = 2
			c.mu.Unlock()
			c.SetCarrier("a", true)
		}, 0},
		{"pinning up then vEths", spec.ModeMACPinning, func(c *Channel) { c.SetCarrier("a", true); c.SetVEths([]string{"v1"}) }, 2},
		{"pinning same vEths", spec.ModeMACPinning, func(c *Channel) {
			c.SetCarrier("a", true)
			c.SetVEths([]string{"v1"})
			c.SetVEths([]string{"v1"})
		}, 2},
		{"pinning vEths while down", spec.ModeMACPinning, veths("v1 v2"), 0},
		{"pinning standby up", spec.ModeMACPinning, func(c *Channel) {
			c.SetCarrier("a", true)
			c.SetVEths([]string{"v1"})
			c.SetCarrier("b", true) // b distributes now; pins stay
		}, 3},
		{"pinning unchanged reconfigure", spec.ModeMACPinning, func(c *Channel) {
			c.SetCarrier("a", true)
			reconfigure(nil, func(*Config) {})(c)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newTestChannel(t, Config{Mode: tc.mode, Members: members(t, "a:1 b:2"), AutoPriorityFailover: true})
			tc.do(c)
			if got := rec.changes(); got != tc.want {
				t.Errorf("OnChange called %d times, want %d: %+v", got, tc.want, rec.states)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	c, rec := newTestChannel(t, Config{Mode: spec.ModeMACPinning, Members: members(t, "a:1 b:2"), MinLinks: 1, AutoPriorityFailover: true})
	c.SetVEths([]string{"v1"})
	c.SetCarrier("a", true)
	c.SetCarrier("b", true)
	c.SetCarrier("a", false)
	c.SetCarrier("b", false)

	for _, tc := range []struct {
		kind EventKind
		want []string
	}{
		{EventMemberUp, []string{"a:link up", "b:link up"}},
		{EventMemberDown, []string{"a:link down", "b:link down"}},
		{EventPinMoved, []string{"a:vEth v1 pinned to a", "b:vEth v1 moved from a to b", "b:vEth v1 unpinned from b: no operational member"}},
		{EventChannelUp, []string{":1 members up (min-links 1)"}},
		{EventChannelDown, []string{":0 members up, fewer than min-links 1"}},
	} {
		if got := rec.eventsOf(tc.kind); !slices.Equal(got, tc.want) {
			t.Errorf("%s events = %q, want %q", tc.kind, got, tc.want)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.PortChannel != "po1" || e.Time.IsZero() {
			t.Errorf("event %v: want port-channel po1 and a time", e)
		}
		if e.Kind == EventPinMoved && e.VEth != "v1" {
			t.Errorf("pin event %v: VEth %q, want v1", e, e.VEth)
		}
	}
	if s := rec.events[0].String(); s != "po1 a: member-up: link up" {
		t.Errorf("String() = %q", s)
	}
}

func TestMACPinningStatus(t *testing.T) {
	c, _ := newTestChannel(t, Config{Mode: spec.ModeMACPinning, Members: members(t, "a:1 b:1 c:2"), AutoPriorityFailover: true})
	c.SetVEths([]string{"v1", "v2", "v3"})
	up("a c")(c)
	s := c.Status()
	if !s.Up || s.MinLinks != 1 || !s.AutoPriorityFailover || s.Mode != spec.ModeMACPinning || s.LACP != nil {
		t.Errorf("status %+v: want up, min-links 1, auto, mac-pinning, no LACP", s)
	}
	want := []MemberStatus{
		{Name: "a", Priority: 1, Status: StatusOperational, Active: true, VEths: []string{"v1", "v2", "v3"}},
		{Name: "b", Priority: 1, Status: StatusLinkDown},
		{Name: "c", Priority: 2, Status: StatusOperational},
	}
	if !slices.EqualFunc(s.Members, want, memberStatusEqual) {
		t.Errorf("members = %+v, want %+v", s.Members, want)
	}

	c.SetCarrier("a", false)
	if ms := c.Status().Members; ms[0].Active || ms[0].Status != StatusLinkDown || !ms[2].Active || len(ms[2].VEths) != 3 {
		t.Errorf("after a failed: %+v, want c active with 3 vEths", ms)
	}
	c.SetCarrier("c", false)
	if s := c.Status(); s.Up || len(s.State.Distributing) != 0 || s.Members[2].Active {
		t.Errorf("with no member up: %+v, want down", s)
	}
}

func TestStaticStatus(t *testing.T) {
	c, _ := newTestChannel(t, Config{Mode: spec.ModeStatic, Members: members(t, "a b c"), MinLinks: 2})
	c.SetCarrier("a", true)
	s := c.Status()
	if s.Up || s.Members[0].Active || s.Members[0].Status != StatusOperational || s.Members[1].Status != StatusLinkDown {
		t.Errorf("below min-links: %+v, want down, a operational but not active", s)
	}
	c.SetCarrier("c", true)
	s = c.Status()
	if !s.Up || !s.Members[0].Active || s.Members[1].Active || !s.Members[2].Active {
		t.Errorf("at min-links: %+v, want up, a and c active", s)
	}
}

func memberStatusEqual(a, b MemberStatus) bool {
	return a.Name == b.Name && a.Priority == b.Priority && a.Status == b.Status &&
		a.Active == b.Active && slices.Equal(a.VEths, b.VEths)
}

// TestCallbacksMayReenter checks that OnChange may call back into the
// Channel, and that states reach it in order.
func TestCallbacksMayReenter(t *testing.T) {
	var c *Channel
	var seen []State
	cfg := Config{Name: "po1", Mode: spec.ModeMACPinning, Members: members(t, "a b"), AutoPriorityFailover: true}
	cfg.OnChange = func(s State) {
		seen = append(seen, s)
		if got := c.State(); len(seen) == 1 && !got.Equal(s) {
			t.Errorf("State() in OnChange = %+v, want %+v", got, s)
		}
		if len(seen) == 1 {
			c.SetVEths([]string{"v1", "v2"}) // delivered after this call returns
		}
	}
	cfg.OnEvent = func(Event) { _ = c.Status() }
	var err error
	if c, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	c.SetCarrier("a", true)
	if len(seen) != 2 || len(seen[0].Pins) != 0 || seen[1].Pins["v1"] != "a" || seen[1].Pins["v2"] != "a" {
		t.Errorf("states = %+v, want [a up without pins, then v1 and v2 on a]", seen)
	}
}

func TestStateIsACopy(t *testing.T) {
	c, _ := newTestChannel(t, Config{Mode: spec.ModeMACPinning, Members: members(t, "a")})
	c.SetVEths([]string{"v1"})
	c.SetCarrier("a", true)
	s := c.State()
	s.Distributing[0] = "x"
	s.Pins["v1"] = "x"
	if s2 := c.State(); s2.Distributing[0] != "a" || s2.Pins["v1"] != "a" {
		t.Errorf("State shares memory with the Channel: %+v", s2)
	}
}
