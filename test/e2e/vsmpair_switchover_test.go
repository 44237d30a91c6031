package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
	"github.com/vem-switch/vem/vsm/ha"
)

// pairNetwork is the pair test's network: web (VLAN 100, local to each
// host) and blue (VXLAN 5001 across hv1 and hv2).
const pairNetwork = `segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: blue, type: vxlan, vni: 5001}
profiles:
  - {name: default, portSecurity: true}
`

// TestVSMSwitchoverKeepsForwarding: a VSM pair (real binaries in their
// own namespaces, control and management paths, heartbeat-loss interval
// 6 s) and two VEM hosts over a routed underlay, VMs on a VLAN segment on
// each host and on a VXLAN segment across them. The active VSM is killed
// (SIGKILL) while three pings run at 100/s: the standby takes over, every
// VEM reattaches to it at a higher epoch, and not one ping is lost. A
// segment applied on the new active then reaches both agents.
func TestVSMSwitchoverKeepsForwarding(t *testing.T) {
	topo.RequireRoot(t)
	v := newVSMTopology(t, true)
	a, b := v.vsms[0], v.vsms[1]
	a.start()
	b.start()
	paired := a.waitRedundancy(20*time.Second, "active with an HA standby", func(s ha.Status) bool {
		return s.InternalState == ha.InternalActiveHAStandby
	})
	b.waitRedundancy(10*time.Second, "HA standby", func(s ha.Status) bool { return s.InternalState == ha.InternalHAStandby })
	a.apply(pairNetwork)

	tp := v.topo
	hv1ns, hv2ns := v.hosts["hv1"], v.hosts["hv2"]
	vms := map[string]*vm{
		"vm1": vmOn(t, tp, hv1ns, "vm1", "tap1", "52:54:00:00:10:01", "192.0.2.1", "web", "default"),
		"vm2": vmOn(t, tp, hv1ns, "vm2", "tap2", "52:54:00:00:10:02", "192.0.2.2", "web", "default"),
		"vmA": vmOn(t, tp, hv1ns, "vmA", "tap3", "52:54:00:00:10:03", "192.0.2.11", "blue", "default"),
		"vm3": vmOn(t, tp, hv2ns, "vm3", "tap1", "52:54:00:00:20:01", "192.0.2.3", "web", "default"),
		"vm4": vmOn(t, tp, hv2ns, "vm4", "tap2", "52:54:00:00:20:02", "192.0.2.4", "web", "default"),
		"vmB": vmOn(t, tp, hv2ns, "vmB", "tap3", "52:54:00:00:20:03", "192.0.2.12", "blue", "default"),
	}
	hosts := []*vemHost{newVemHost(t, tp, hv1ns), newVemHost(t, tp, hv2ns)}
	for i, h := range hosts {
		h.writeConfig(v.agentConfig(h, fmt.Sprintf("hv%d", i+1)))
		h.startAgent()
	}
	for _, h := range hosts {
		waitFor(t, 15*time.Second, h.ns.Name()+" attached to vsm-a with web and blue", func() bool {
			d := dpaStatus(t, h)
			if d.State != "attached" || d.AttachedVSM != "vsm-a" {
				return false
			}
			out, err := h.vemctl("show", "segments")
			return err == nil && strings.Contains(out, "web") && strings.Contains(out, "blue")
		})
	}
	attachPorts(t, hosts[0], vms["vm1"], vms["vm2"], vms["vmA"])
	attachPorts(t, hosts[1], vms["vm3"], vms["vm4"], vms["vmB"])
	before := []uint64{dpaStatus(t, hosts[0]).Epoch, dpaStatus(t, hosts[1]).Epoch}
	t.Logf("paired: vsm-a active at epoch %d; VEMs at epochs %v", paired.Epoch, before)

	flows := []struct {
		from *vm
		dst  string
	}{
		{vms["vm1"], vms["vm2"].ip}, // VLAN on hv1
		{vms["vm3"], vms["vm4"].ip}, // VLAN on hv2
		{vms["vmA"], vms["vmB"].ip}, // VXLAN hv1 -> hv2
	}
	// ARP resolved and every path proven before the count starts.
	waitFor(t, 15*time.Second, "every flow answering", func() bool {
		for _, f := range flows {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := f.from.ns.Ping(ctx, f.dst, 1, 100*time.Millisecond)
			cancel()
			if err != nil || res.Received != 1 {
				return false
			}
		}
		return true
	})

	// 1000 pings 10 ms apart (10 s) per flow; the kill comes 1 s in, and
	// the takeover follows the 6 s heartbeat-loss interval.
	const count = 1000
	results := make([]seqPing, len(flows))
	errs := make([]error, len(flows))
	var wg sync.WaitGroup
	started := time.Now()
	for i, f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = pingSeq(f.from.ns, f.dst, count, 10*time.Millisecond)
		}()
	}
	time.Sleep(time.Second)
	killed := time.Now()
	if err := a.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	reattached := make([]time.Duration, len(hosts))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		done := true
		for i, h := range hosts {
			if reattached[i] != 0 {
				continue
			}
			if d := dpaStatus(t, h); d.State == "attached" && d.AttachedVSM == "vsm-b" && d.Epoch > before[i] {
				reattached[i] = time.Since(killed)
			} else {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			wg.Wait()
			t.Fatalf("not every VEM reattached to vsm-b within 30s: hv1 %+v, hv2 %+v\nvsm-b:\n%s",
				dpaStatus(t, hosts[0]), dpaStatus(t, hosts[1]), b.proc.Output())
		}
	}
	st, err := b.redundancy()
	t.Logf("vsm-a killed: vsm-b %s at epoch %d (%v); hv1 reattached after %v, hv2 after %v",
		st.State, st.Epoch, err, reattached[0].Round(10*time.Millisecond), reattached[1].Round(10*time.Millisecond))
	for i, h := range hosts {
		if d := dpaStatus(t, h); d.HeadlessSince != nil || d.Counters.SwitchRequestsAccepted == 0 {
			t.Errorf("%s after the switchover: headless since %v, %d switch requests accepted", h.ns.Name(), d.HeadlessSince, d.Counters.SwitchRequestsAccepted)
		} else {
			t.Logf("%s: attached to %s at epoch %d (was %d)", h.ns.Name(), d.AttachedVSM, d.Epoch, before[i])
		}
	}
	wg.Wait()
	pingsFor := time.Since(started)
	if pingsFor < killed.Sub(started)+max(reattached[0], reattached[1]) {
		t.Logf("note: the pings ended before the last reattach (%v)", pingsFor)
	}
	for i, f := range flows {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		r := results[i]
		t.Logf("%s -> %s: %d sent, %d received", f.from.ns.Name(), f.dst, r.sent, r.received)
		for _, seq := range r.missing {
			// Where the lost request falls: after the previous reply.
			t.Logf("  icmp_seq %d unanswered: the reply before it came %v after the kill", seq, r.near(seq).Sub(killed).Round(10*time.Millisecond))
		}
	}
	lost := false
	for _, r := range results {
		lost = lost || len(r.missing) > 0
	}
	for _, h := range hosts {
		if lost {
			out, _ := h.vemctl("show", "counters")
			t.Logf("%s counters:\n%s\nagent:\n%s", h.ns.Name(), out, h.agent.Output())
		}
	}
	for i, f := range flows {
		if results[i].sent != count || results[i].received != results[i].sent {
			t.Errorf("%s -> %s across the switchover: %d of %d pings answered, want all", f.from.ns.Name(), f.dst, results[i].received, results[i].sent)
		}
	}

	// A change on the new active reaches both VEMs.
	b.apply("segments:\n  - {name: db, type: vlan, vlan: 200}\n")
	for _, h := range hosts {
		waitFor(t, 15*time.Second, h.ns.Name()+": segment db from vsm-b", func() bool {
			out, err := h.vemctl("show", "segments")
			return err == nil && strings.Contains(out, "db") && strings.Contains(out, "200")
		})
	}
	for _, f := range flows {
		pingVM(t, f.from, f.dst, 2, true)
	}
}

