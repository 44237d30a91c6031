package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/issu/bundle"
	"github.com/vem-switch/vem/test/topo"
)

// The versions the in-service rounds hand over between: this build and
// the fixture build, stamped so that their bundles differ.
const (
	inServiceCurrent = "1.0.0-bench"
	inServiceFixture = "1.1.0-bench"
)

// inServiceSample is one `vem-agent upgrade`: its phases' durations as it
// printed them, its whole run, and the ping across it.
type inServiceSample struct {
	phases     map[string]time.Duration
	total      time.Duration
	sent, lost int
}

// phaseLineRE matches a phase line of `vem-agent upgrade`:
// "switch   ok        673ms  released in 4ms; ...".
var phaseLineRE = regexp.MustCompile(`(?m)^(validate|spawn|prepare|switch|verify|stable|commit)\s+ok\s+(\S+)`)

// inServicePhases are the phases the table shows.
var inServicePhases = []string{"validate", "prepare", "switch", "verify"}

// measureInService hands the agent over in service (`vem-agent upgrade`)
// into the fixture build and back, rounds times, at the same ports as the
// restarts, with a ping at 1,000 per second across.
//
// Measured (4,000 ports, vem_stats full, 3 rounds, medians; load average
// up to 700 from other work): upgrade 12.1 s in all with --stable 2s
// (validate 4.6 s, prepare 4.3 s, switch 0.93 s), downgrade 13.9 s
// (switch 0.98 s); 0 of 59,223 pings lost. Validate and prepare load the
// new programs through the verifier and plan every pinned map while the
// old agent forwards and controls; only the switch is the handover. The agents log to a
// file (a successor inherits it; a pipe would close with the first
// agent) and are stopped by PID, whichever serves the socket at the end.
func measureInService(ctx context.Context, s *session, host, vm1 *topo.NS, cfgFile, stateDir, socket string, rounds int) (map[string][]inServiceSample, error) {
	dir := filepath.Join(s.dir, "issu")
	bundles := map[string]string{}
	for _, b := range []struct{ version, tags string }{{inServiceCurrent, ""}, {inServiceFixture, "vemfixture"}} {
		bin := filepath.Join(dir, "vem-agent-"+b.version)
		args := []string{"build", "-ldflags", "-X main.version=" + b.version, "-o", bin}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		if out, err := exec.CommandContext(ctx, "go", append(args, "github.com/vem-switch/vem/cmd/vem-agent")...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build vem-agent %s: %w: %s", b.version, err, out)
		}
		bd := filepath.Join(dir, "bundle-"+b.version)
		if _, err := bundle.Make(ctx, bd, bin, bundle.MakeOptions{}); err != nil {
			return nil, err
		}
		bundles[b.version] = bd
	}
	root := filepath.Join(dir, "root")
	logFile := filepath.Join(dir, "agents.log")
	client := api.NewClient(socket)
	servingPID := func() (int, error) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := client.Handover(c)
		return st.PID, err
	}
	defer stopServing(servingPID)

	first, err := host.StartNetOnly("/bin/sh", "-c", `exec "$@" >>"$0" 2>&1`, logFile,
		filepath.Join(bundles[inServiceCurrent], bundle.AgentFile), "--config", cfgFile, "--state-dir", stateDir)
	if err != nil {
		return nil, err
	}
	if _, err := waitCurrent(ctx, client, first, 120*time.Second); err != nil {
		return nil, err
	}
	out := map[string][]inServiceSample{}
	for r := 1; r <= rounds; r++ {
		for _, step := range []struct{ name, to string }{{"upgrade to fixture", inServiceFixture}, {"downgrade to current", inServiceCurrent}} {
			smp, err := upgradeInService(ctx, host, vm1, bundles[step.to], cfgFile, stateDir, root)
			if err != nil {
				logTail, _ := os.ReadFile(logFile)
				return out, fmt.Errorf("round %d, %s: %w\nagents' log:\n%s", r, step.name, err, lastLines(string(logTail), 30))
			}
			out[step.name] = append(out[step.name], smp)
			fmt.Printf("round %d  in service, %-20s %s in all, validate %s, prepare %s, switch %s; ping lost %d of %d\n", r, step.name,
				msText(smp.total), msText(smp.phases["validate"]), msText(smp.phases["prepare"]), msText(smp.phases["switch"]), smp.lost, smp.sent)
		}
	}
	return out, nil
}

