package vems_test

import (
	"context"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock/clocktest"
	"github.com/vem-switch/vem/vsm/vems"
)

// TestHandoverShownUpgrading: a VEM whose agent hands over to its
// successor (Detach with handover, then its session closes) stays a
// module, shown upgrading rather than absent, until the successor
// attaches with the same identity (ok, same module); one whose successor
// never comes is absent once the grace has passed. A plain disconnect is
// absent at once.
func TestHandoverShownUpgrading(t *testing.T) {
	p := newPKI(t)
	clk := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	v := startVSM(t, p, "", vsmOptions{clock: clk})
	if _, err := v.store.Apply(network()); err != nil {
		t.Fatal(err)
	}
	status := func(host string) string { return module(t, v.m, host).Status }

	old := newVEM(t, p, v.addr, "hv1", vemOptions{})
	if a, _ := old.attach(); a.GetModule() != 3 {
		t.Fatalf("module %d", a.GetModule())
	}
	if err := old.s.HandOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = old.s.Close()
	eventually(t, "hv1 upgrading once the old agent's session is gone", func() bool {
		m := module(t, v.m, "hv1")
		return m.Status == vems.StatusUpgrading && !m.Connected && m.Module == 3
	})
	clk.Advance(vems.HandoverGrace / 2)
	if s := status("hv1"); s != vems.StatusUpgrading {
		t.Fatalf("hv1 %s within the grace, want upgrading", s)
	}
	succ := newVEM(t, p, v.addr, "hv1", vemOptions{module: 3})
	if a, _ := succ.attach(); a.GetModule() != 3 {
		t.Fatalf("the successor got module %d, want 3", a.GetModule())
	}
	eventually(t, "hv1 ok again", func() bool { return status("hv1") == vems.StatusOK })

	// A handover whose successor never attaches: absent after the grace.
	if err := succ.s.HandOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = succ.s.Close()
	eventually(t, "hv1 upgrading", func() bool { return status("hv1") == vems.StatusUpgrading })
	clk.Advance(vems.HandoverGrace)
	if s := status("hv1"); s != vems.StatusAbsent {
		t.Fatalf("hv1 %s after the grace, want absent", s)
	}

	// A plain disconnect is absent at once.
	hv2 := newVEM(t, p, v.addr, "hv2", vemOptions{})
	hv2.attach()
	_ = hv2.s.Close()
	eventually(t, "hv2 absent", func() bool { return status("hv2") == vems.StatusAbsent })
}
