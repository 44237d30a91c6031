package protocol

import (
	"context"
	"testing"
)

// TestHandOverArrivesBeforeClose: a VEM handed over to its successor says
// so (Detach with handover) and closes its session at once, as the old
// agent does at the switch; the VSM still gets the message, before the
// session's end.
func TestHandOverArrivesBeforeClose(t *testing.T) {
	p := newTestPKI(t)
	ts := startServer(t, p)
	vc := dial(t, ts.addr, clientConfig(t, p.dir, "hv1"))
	vs := ts.session(t)
	// Bulk ahead of it, as port events may be.
	for i := range 50 {
		if err := vc.DetachPort(context.Background(), &PortDetach{Interface: "tap-" + string(rune('a'+i%26))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := vc.HandOver(context.Background()); err != nil {
		t.Fatal(err)
	}
	vc.Close()
	for {
		ev, err := vs.Recv(context.Background())
		if err != nil {
			t.Fatalf("the session ended without the handover: %v", err)
		}
		if d, ok := ev.(*Detach); ok {
			if !d.GetHandover() || d.GetReason() == "" {
				t.Fatalf("detach = %v, want a handover with a reason", d)
			}
			return
		}
	}
}
