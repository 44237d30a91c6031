package vems

import (
	"path/filepath"
	"testing"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/store"
)

// TestActiveLearnsReplicatedVTEPs: a standby's Manager is made before the
// active's module records reach its store; on becoming active it takes
// their VTEPs, so the first snapshot a reattaching host gets lists the
// VTEPs of the hosts that have not reattached yet.
func TestActiveLearnsReplicatedVTEPs(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := New(Config{Name: "vsm-b", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	m.SetState(protocol.State_STATE_STANDBY, 1)
	// Replicated from the active meanwhile.
	rec, err := st.AssignModule("hv2", 0, "198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.vtepsCopy()[rec.Module]; got != "" {
		t.Fatalf("a standby knew module %d's VTEP %q before becoming active", rec.Module, got)
	}
	m.SetState(protocol.State_STATE_ACTIVE, 2)
	if got := m.vtepsCopy()[rec.Module]; got != "198.51.100.2" {
		t.Errorf("module %d's VTEP after the takeover = %q, want 198.51.100.2", rec.Module, got)
	}
}
