package main

// -dpa: issue 10's benchmark. Three parts, each bounded and cleaned up
// whatever happens:
//
//   - switchover (dpa_switchover.go): a VSM pair and -dpa-hosts real
//     DPAs; the active stops; per VEM, switch request to attached to the
//     new active and to its configuration acknowledged, and the time for
//     all of them.
//   - reconcile (dpa_reconcile.go): the engine's plan for 10,000 ports
//     (refused: the datapath holds 4,095), then the largest snapshot the
//     datapath takes applied by the real agent (the -engine rig).
//   - attach (dpa_attach.go): port attach through the agent's API to the
//     first ping answered through the port, standalone (the baseline),
//     attached to a VSM and headless.
//
// # Measured
//
// On 2 shared cores (load 10 to 400 from other work; see the log of each
// run), 2,000 hosts: switch request to current p50 289 ms, p99 332 ms,
// all 676 ms for the DPAs, against 828 ms / 1,123 ms / 1.34 s for bare
// protocol clients in the same run. (Before the DPA refreshed its idle
// sessions with its module soon after attaching, 1,999 of 2,000 redialled
// the new active at the switchover: p50 4.6 s, p99 4.9 s, 60 s under
// heavy load.) The engine's plan was quadratic in the ports (296 ms at
// 4,095) until agent/slots.go kept a bound on the free slots. Attach to
// forwarding: p50 5 ms standalone, 14 ms in VSM mode attached or
// headless; p99 23 to 58 ms under that load.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// dpaOptions are the flags of -dpa.
type dpaOptions struct {
	enabled  bool
	parts    string
	hosts    int
	attaches int
}

func addDPAFlags(fs *flag.FlagSet) *dpaOptions {
	o := &dpaOptions{}
	fs.BoolVar(&o.enabled, "dpa", false, "measure the DPA: switchover of -dpa-hosts VEMs, 10,000-port reconcile, port attach latency")
	fs.StringVar(&o.parts, "dpa-parts", "switchover,reconcile,attach", "comma-separated `parts` of -dpa to run")
	fs.IntVar(&o.hosts, "dpa-hosts", 2000, "simulated `hosts` (real DPAs) for -dpa's switchover")
	fs.IntVar(&o.attaches, "dpa-attaches", 50, "port `attaches` per variant for -dpa's attach latency")
	return o
}

// dpaRow is one line of the closing table.
type dpaRow struct{ what, p50, p99, all, goal string }

func runDPABench(agentBin string, o *dpaOptions) error {
	parts := strings.Split(o.parts, ",")
	for _, p := range parts {
		if !slices.Contains([]string{"switchover", "reconcile", "attach"}, p) {
			return fmt.Errorf("-dpa-parts %q: want switchover, reconcile or attach", o.parts)
		}
	}
	if o.hosts < 1 || o.hosts > 4000 {
		return fmt.Errorf("-dpa-hosts %d: want 1 to 4000", o.hosts)
	}
	if o.attaches < 1 || o.attaches > 1000 {
		return fmt.Errorf("-dpa-attaches %d: want 1 to 1000", o.attaches)
	}
	if (slices.Contains(parts, "reconcile") || slices.Contains(parts, "attach")) && os.Geteuid() != 0 {
		return fmt.Errorf("-dpa-parts reconcile and attach need root (namespaces, eBPF)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "vem-bench-dpa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if agentBin == "" && (slices.Contains(parts, "reconcile") || slices.Contains(parts, "attach")) {
		// Built once for both parts.
		if agentBin, err = buildAgent(ctx, dir); err != nil {
			return err
		}
	}
	fmt.Printf("-dpa on %d CPUs, load %s at start\n", runtime.NumCPU(), loadAverage())
	var rows []dpaRow
	var notes []string
	if slices.Contains(parts, "switchover") {
		for _, clients := range []bool{false, true} {
			r, err := runSwitchover(ctx, dir, o.hosts, clients)
			if err != nil {
				return fmt.Errorf("switchover (%s): %w", simKind(clients), err)
			}
			rr, note := switchoverRows(r, clients)
			rows, notes = append(rows, rr...), append(notes, note)
		}
	}
	if slices.Contains(parts, "reconcile") {
		rr, rn, err := runReconcile(ctx, agentBin)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		rows, notes = append(rows, rr...), append(notes, rn...)
	}
	if slices.Contains(parts, "attach") {
		ar, an, err := runAttach(ctx, agentBin, o.attaches)
		if err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		rows, notes = append(rows, ar...), append(notes, an...)
	}
	fmt.Println()
	w := newTable(os.Stdout)
	fmt.Fprintln(w, "what\tp50\tp99\tall / max\tgoal\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\n", r.what, dash(r.p50), dash(r.p99), dash(r.all), r.goal)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Println("  " + n)
	}
	fmt.Printf("load at the end: %s\n", loadAverage())
	return nil
}

// switchoverRows are part 1's lines of the table and its note. The
// baseline is the bench's protocol client, which reattaches on the
// session it holds when the switch request comes (no DPA rules).
func switchoverRows(r switchoverResult, clients bool) ([]dpaRow, string) {
	who, goal, goalAll := "DPA", "< 1 s", "< 10 s"
	if clients {
		who, goal, goalAll = "test client (baseline)", "-", "-"
	}
	at, cur := spreadOf(r.toAttached), spreadOf(r.toCurrent)
	fmt.Printf("switchover (%s): request → attached %v\n", who, at)
	fmt.Printf("switchover (%s): request → current  %v\n", who, cur)
	rows := []dpaRow{
		{fmt.Sprintf("switch request → attached, per VEM, %d × %s", r.hosts, who), msShort(at.p50), msShort(at.p99), "max " + msShort(at.max), goal},
		{fmt.Sprintf("switch request → config current, per VEM, %d × %s", r.hosts, who), msShort(cur.p50), msShort(cur.p99), "max " + msShort(cur.max), goal},
		{fmt.Sprintf("first switch request → all %d current, %s", r.hosts, who), "", "", durText(r.firstToLast), goalAll},
		{fmt.Sprintf("active stopped → all %d current, %s (loss interval 6 s)", r.hosts, who), "", "", durText(r.stopToLast), "-"},
	}
	note := fmt.Sprintf("switchover, %d × %s: with the VSM pair in one process, mutual TLS on 127.0.0.1; first switch request %v after the stop; load %s at the stop; %d goroutines, RSS %.0f MB; all attached at the start in %v",
		r.hosts, who, durText(r.stopToFirst), r.load, r.goroutines, r.rssMB, durText(r.attachAll))
	if !clients {
		note += fmt.Sprintf("; the fake applier took %d applies in the switchover; the DPAs dialled vsm-b %d times in it (%d failed)", r.applies, r.dials, r.dialFails)
	}
	return rows, note
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
