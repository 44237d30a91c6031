package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type countingRCU struct{ expedited, restored int }

func (c *countingRCU) Expedite() func() {
	c.expedited++
	return func() { c.restored++ }
}

// TestBulkAttachExpeditesRCU: links attached at once expedite RCU grace
// periods for the bulk, and restore them; an apply that changes no link
// does not.
func TestBulkAttachExpeditesRCU(t *testing.T) {
	links := fakeLinks{}
	var b strings.Builder
	b.WriteString("host: hv1\nsegments: [{name: lab, type: local}]\nports:\n")
	for i := 0; i < 2*bulkLinkChanges+2; i++ {
		links[fmt.Sprintf("tap%d", i)] = Link{Index: 100 + i}
		fmt.Fprintf(&b, "  - {interface: tap%d, mac: \"52:54:00:00:01:%02x\", segment: lab}\n", i, i)
	}
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	a.links = links
	a.restart()
	rcu := &countingRCU{}
	a.e.rec.rcu = rcu
	a.apply(t, b.String())
	if rcu.expedited != 1 || rcu.restored != 1 {
		t.Errorf("bulk attach: expedited %d, restored %d, want 1 and 1", rcu.expedited, rcu.restored)
	}
	a.apply(t, b.String())
	if rcu.expedited != 1 {
		t.Errorf("an unchanged apply expedited RCU")
	}
}

// TestSysfsRCURestores: the previous setting comes back; one already on
// is left alone.
func TestSysfsRCURestores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rcu_expedited")
	for _, tt := range []struct{ before, during string }{{"0\n", "1"}, {"1\n", "1\n"}} {
		os.WriteFile(path, []byte(tt.before), 0o644)
		restore := sysfsRCU{path: path}.Expedite()
		if got, _ := os.ReadFile(path); string(got) != tt.during {
			t.Errorf("before %q: during %q, want %q", tt.before, got, tt.during)
		}
		restore()
		if got, _ := os.ReadFile(path); strings.TrimSpace(string(got)) != strings.TrimSpace(tt.before) {
			t.Errorf("before %q: after %q", tt.before, got)
		}
	}
}
