package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/test/topo"
)

// upgradeOptions are the flags of -upgrade.
type upgradeOptions struct {
	enabled bool
	ports   int
	rounds  int
	fill    bool
	// inService adds rounds of `vem-agent upgrade` (the handover).
	inService bool
}

func addUpgradeFlags(fs *flag.FlagSet) *upgradeOptions {
	o := &upgradeOptions{}
	fs.BoolVar(&o.enabled, "upgrade", false, "measure an agent upgrade by restart (map migration into the fixture build and back) beside a restart into the same build")
	fs.IntVar(&o.ports, "upgrade-ports", 4000, "vEth `count` of the -upgrade topology (2 of them veths to VMs that ping)")
	fs.IntVar(&o.rounds, "upgrade-rounds", 3, "`rounds` of same-build restart, upgrade and downgrade")
	fs.BoolVar(&o.fill, "upgrade-fill-counters", true, "put a count in every vem_stats slot first, as if every port had traffic (the migration copies every slot)")
	fs.BoolVar(&o.inService, "upgrade-in-service", true, "also hand over in service (vem-agent upgrade with bundles) into the fixture build and back, -upgrade-rounds times")
	return o
}

// An upgrade's figures: one restart of the agent from one build into
// another, with every port in the file and a ping across two of them.
type upgradeSample struct {
	stopped   time.Duration // SIGTERM to the old agent until it exited
	current   time.Duration // old agent exited until the new one's engine is current
	running   time.Duration // old agent exited until the new one logs "agent running"
	opened    time.Duration // old agent exited until the new one logs "adopting pinned datapath" (its datapath open, migration included)
	migration time.Duration // the migration's own time (its log line's took), 0 if none
	migrated  string        // what it migrated
	sent      int           // echo requests during the restart
	lost      int
}

// The transitions each round measures, in order: from the build the agent
// runs to the next.
var upgradeSteps = []struct{ name, to string }{
	{"restart, same build", "current"},
	{"upgrade to fixture", "fixture"},
	{"downgrade to current", "current"},
}

