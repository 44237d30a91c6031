package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/test/topo"
)

// engineOptions are the flags of -engine.
type engineOptions struct {
	enabled bool
	sizes   string
}

func addEngineFlags(fs *flag.FlagSet) *engineOptions {
	o := &engineOptions{}
	fs.BoolVar(&o.enabled, "engine", false, "measure the engine: file change to datapath current, RSS and drift repair, for -ports sizes")
	fs.StringVar(&o.sizes, "ports", "1,100,4000", "comma-separated port `counts` for -engine")
	return o
}

// engineResult is one size's figures.
type engineResult struct {
	ports          int
	startUp        time.Duration // agent start to serving, all ports in the file
	applyAll       time.Duration // the file going from no ports to all: SIGHUP to applied
	applyAllEngine time.Duration // ... of which the engine's Apply
	applyOne       time.Duration // one port's profile changed among all
	applyOneEngine time.Duration
	rssKB          int
	driftRepair    time.Duration // an entry deleted to written back (resync every 1 s)
	resyncTook     time.Duration // the resync that repaired it
	tapsCreate     time.Duration
	scrape         scrapeResult
	// applyOneScraped is applyOneEngine again (the port changed back)
	// while scrapes run back to back: a scrape must not hold a
	// reconcile up; scrapesBeside is how many ran meanwhile.
	applyOneScraped time.Duration
	scrapesBeside   int
}

// runEngine measures, for each size, how long a configuration change
// takes to reach the datapath through the real agent, its memory, and how
// fast drift is repaired.
func runEngine(agentBin string, o *engineOptions) error {
	if err := requireRoot("ip"); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(o.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4000 {
			return fmt.Errorf("-ports %q: want counts from 1 to 4000", o.sizes)
		}
		sizes = append(sizes, n)
	}
	var results []engineResult
	for _, n := range sizes {
		r, err := measureEngine(agentBin, n)
		if err != nil {
			return fmt.Errorf("%d ports: %w", n, err)
		}
		results = append(results, r)
	}
	fmt.Println()
	fmt.Printf("%-6s %10s %12s %10s %12s %10s %8s %12s %10s\n", "ports", "start-up", "apply all", "(engine)",
		"apply one", "(engine)", "RSS MB", "drift fixed", "(resync)")
	for _, r := range results {
		fmt.Printf("%-6d %10s %12s %10s %12s %10s %8.1f %12s %10s\n", r.ports, msText(r.startUp), msText(r.applyAll), msText(r.applyAllEngine),
			msText(r.applyOne), msText(r.applyOneEngine), float64(r.rssKB)/1024, msText(r.driftRepair), msText(r.resyncTook))
	}
	fmt.Println("apply: SIGHUP to the agent's \"configuration applied\" log line; (engine): Engine.Apply alone.")
	fmt.Println()
	fmt.Printf("%-6s %12s %12s %10s %8s %22s %10s\n", "ports", "scrape p50", "scrape p99", "body KB", "series", "apply one (engine)", "scraping")
	for _, r := range results {
		fmt.Printf("%-6d %12s %12s %10.1f %8d %22s %10s\n", r.ports, msText(r.scrape.p50), msText(r.scrape.p99), float64(r.scrape.bytes)/1024,
			r.scrape.series, msText(r.applyOneEngine), fmt.Sprintf("%s (%d)", msText(r.applyOneScraped), r.scrapesBeside))
	}
	fmt.Println("scrape: GET /metrics to the last byte, 20 in a row; apply one (engine) beside scraping: the same change while scrapes run back to back (how many in brackets).")
	fmt.Println("drift fixed: a port entry deleted from the pinned map until it is back, resync every 1 s.")
	return nil
}

func msText(d time.Duration) string { return fmt.Sprintf("%.1f ms", ms(d)) }

