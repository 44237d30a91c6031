package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/protocol"
)

// TestHARollingUpgrade upgrades a running pair, as a virtual-chassis
// ISSU does, from a build speaking protocol 1.0 (pair wire version 1) to
// one speaking 1.1 (pair wire version 2, set at link time), with VEMs
// attached throughout: hv1 speaks 1.0, hv2 1.1. The standby is stopped
// and started on the new build and resynchronises (mixed window: the
// pair's wire and the VEM sessions of both versions interoperate); a
// switchover makes it active; the former active is stopped and started
// on the new build, and becomes its HA standby. The VEMs see exactly one
// switch request each and nothing else: never detached, connecting or
// headless, module numbers kept; every change acknowledged before,
// during and after is on both VSMs.
func TestHARollingUpgrade(t *testing.T) {
	t.Parallel()
	r := newHARig(t)
	newBin := haBinary(t, "-X github.com/vem-switch/vem/protocol.versionMinor=1 -X github.com/vem-switch/vem/vsm/pair.wireVersionOverride=2")
	r.a.start()
	r.b.start()
	st := r.waitPaired(r.a, r.b, 20*time.Second)
	r.startVEMs(1, nil)
	r.startVEMs(1, &protocol.Version{Major: 1, Minor: 1})
	r.apply(r.a, "old-build", 100)
	r.waitVEMs(15*time.Second, r.a, st.Epoch, "old-build")
	mods := r.modules()
	before := map[string]uint64{}
	for _, v := range r.vems {
		before[v.host] = v.status().Counters.SwitchRequestsAccepted
	}

	// Watch the VEMs throughout: any moment not attached is a failure,
	// but for the moment a VEM takes to reattach on the switch request
	// (the DPA shows connecting while it asks the new active).
	var switchAt time.Time
	began := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var glitches []string
	transient := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, v := range r.vems {
				if st := v.status(); st.State != dpa.StateAttached {
					mu.Lock()
					if !switchAt.IsZero() && time.Since(switchAt) < 2*time.Second {
						transient[v.host]++
						mu.Unlock()
						continue
					}
					if len(glitches) < 20 {
						glitches = append(glitches, fmt.Sprintf("%s %s (attached VSM %q) at %s", v.host, st.State, st.AttachedVSM, time.Since(began).Round(time.Millisecond)))
					}
					mu.Unlock()
				}
			}
		}
	}()
	stopWatch := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopWatch()

	upgrade := func(s *haVSM) {
		t.Helper()
		s.stop()
		s.bin = newBin
		s.start()
	}
	// 1. The standby on the new build, synchronised with the old active.
	upgrade(r.b)
	r.waitPaired(r.a, r.b, 20*time.Second)
	r.checkAcked(r.a, r.b)
	r.apply(r.a, "mixed-window", 101)
	r.checkAcked(r.a, r.b)
	t.Logf("mixed window: vsm-a (1.0, wire 1) active with vsm-b (1.1, wire 2) its HA standby %v into the upgrade", time.Since(began).Round(10*time.Millisecond))
	// 2. It takes over.
	mu.Lock()
	switchAt = time.Now()
	mu.Unlock()
	sb := r.timedSwitchover(r.a, r.b, st.Epoch)
	r.apply(r.b, "new-active", 102)
	// 3. The former active on the new build.
	upgrade(r.a)
	r.waitPaired(r.b, r.a, 20*time.Second)
	r.apply(r.b, "upgraded", 103)
	r.waitVEMs(10*time.Second, r.b, sb.Epoch, "upgraded")
	r.checkAcked(r.b, r.a)
	stopWatch()
	t.Logf("rolling upgrade done in %v", time.Since(began).Round(10*time.Millisecond))

	mu.Lock()
	t.Logf("VEMs seen reattaching (polled every 20 ms) during the switchover: %v", transient)
	if len(glitches) > 0 {
		t.Errorf("VEMs not attached at moments of the upgrade: %v", glitches)
	}
	mu.Unlock()
	for _, v := range r.vems {
		st := v.status()
		if got := st.Counters.SwitchRequestsAccepted - before[v.host]; got != 1 {
			t.Errorf("%s accepted %d switch requests during the upgrade, want 1: %+v", v.host, got, st)
		}
	}
	r.checkNeverHeadless()
	if m := r.modules(); fmt.Sprint(m) != fmt.Sprint(mods) {
		t.Errorf("module numbers changed across the upgrade: %v, were %v", m, mods)
	}
	// What each build spoke with each VEM: the lower minor of the two.
	for _, c := range []struct {
		s       *haVSM
		host    string
		version string
	}{{r.b, "hv1", "1.0"}, {r.b, "hv2", "1.1"}, {r.a, "hv2", "1.1"}} {
		if !sessionAt(c.s.output(), c.host, c.version) {
			t.Errorf("%s (new build) opened no session with %s at version %s\n%s", c.s.name, c.host, c.version, c.s.output())
		}
	}
}

// sessionAt reports whether a VSM's log shows a session with host at
// version.
func sessionAt(log, host, version string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"msg":"session open"`) && strings.Contains(l, `"host":"`+host+`"`) && strings.Contains(l, `"version":"`+version+`"`) {
			return true
		}
	}
	return false
}