// runUpgrade measures the agent's upgrade by restart at o.ports ports:
// issue 12's "time the upgrade takes with 4,000 ports".
//
// Measured (2 cores shared with other work, load average 40 to 500;
// 4,000 ports, vem_stats full, 5 rounds, medians):
//
//	                      stopped->current  dp open  migration  ping lost
//	restart, same build             931 ms   449 ms          -     0/5001
//	upgrade to fixture             1323 ms  1066 ms     381 ms     0/6378
//	downgrade to current           1340 ms  1057 ms     340 ms     0/4979
//
// The migration (4,096 per-CPU slots copied, the new programs swapped
// into 4,000 pinned links, catch-up, pin renamed) adds about 0.4 s to the
// restart; no ping is lost: the pinned programs forward while no agent
// runs. Single rounds range 0.7 to 2 s on this loaded machine.
//
// It restarts the current build into the fixture build (-tags vemfixture:
// vem_stats one counter longer, so the pinned vem_stats migrates) and
// back, beside a restart into the same build in the same run, each with a
// ping at 1,000 per second between two VMs on the switch.
func runUpgrade(agentBin string, o *upgradeOptions) error {
	if o.ports < 2 || o.ports > 4095 {
		return fmt.Errorf("-upgrade-ports %d: want 2 to 4095 (the datapath's ceiling)", o.ports)
	}
	if o.rounds < 1 || o.rounds > 20 {
		return fmt.Errorf("-upgrade-rounds %d: want 1 to 20", o.rounds)
	}
	if err := requireRoot("ip", "ping", "go"); err != nil {
		return err
	}
	s, err := openSession("vem-bench-upgrade", "vemupg", agentBin)
	if err != nil {
		return err
	}
	instance := fmt.Sprintf("benchupg%d", os.Getpid())
	defer s.close(func() []string { return leftBehind(s.tp, instance) })
	fixture := filepath.Join(s.dir, "vem-agent-fixture")
	if out, err := exec.CommandContext(s.ctx, "go", "build", "-tags", "vemfixture", "-o", fixture, "github.com/vem-switch/vem/cmd/vem-agent").CombinedOutput(); err != nil {
		return fmt.Errorf("build the fixture agent: %w: %s", err, out)
	}
	bins := map[string]string{"current": s.agentBin, "fixture": fixture}

	host, err := s.tp.NS("host")
	if err != nil {
		return err
	}
	vm1, _, err := upgradeVMs(s.tp, host)
	if err != nil {
		return err
	}
	taps := o.ports - 2
	var batch strings.Builder
	for i := 0; i < taps; i++ {
		fmt.Fprintf(&batch, "tuntap add mode tap name tap%d\nlink set tap%d up\n", i, i)
	}
	batchFile := filepath.Join(s.dir, "taps.batch")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		return err
	}
	if _, err := host.Run(s.ctx, "ip", "-batch", batchFile); err != nil {
		return err
	}
	stateDir := filepath.Join(s.dir, "state")
	cfgFile := filepath.Join(stateDir, "vem.yaml")
	socket := filepath.Join(stateDir, "vem.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "host: bench\ninstance: %s\nsocket: %s\nsegments:\n  - {name: vms, type: local}\n", instance, socket)
	for seg := 0; seg*64 < taps; seg++ {
		fmt.Fprintf(&b, "  - {name: lab%d, type: local}\n", seg)
	}
	b.WriteString("ports:\n")
	b.WriteString("  - {interface: vm1, mac: \"52:54:00:ff:00:01\", segment: vms}\n  - {interface: vm2, mac: \"52:54:00:ff:00:02\", segment: vms}\n")
	for i := 0; i < taps; i++ {
		fmt.Fprintf(&b, "  - {interface: tap%d, mac: \"52:54:00:%02x:%02x:%02x\", segment: lab%d}\n", i, i>>16&0xff, i>>8&0xff, i&0xff, i/64)
	}
	if err := writeAgentConfig(s.tp, s.agentBin, "bench", instance, stateDir, cfgFile, b.String()); err != nil {
		return err
	}

	client := api.NewClient(socket)
	agent, err := startAgentIn(host, bins["current"], cfgFile, stateDir)
	if err != nil {
		return err
	}
	if _, err := waitCurrent(s.ctx, client, agent, 120*time.Second); err != nil {
		return err
	}
	if err := waitReachable(s.ctx, vm1, "192.0.2.2", agent); err != nil {
		return err
	}
	inUse := "as the taps left them"
	if o.fill {
		n, err := fillCounters(instance)
		if err != nil {
			return err
		}
		inUse = fmt.Sprintf("%d slots, every one counting", n)
	}
	fmt.Printf("%d ports (%d taps, 2 VMs pinging), %d rounds; vem_stats %s\n", o.ports, taps, o.rounds, inUse)

	results := map[string][]upgradeSample{}
	for r := 1; r <= o.rounds; r++ {
		for _, step := range upgradeSteps {
			smp, next, err := measureRestart(s.ctx, host, vm1, agent, bins[step.to], cfgFile, stateDir, client)
			if next != nil {
				agent = next
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, step.name, err)
			}
			results[step.name] = append(results[step.name], smp)
			fmt.Printf("round %d  %-22s stop %s, stopped -> datapath open %s, running %s, current %s; migration %s; ping lost %d of %d%s\n",
				r, step.name, msText(smp.stopped), msText(smp.opened), msText(smp.running), msText(smp.current), msText(smp.migration), smp.lost, smp.sent,
				func() string {
					if smp.migrated == "" {
						return ""
					}
					return "\n        migrated " + smp.migrated
				}())
		}
	}
	if err := agent.Stop(); err != nil {
		return err
	}
	var inService map[string][]inServiceSample
	if o.inService {
		if inService, err = measureInService(s.ctx, s, host, vm1, cfgFile, stateDir, socket, o.rounds); err != nil {
			return err
		}
	}
	fmt.Println()
	fmt.Printf("%-22s %14s %14s %14s %14s %12s %10s\n", "median of "+strconv.Itoa(o.rounds), "stopped->cur", "(dp open)", "(running)", "migration", "SIGTERM", "ping lost")
	for _, step := range upgradeSteps {
		ss := results[step.name]
		med := func(f func(upgradeSample) time.Duration) string {
			var xs []float64
			for _, x := range ss {
				xs = append(xs, float64(f(x)))
			}
			return msText(time.Duration(median(xs)))
		}
		lost, sent := 0, 0
		for _, x := range ss {
			lost += x.lost
			sent += x.sent
		}
		fmt.Printf("%-22s %14s %14s %14s %14s %12s %10s\n", step.name,
			med(func(x upgradeSample) time.Duration { return x.current }), med(func(x upgradeSample) time.Duration { return x.opened }),
			med(func(x upgradeSample) time.Duration { return x.running }),
			med(func(x upgradeSample) time.Duration { return x.migration }), med(func(x upgradeSample) time.Duration { return x.stopped }),
			fmt.Sprintf("%d/%d", lost, sent))
	}
	fmt.Println("stopped->cur: the old agent exited until the new one's API says engine current (polled every 5 ms);")
	fmt.Println("(dp open): until its \"adopting pinned datapath\" line (maps adopted or migrated, programs loaded);")
	fmt.Println("(running): until its \"agent running\" line; migration: its \"migrated pinned maps\" line's took (copy, link swap, catch-up, pins);")
	fmt.Println("SIGTERM: until the old agent exited; ping lost: vm1 -> vm2 at 1 ms intervals from before the stop to after current, all rounds.")
	if o.inService {
		printInService(inService, o.rounds)
	}
	return nil
}