func measureEngine(agentBin string, n int) (engineResult, error) {
	res := engineResult{ports: n}
	s, err := openSession("vem-bench-engine", "vemeng", agentBin)
	if err != nil {
		return res, err
	}
	defer s.close(func() []string { return nil })
	host, err := s.tp.NS("host")
	if err != nil {
		return res, err
	}
	// Taps as KVM makes them, persistent, created in one batch.
	var batch strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&batch, "tuntap add mode tap name tap%d\nlink set tap%d up\n", i, i)
	}
	batchFile := filepath.Join(s.dir, "taps.batch")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		return res, err
	}
	start := time.Now()
	if _, err := host.Run(s.ctx, "ip", "-batch", batchFile); err != nil {
		return res, err
	}
	res.tapsCreate = time.Since(start)

	instance := fmt.Sprintf("bench%d", os.Getpid())
	stateDir := filepath.Join(s.dir, "state")
	cfgFile := filepath.Join(stateDir, "vem.yaml")
	socket := filepath.Join(stateDir, "vem.sock")
	config := func(ports int, shutOne bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "host: bench\ninstance: %s\nsocket: %s\nmetrics: {address: %q}\nsegments:\n", instance, socket, benchMetricsAddress)
		for seg := 0; seg*64 < n; seg++ {
			fmt.Fprintf(&b, "  - {name: lab%d, type: local}\n", seg)
		}
		b.WriteString("profiles:\n  - {name: default, portSecurity: true}\n  - {name: shut, adminDown: true}\nports:\n")
		if ports == 0 {
			b.WriteString("  []\n")
		}
		for i := 0; i < ports; i++ {
			prof := "default"
			if shutOne && i == ports/2 {
				prof = "shut"
			}
			fmt.Fprintf(&b, "  - {interface: tap%d, mac: \"52:54:00:%02x:%02x:%02x\", segment: lab%d, profile: %s}\n",
				i, i>>16&0xff, i>>8&0xff, i&0xff, i/64, prof)
		}
		return b.String()
	}
	if err := writeAgentConfig(s.tp, s.agentBin, "bench", instance, stateDir, cfgFile, config(0, false)); err != nil {
		return res, err
	}
	p, err := startAgentIn(host, s.agentBin, cfgFile, stateDir, "--resync-interval", "1s")
	if err != nil {
		return res, err
	}
	if err := waitLog(s.ctx, p, "agent running", 1, 30*time.Second); err != nil {
		return res, err
	}

	// All ports at once.
	apply := func(cfg string, nth int) (time.Duration, time.Duration, error) {
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			return 0, 0, err
		}
		sent := time.Now()
		if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
			return 0, 0, err
		}
		if err := waitLog(s.ctx, p, "configuration applied", nth, 60*time.Second); err != nil {
			return 0, 0, err
		}
		line := nthLine(p.Output(), "configuration applied", nth)
		return logTime(line).Sub(sent), tookOf(line), nil
	}
	if res.applyAll, res.applyAllEngine, err = apply(config(n, false), 1); err != nil {
		return res, err
	}
	if res.applyOne, res.applyOneEngine, err = apply(config(n, true), 2); err != nil {
		return res, err
	}
	// Scrapes of /metrics with every port, then the port changed back
	// while scrapes run beside the apply.
	if res.scrape, err = measureScrape(s.ctx, host, 20); err != nil {
		return res, err
	}
	sctx, stopScrapes := context.WithCancel(s.ctx)
	scrapes := scrapeBeside(sctx, host)
	time.Sleep(100 * time.Millisecond)
	_, res.applyOneScraped, err = apply(config(n, false), 3)
	stopScrapes()
	res.scrapesBeside = <-scrapes
	if err != nil {
		return res, err
	}
	// Let the file poll see the last change too, so that no reload
	// repairs the entry the drift measurement deletes; the RSS is the
	// steady state's.
	time.Sleep(1500 * time.Millisecond)
	res.rssKB = rssKB(p.Pid())

	// Drift: delete the first tap's entry behind the agent's back.
	if res.driftRepair, res.resyncTook, err = measureDrift(s.ctx, host, p, instance); err != nil {
		return res, err
	}

	// Start-up with every port in the file, from the pinned state.
	if err := p.Stop(); err != nil {
		return res, err
	}
	start = time.Now()
	p, err = startAgentIn(host, s.agentBin, cfgFile, stateDir)
	if err != nil {
		return res, err
	}
	if err := waitLog(s.ctx, p, "agent running", 1, 60*time.Second); err != nil {
		return res, err
	}
	res.startUp = time.Since(start)
	fmt.Printf("%d ports: taps created in %v; start-up %v, apply all %v, one %v, RSS %d kB, drift %v\n",
		n, res.tapsCreate.Round(time.Millisecond), res.startUp.Round(time.Millisecond), res.applyAll.Round(time.Millisecond),
		res.applyOne.Round(time.Millisecond), res.rssKB, res.driftRepair.Round(time.Millisecond))
	return res, p.Stop()
}

func measureDrift(ctx context.Context, host *topo.NS, p *topo.Proc, instance string) (time.Duration, time.Duration, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(bpf.PinDir(instance), "vem_ports"), nil)
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	var ifindex int
	if err := host.Do(func() error {
		l, err := net.InterfaceByName("tap0")
		if err == nil {
			ifindex = l.Index
		}
		return err
	}); err != nil {
		return 0, 0, err
	}
	key := make([]byte, 4)
	binary.NativeEndian.PutUint32(key, uint32(ifindex))
	val := make([]byte, m.ValueSize())
	deleted := time.Now()
	if err := m.Delete(key); err != nil {
		return 0, 0, err
	}
	for m.Lookup(key, val) != nil {
		if time.Since(deleted) > 30*time.Second || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("the deleted port entry did not come back in 30 s; the agent said:\n%s", lastLines(p.Output(), 30))
		}
		time.Sleep(100 * time.Microsecond)
	}
	back := time.Since(deleted)
	if err := waitLog(ctx, p, "datapath drift repaired", 1, 5*time.Second); err != nil {
		return back, 0, err
	}
	return back, tookOf(nthLine(p.Output(), "datapath drift repaired", 1)), nil
}

// lastLines returns the last n lines of out.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitLog waits until the agent's output has the nth line holding what.
func waitLog(ctx context.Context, p *topo.Proc, what string, nth int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for nthLine(p.Output(), what, nth) == "" {
		select {
		case <-p.Done():
			return fmt.Errorf("agent exited waiting for %q:\n%s", what, p.Output())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q after %v:\n%s", what, limit, p.Output())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func nthLine(out, what string, nth int) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), what) {
			if nth--; nth == 0 {
				return sc.Text()
			}
		}
	}
	return ""
}

// logTime reads the ISO 8601 time a zap console line starts with.
func logTime(line string) time.Time {
	f := strings.Fields(line)
	if len(f) == 0 {
		return time.Time{}
	}
	t, _ := time.Parse("2006-01-02T15:04:05.000Z0700", f[0])
	return t
}

var tookRE = regexp.MustCompile(`"took": ([0-9.e+-]+)`)

// tookOf reads the took field of a zap console line.
func tookOf(line string) time.Duration {
	m := tookRE.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	// zap's production encoder writes durations as float seconds.
	sec, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(sec * float64(time.Second))
}

// rssKB reads a process's resident set size.
func rssKB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}
