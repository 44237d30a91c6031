package portchannel

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/spec"
)

// recorder keeps what a Channel reports.
type recorder struct {
	mu     sync.Mutex
	states []State
	events []Event
}

func (r *recorder) onChange(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) onEvent(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// changes returns how many times OnChange was called.
func (r *recorder) changes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

// eventsOf returns the events of kind, formatted "member:message".
func (r *recorder) eventsOf(kind EventKind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e.Member+":"+e.Message)
		}
	}
	return out
}

// last returns the last state reported, or the zero State.
func (r *recorder) last() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return State{}
	}
	return r.states[len(r.states)-1]
}

// members builds members from "name:priority" words.
func members(t testing.TB, desc string) []Member {
	t.Helper()
	var ms []Member
	for _, w := range strings.Fields(desc) {
		name, prio, _ := strings.Cut(w, ":")
		p := 0
		for _, d := range prio {
			p = p*10 + int(d-'0')
		}
		ms = append(ms, Member{Name: name, Priority: p})
	}
	return ms
}

// pinsOf parses "v1:a v2:b" into a pin map; "" is the empty map.
func pinsOf(desc string) map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(desc) {
		v, member, _ := strings.Cut(w, ":")
		m[v] = member
	}
	return m
}

// formatPins is the inverse of pinsOf, sorted by vEth.
func formatPins(m map[string]string) string {
	var words []string
	for _, v := range slices.Sorted(maps.Keys(m)) {
		words = append(words, v+":"+m[v])
	}
	return strings.Join(words, " ")
}

// newTestChannel returns a Channel of cfg reporting to a recorder, on a
// fake clock.
func newTestChannel(t testing.TB, cfg Config) (*Channel, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.OnChange, cfg.OnEvent = rec.onChange, rec.onEvent
	if cfg.Clock == nil {
		cfg.Clock = clocktest.NewFake(time.Unix(1_700_000_000, 0))
	}
	if cfg.Name == "" {
		cfg.Name = "po1"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rec
}

// lacpTestConfig returns a valid LACP-mode configuration of the members.
func lacpTestConfig(mac byte, names ...string) Config {
	cfg := Config{
		Name:        "po1",
		Mode:        spec.ModeLACPActive,
		Rate:        spec.RateFast,
		System:      lacp.SystemID{Priority: lacp.DefaultSystemPriority, MAC: lacp.MAC{0x02, 0, 0, 0, 0, mac}},
		Key:         1,
		PortNumbers: map[string]uint16{},
	}
	for i, n := range names {
		cfg.Members = append(cfg.Members, Member{Name: n, Priority: lacp.DefaultPortPriority})
		cfg.PortNumbers[n] = uint16(i + 1)
	}
	return cfg
}