// upgradeInService runs one `vem-agent upgrade` under a ping.
func upgradeInService(ctx context.Context, host, vm1 *topo.NS, bundleDir, cfgFile, stateDir, root string) (inServiceSample, error) {
	smp := inServiceSample{phases: map[string]time.Duration{}}
	ping, err := vm1.StartNetOnly("ping", "-n", "-q", "-i", "0.001", "-W", "1", "192.0.2.2")
	if err != nil {
		return smp, err
	}
	defer ping.Stop()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// --stable 2s: the rounds measure the handover, not the wait.
	text, err := host.RunNetOnly(uctx, filepath.Join(bundleDir, bundle.AgentFile), "upgrade", "--bundle", bundleDir,
		"--config", cfgFile, "--state-dir", stateDir, "--root", root, "--phase-timeout", "120s", "--stable", "2s")
	smp.total = time.Since(start)
	if err != nil {
		return smp, fmt.Errorf("vem-agent upgrade: %w\n%s", err, text)
	}
	for _, m := range phaseLineRE.FindAllStringSubmatch(text, -1) {
		d, err := time.ParseDuration(m[2])
		if err != nil {
			return smp, fmt.Errorf("phase %s: duration %q: %w", m[1], m[2], err)
		}
		smp.phases[m[1]] = d
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(ping.Pid(), syscall.SIGINT); err != nil {
		return smp, err
	}
	select {
	case <-ping.Done():
	case <-time.After(5 * time.Second):
		return smp, fmt.Errorf("ping did not exit on SIGINT:\n%s", ping.Output())
	}
	m := pingSummaryRE.FindStringSubmatch(ping.Output())
	if m == nil {
		return smp, fmt.Errorf("no summary in ping's output %q", ping.Output())
	}
	smp.sent, _ = strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	smp.lost = smp.sent - recv
	return smp, nil
}

// stopServing stops the agent serving the socket by its PID and waits
// for it to be gone.
func stopServing(pid func() (int, error)) error {
	p, err := pid()
	if err != nil {
		return nil // nobody serves
	}
	if err := syscall.Kill(p, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(p, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
	}
	return syscall.Kill(p, syscall.SIGKILL)
}

// printInService prints the medians of the in-service rounds.
func printInService(res map[string][]inServiceSample, rounds int) {
	fmt.Println()
	fmt.Printf("%-28s %12s", "in service, median of "+strconv.Itoa(rounds), "all")
	for _, ph := range inServicePhases {
		fmt.Printf(" %12s", ph)
	}
	fmt.Printf(" %10s\n", "ping lost")
	for _, name := range []string{"upgrade to fixture", "downgrade to current"} {
		ss := res[name]
		med := func(f func(inServiceSample) time.Duration) string {
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
		fmt.Printf("%-28s %12s", name, med(func(x inServiceSample) time.Duration { return x.total }))
		for _, ph := range inServicePhases {
			fmt.Printf(" %12s", med(func(x inServiceSample) time.Duration { return x.phases[ph] }))
		}
		fmt.Printf(" %10s\n", fmt.Sprintf("%d/%d", lost, sent))
	}
	fmt.Println("in service: `vem-agent upgrade --stable 2s` from its start to its exit (all), and the phases as it printed them;")
	fmt.Println("switch: the old agent quiesced until the new one serves with the datapath adopted (migrated); ping as above.")
}
