package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/vsm/ha"
)

// switchover runs `vsm system switchover` on s and reports its output.
func (s *haVSM) switchover() (string, error) { return s.run("system", "switchover") }

// TestHACollisionAndSwitchover, on a pair of real binaries with two VEMs
// attached:
//   - a switchover asked of the standby is refused;
//   - a third VSM of the same domain and role (primary) heartbeating to
//     vsm-a is a role collision that `vsm show system redundancy status`
//     reports (JSON and text) with its name and path, and the pair and its
//     VEMs are undisturbed;
//   - a switchover on the active with an HA standby is accepted: the
//     standby takes over at a higher epoch, every VEM gets its switch
//     request (measured) without going headless and keeps its module
//     number, and the former active becomes its HA standby;
//   - with the standby stopped, a switchover is refused with the guide's
//     message; with it back and synchronised, accepted again.
//
// Every change acknowledged along the way is on both VSMs.
func TestHACollisionAndSwitchover(t *testing.T) {
	t.Parallel()
	r := newHARig(t)
	r.a.start()
	r.b.start()
	st := r.waitPaired(r.a, r.b, 20*time.Second)
	r.startVEMs(2, nil)
	r.apply(r.a, "first", 100)
	r.waitVEMs(15*time.Second, r.a, st.Epoch, "first")
	mods := r.modules()

	if out, err := r.b.switchover(); err == nil || !strings.Contains(out, "not active") {
		t.Fatalf("switchover on the standby: %v\n%s", err, out)
	} else {
		t.Logf("switchover on the standby refused: %s", strings.TrimSpace(lastLine(out)))
	}

	// A third VSM, primary of domain 100 too, heartbeating to vsm-a's
	// control address from its own namespace.
	vc, err := r.tp.NS("vc")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		r.tp.Veth(r.a.ns, "col0", vc, "col0"),
		r.a.ns.AddAddr("col0", "203.0.113.65/30"),
		vc.AddAddr("col0", "203.0.113.66/30"),
		vc.AddRoute("192.0.2.0/24", "203.0.113.65"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	c := &haVSM{r: r, name: "vsm-c", role: "primary", ns: vc, bin: r.a.bin, listen: "203.0.113.66:7443"}
	c.cfg = writeFile(t, r.dir, "vsm-c.yaml", fmt.Sprintf(`name: vsm-c
domain: 100
role: primary
listen: 203.0.113.66:7443
api: 127.0.0.1:8443
control: {address: "203.0.113.66:7444", peer: "192.0.2.1:7444"}
heartbeatLossInterval: 6s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, r.dir+"/vsm-c-data", r.file("ca.pem"), r.file("vsm-c.pem"), r.file("vsm-c-key.pem")))
	seen := time.Now()
	c.start()
	col := r.a.wait(10*time.Second, "reporting a role collision", func(s ha.Status) bool { return len(s.Collisions) > 0 })
	if got := col.Collisions[0]; got.Name != "vsm-c" || got.Path != "control" || got.Latest.Before(seen.Add(-time.Second)) {
		t.Fatalf("collision %+v; want vsm-c on the control path, after %v", col.Collisions, seen)
	}
	text, err := r.a.run("show", "system", "redundancy", "status")
	if err != nil || !strings.Contains(text, "Role collisions (1)") || !strings.Contains(text, "vsm-c") {
		t.Fatalf("show system redundancy status: %v\n%s", err, text)
	}
	t.Logf("role collision reported %v after vsm-c started:\n%s", time.Since(seen).Round(10*time.Millisecond), text)
	time.Sleep(2 * time.Second) // a few of vsm-c's heartbeats more
	if sa, err := r.a.status(); err != nil || !haActiveWithHAStandby(sa) || sa.Peer.Name != "vsm-b" || sa.Epoch != st.Epoch {
		t.Fatalf("vsm-a with a colliding VSM: %+v, %v; want its pair as it was", sa, err)
	}
	r.b.wait(time.Second, "HA standby", haStandbyStable)
	r.waitVEMs(time.Second, r.a, st.Epoch, "first")
	c.stop()

	// An accepted switchover.
	sb := r.timedSwitchover(r.a, r.b, st.Epoch)
	r.apply(r.b, "after-switchover", 101)
	r.checkAcked(r.b, r.a)

	// The standby stopped: refused with the guide's message.
	r.a.stop()
	r.b.wait(10*time.Second, "without its peer", func(s ha.Status) bool { return s.Peer.State == ha.PeerAbsent })
	if out, err := r.b.switchover(); err == nil || !strings.Contains(out, "Failed to switchover (standby not ready to takeover)") {
		t.Fatalf("switchover without a standby: %v\n%s", err, out)
	} else {
		t.Logf("switchover without a standby refused: %s", strings.TrimSpace(lastLine(out)))
	}
	r.apply(r.b, "standby-down", 102)
	r.a.start()
	r.waitPaired(r.b, r.a, 20*time.Second)
	r.checkAcked(r.b, r.a)
	r.timedSwitchover(r.b, r.a, sb.Epoch)
	r.checkAcked(r.a, r.b)
	r.checkNeverHeadless()
	if m := r.modules(); fmt.Sprint(m) != fmt.Sprint(mods) {
		t.Errorf("module numbers changed across the switchovers: %v, were %v", m, mods)
	}
}

// timedSwitchover asks active to switch over to standby and waits for the
// VEMs to follow; it returns the new active's status.
func (r *haRig) timedSwitchover(active, standby *haVSM, epoch uint64) ha.Status {
	r.t.Helper()
	before := map[string]uint64{}
	for _, v := range r.vems {
		before[v.host] = v.status().Counters.SwitchRequestsAccepted
	}
	asked := time.Now()
	// The active's view of a standby that has just restarted lags its
	// own by a heartbeat or two (its sender redials the new process):
	// until then it refuses, as an operator would see; ask again.
	first := asked
	out, err := active.switchover()
	for tries := 1; err != nil && strings.Contains(out, "standby not ready") && tries < 20; tries++ {
		time.Sleep(250 * time.Millisecond)
		asked = time.Now()
		if out, err = active.switchover(); err == nil {
			r.t.Logf("switchover on %s accepted at try %d, %v after the first", active.name, tries+1, asked.Sub(first).Round(10*time.Millisecond))
		}
	}
	if err != nil {
		sa, _ := active.status()
		ss, _ := standby.status()
		r.t.Fatalf("switchover on %s: %v\n%s\n%s: %+v\n%s: %+v\n%s", active.name, err, out, active.name, sa, standby.name, ss, standby.output())
	}
	for deadline := asked.Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		done := true
		for _, v := range r.vems {
			st := v.status()
			if st.State != dpa.StateAttached || st.AttachedVSM != standby.name || st.Epoch <= epoch || st.Counters.SwitchRequestsAccepted <= before[v.host] {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("VEMs not on %s 15 s after the switchover\n%s", standby.name, standby.output())
		}
	}
	took := time.Since(asked)
	st := r.waitPaired(standby, active, 20*time.Second)
	r.t.Logf("switchover %s -> %s: every VEM switched %v after it was asked; %s HA standby %v after; epoch %d",
		active.name, standby.name, took.Round(time.Millisecond), active.name, time.Since(asked).Round(10*time.Millisecond), st.Epoch)
	r.checkNeverHeadless()
	return st
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