// upgradeVMs makes the two VM namespaces whose veths (vm1, vm2 in host)
// are vEths on segment vms.
func upgradeVMs(tp *topo.Topology, host *topo.NS) (*topo.NS, *topo.NS, error) {
	var vms []*topo.NS
	for i := 1; i <= 2; i++ {
		ns, err := tp.NS(fmt.Sprintf("vm%d", i))
		if err != nil {
			return nil, nil, err
		}
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:ff:00:%02x", i))
		if err := tp.Veth(host, fmt.Sprintf("vm%d", i), ns, "eth0", topo.MACs(nil, mac)); err != nil {
			return nil, nil, err
		}
		if err := ns.AddAddr("eth0", fmt.Sprintf("192.0.2.%d/24", i)); err != nil {
			return nil, nil, err
		}
		vms = append(vms, ns)
	}
	return vms[0], vms[1], nil
}

// waitCurrent polls the agent's API every 5 ms until its engine is
// current, and returns when it saw that.
func waitCurrent(ctx context.Context, c *api.Client, p *topo.Proc, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		if err := exited(p, "vem-agent"); err != nil {
			return time.Time{}, err
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(qctx)
		cancel()
		if err == nil && st.Engine.State == api.EngineCurrent {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("engine not current after %v (%v):\n%s", limit, err, lastLines(p.Output(), 20))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// measureRestart stops the running agent old and starts bin in its
// place, with a ping at 1 ms intervals from vm1 running from before the
// stop until after the new engine is current. It returns the new agent
// (nil if none started).
func measureRestart(ctx context.Context, host, vm1 *topo.NS, old *topo.Proc, bin, cfgFile, stateDir string, c *api.Client) (upgradeSample, *topo.Proc, error) {
	var smp upgradeSample
	ping, err := vm1.StartNetOnly("ping", "-n", "-q", "-i", "0.001", "-W", "1", "192.0.2.2")
	if err != nil {
		return smp, nil, err
	}
	defer ping.Stop()
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := old.Stop(); err != nil {
		return smp, nil, err
	}
	stopped := time.Now()
	smp.stopped = stopped.Sub(t0)
	p, err := startAgentIn(host, bin, cfgFile, stateDir)
	if err != nil {
		return smp, nil, err
	}
	cur, err := waitCurrent(ctx, c, p, 120*time.Second)
	if err != nil {
		return smp, p, err
	}
	smp.current = cur.Sub(stopped)
	// The API may answer current before the line is written.
	if err := waitLog(ctx, p, "agent running", 1, 30*time.Second); err != nil {
		return smp, p, err
	}
	smp.running = logTime(nthLine(p.Output(), "agent running", 1)).Sub(stopped)
	if line := nthLine(p.Output(), "adopting pinned datapath", 1); line != "" {
		smp.opened = logTime(line).Sub(stopped)
	}
	if line := nthLine(p.Output(), "migrated pinned maps", 1); line != "" {
		smp.migration = tookOf(line)
		if m := migratedRE.FindStringSubmatch(line); m != nil {
			smp.migrated = m[1]
		}
	}
	time.Sleep(300 * time.Millisecond)
	// SIGINT: ping prints its summary and exits.
	if err := syscall.Kill(ping.Pid(), syscall.SIGINT); err != nil {
		return smp, p, err
	}
	select {
	case <-ping.Done():
	case <-time.After(5 * time.Second):
		return smp, p, fmt.Errorf("ping did not exit on SIGINT:\n%s", ping.Output())
	}
	m := pingSummaryRE.FindStringSubmatch(ping.Output())
	if m == nil {
		return smp, p, fmt.Errorf("no summary in ping's output %q", ping.Output())
	}
	smp.sent, _ = strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	smp.lost = smp.sent - recv
	return smp, p, nil
}

var (
	pingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)
	migratedRE    = regexp.MustCompile(`"maps": \["([^"]*)"`)
)

// fillCounters gives every slot of the instance's pinned vem_stats, on
// every CPU, a non-zero first counter where it has none, so that a
// migration copies all of them, as on a host where every port has
// carried traffic. It returns the number of slots.
func fillCounters(instance string) (int, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(bpf.PinDir(instance), "vem_stats"), nil)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	n := int(m.MaxEntries())
	for slot := uint32(0); slot < uint32(n); slot++ {
		var vals [][]byte
		if err := m.Lookup(slot, &vals); err != nil {
			return 0, fmt.Errorf("vem_stats[%d]: %w", slot, err)
		}
		for _, v := range vals {
			if binary.NativeEndian.Uint64(v) == 0 {
				binary.NativeEndian.PutUint64(v, uint64(slot)+1)
			}
		}
		if err := m.Put(slot, vals); err != nil {
			return 0, fmt.Errorf("vem_stats[%d]: %w", slot, err)
		}
	}
	return n, nil
}
