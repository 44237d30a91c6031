package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/vsm/ha"
)

// TestHABootOrders boots the pair of real binaries in their namespaces
// in each order: the primary first (it is active alone, the secondary
// joins as its standby), the secondary first (it is active alone, the
// primary joins as its standby: an active peer is never displaced), and
// both at once (the primary becomes active). In each, the standby is
// stable (HA standby), a VEM attaches to the active, and a change the
// active acknowledges is held by both.
func TestHABootOrders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  func(r *haRig) *haVSM // nil: both at once
		active func(r *haRig) *haVSM
	}{
		{"primary first", func(r *haRig) *haVSM { return r.a }, func(r *haRig) *haVSM { return r.a }},
		{"secondary first", func(r *haRig) *haVSM { return r.b }, func(r *haRig) *haVSM { return r.b }},
		{"both at once", nil, func(r *haRig) *haVSM { return r.a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHARig(t)
			active := tc.active(r)
			standby := r.b
			if active == r.b {
				standby = r.a
			}
			began := time.Now()
			if tc.first != nil {
				first := tc.first(r)
				first.start()
				first.wait(15*time.Second, "active alone", func(s ha.Status) bool {
					return s.State == ha.Active && s.Peer.State == ha.PeerAbsent
				})
				t.Logf("%s active alone after %v", first.name, time.Since(began).Round(10*time.Millisecond))
				r.apply(first, "before-peer", 10)
				other := r.a
				if first == r.a {
					other = r.b
				}
				other.start()
			} else {
				r.a.start()
				r.b.start()
			}
			st := r.waitPaired(active, standby, 20*time.Second)
			t.Logf("%s active with HA standby %s at epoch %d after %v", active.name, standby.name, st.Epoch, time.Since(began).Round(10*time.Millisecond))
			if st.Peer.Name != standby.name {
				t.Fatalf("%s's peer is %+v", active.name, st.Peer)
			}
			r.startVEMs(1, nil)
			r.waitVEMs(15*time.Second, active, st.Epoch, "")
			r.apply(active, "paired", 11)
			r.waitVEMs(10*time.Second, active, st.Epoch, "paired")
			r.checkAcked(active, standby)
			if err := r.tryApply(standby, "on-standby", 12); err == nil {
				t.Fatalf("the standby %s acknowledged a change", standby.name)
			} else {
				r.mu.Lock()
				r.acked = r.acked[:len(r.acked)-1]
				r.mu.Unlock()
				t.Logf("the standby refuses changes: %v", firstLine(err.Error()))
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

var _ = fmt.Sprintf
var _ = dpa.StateAttached