// redundancy reads `vsm show system redundancy status -o json`.
func (s *vsmNode) redundancy() (ha.Status, error) {
	out, err := s.run("show", "system", "redundancy", "status", "-o", "json", "--timeout", "2s")
	if err != nil {
		return ha.Status{}, err
	}
	var st ha.Status
	return st, json.Unmarshal([]byte(out), &st)
}

// waitRedundancy polls the node's redundancy status until ok holds.
func (s *vsmNode) waitRedundancy(d time.Duration, what string, ok func(ha.Status) bool) ha.Status {
	s.t.Helper()
	var st ha.Status
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, err = s.redundancy(); err == nil && ok(st) {
			return st
		}
	}
	s.t.Fatalf("%s: not %s within %v: %+v, %v\n%s", s.name, what, d, st, err, s.proc.Output())
	return st
}

// seqPing is a ping run that keeps every reply: which sequence numbers
// went unanswered, and when the run started.
type seqPing struct {
	start    time.Time
	sent     int
	received int
	missing  []int
	// replied holds each answered request's reply time.
	replied map[int]time.Time
}

// near is the reply time of the last answered request before seq, the
// zero time if none.
func (r seqPing) near(seq int) time.Time {
	for i := seq - 1; i > 0; i-- {
		if at, ok := r.replied[i]; ok {
			return at
		}
	}
	return time.Time{}
}

var icmpSeq = regexp.MustCompile(`\[(\d+)\.(\d+)\].*icmp_seq=(\d+) `)

// pingSeq sends count echo requests interval apart from ns to dst and
// reports the sequence numbers that had no reply.
func pingSeq(ns *topo.NS, dst string, count int, interval time.Duration) (seqPing, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := seqPing{start: time.Now(), replied: map[int]time.Time{}}
	out, err := ns.RunNetOnly(ctx, "ping", "-n", "-D", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", dst)
	res, perr := parsePingSummary(out)
	if perr != nil {
		return r, fmt.Errorf("ping %s from %s: %v (%v)", dst, ns.Name(), perr, err)
	}
	r.sent, r.received = res.Sent, res.Received
	for _, m := range icmpSeq.FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt((m[2] + "000000")[:6], 10, 64)
		n, _ := strconv.Atoi(m[3])
		r.replied[n] = time.Unix(sec, us*1000)
	}
	for i := 1; i <= r.sent; i++ {
		if _, ok := r.replied[i]; !ok {
			r.missing = append(r.missing, i)
		}
	}
	return r, nil
}

var pingTotals = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

func parsePingSummary(out string) (topo.PingResult, error) {
	m := pingTotals.FindStringSubmatch(out)
	if m == nil {
		return topo.PingResult{}, fmt.Errorf("no summary in %q", out[max(0, len(out)-300):])
	}
	s, _ := strconv.Atoi(m[1])
	r, _ := strconv.Atoi(m[2])
	return topo.PingResult{Sent: s, Received: r}, nil
}
