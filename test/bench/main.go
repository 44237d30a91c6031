// Command bench measures VM-to-VM TCP throughput through vem against a
// Linux bridge and a direct veth pair, with iperf3 between two VM network
// namespaces, and the TCP counters that explain the retransmits.
//
//	go run ./test/bench [-agent bin/vem-agent] [-rounds 3] [-duration 3s] [-explore]
//	go run ./test/bench -vxlan [-agent bin/vem-agent] [-rounds 5] [-duration 5s]
//	go run ./test/bench -portchannel [-agent bin/vem-agent] [-failovers 10]
//
// With -vxlan it measures VM to VM across two hypervisors over a routed
// underlay instead: VXLAN through vem on both against the kernel's vxlan
// device and a Linux bridge on both (vxlan_rig.go, vxlan_run.go).
//
// With -portchannel it measures instead how fast an LACP port-channel
// between two agents moves a flow off a member that goes down
// (portchannel_*.go).
//
// Each VM namespace has eth0, a veth whose host end (tap1, tap2) sits in a
// host namespace; vm1 and vm2 are also joined by a direct veth pair d0.
// The variants run interleaved, round after round, so that the machine's
// drift hits them alike; the table gives medians and ratios within one run.
//
// # Where the retransmits come from
//
// Measured on kernel 6.18 with 2 CPUs (-explore, 5 rounds of 3 s; medians):
//
//	variant      Gbit/s  retrans  OFO-queued  busiest CPU
//	vem            13.0     4122         611      51 %
//	vem-no-peer    12.7     4540         588      53 %
//	bridge         12.9     4538         654      51 %
//	direct         12.3     2488         321      53 %
//	direct-1cpu    11.9        0           0     100 %
//	direct-rps     12.9        0           0     100 %
//	vem-gro        12.7     3106         526      54 %
//	vem-rps        12.5        0           0      98 %
//
// Nothing is lost: backlog drops and TCPLostRetransmit are 0, and the
// sender gets a D-SACK for about 95 % of its retransmitted segments
// (TCPDSACKRecvSegs against RetransSegs): the receiver already had them.
// The retransmits are spurious fast retransmits after reordering
// (TCPSACKReorder at the sender, TCPOFOQueue at the receiver).
//
// The reordering comes from the veth, not from the switch. A veth hands
// what it transmits to its peer with netif_rx, onto the backlog of the CPU
// that transmits. TCP transmits one flow from two places: the sending
// process, and the softirq that processes the ACKs, on whichever CPU they
// come in. With client and server on different CPUs, a flow's segments
// land on both CPUs' backlogs, which drain in parallel, and overtake each
// other. The runs with retransmits have the backlog work split about
// 50/50; the odd run in which the scheduler kept it on one CPU has none,
// whatever the variant, which is why the count swings from 0 to 10,000
// between runs and why single runs of two variants can differ tenfold
// either way. Pinning client and server to one CPU, or RPS on the
// receiving veth (the flow hash picks one backlog), removes it entirely.
//
// The split happens on the first hop, vm1's eth0 to tap1, before any
// switch sees the frame, so vem, the bridge and the direct pair reorder
// alike (here their medians are within the noise of one another).
// bpf_redirect_peer saves the second backlog hop (tap2 to vm2's eth0), but
// that hop stays on the CPU of the first and adds no reordering; peer and
// plain redirect are within noise in throughput too.
//
// The eBPF program cannot undo it: it runs after the split, on both CPUs.
// The agent can prevent it by enabling RPS on the host end of each veth
// vEth (rps_cpus of its receive queues set to all CPUs): every flow then
// crosses one backlog in order before the program runs (vem-rps: 0
// retransmits in every run, same throughput). Turning GRO on on the host
// end does not help (vem-gro): veth uses its NAPI ring only for skbs it
// could aggregate, and a TCP skb from a TSO-capable sender is not one
// (veth_skb_is_eligible_for_gro), so it still goes through netif_rx. Real
// KVM vEths are taps fed by one vhost thread per queue, which do not split
// a flow this way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

func main() {
	if err := run(); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	agentBin := fs.String("agent", "", "vem-agent `binary` (default: build ./cmd/vem-agent)")
	rounds := fs.Int("rounds", 3, "interleaved `rounds` of every variant")
	duration := fs.Duration("duration", 3*time.Second, "length of each iperf3 run (whole seconds)")
	only := fs.String("variants", "", "comma-separated `variants` to run (default: all)")
	explore := fs.Bool("explore", false, "add the variants that locate the reordering (GRO, RPS, one CPU)")
	verbose := fs.Bool("v", false, "print every TCP counter that moved in each run")
	vxlan := fs.Bool("vxlan", false, "measure VXLAN between two hosts: vem against the kernel's vxlan device and bridge")
	pc := addPortChannelFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if pc.enabled {
		return runPortChannel(*agentBin, pc)
	}
	if *rounds < 1 || *rounds > 20 {
		return fmt.Errorf("-rounds %d: want 1 to 20", *rounds)
	}
	if *duration < time.Second || *duration > time.Minute {
		return fmt.Errorf("-duration %v: want 1s to 1m", *duration)
	}
	if *vxlan {
		if *explore {
			return errors.New("-explore applies to the single-host comparison, not to -vxlan")
		}
		return runVXLAN(vxlanOptions{agentBin: *agentBin, rounds: *rounds, duration: *duration, only: *only, verbose: *verbose})
	}
	vs, err := selectVariants(variants(*explore), *only)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces and loads eBPF programs")
	}
	for _, tool := range []string{"iperf3", "nstat", "ethtool", "taskset", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return err
		}
	}

	// Ctrl-C or SIGTERM cancels the run; the deferred teardown still runs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "vem-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *agentBin == "" {
		if *agentBin, err = buildAgent(ctx, dir); err != nil {
			return err
		}
	}

	tp, err := topo.New(fmt.Sprintf("vembench%d", os.Getpid()))
	if err != nil {
		return err
	}
	var r *rig
	defer func() {
		if cerr := tp.Close(); cerr != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", cerr)
		}
		if r != nil {
			if left := r.leftovers(); len(left) > 0 {
				fmt.Fprintln(os.Stderr, "bench: left behind:", strings.Join(left, ", "))
			}
		}
	}()
	if r, err = newRig(tp, *agentBin, dir); err != nil {
		return err
	}
	if _, err := startIperfServer(ctx, r.vm2, iperfPort, ""); err != nil {
		return err
	}
	for _, v := range vs {
		if v.cpus != "" {
			if _, err := startIperfServer(ctx, r.vm2, iperfPinned, pinCPU); err != nil {
				return err
			}
			break
		}
	}
	if err := r.waitReachable(ctx, r.vm1, vm2DirectAddr, nil); err != nil {
		return err
	}

	fmt.Printf("%d rounds of %d variants, iperf3 -t %v, vm1 -> vm2\n", *rounds, len(vs), *duration)
	for _, v := range vs {
		fmt.Printf("  %-12s %s\n", v.name, v.desc)
	}
	results := map[string][]sample{}
	for round := 1; round <= *rounds; round++ {
		for _, v := range vs {
			s, err := measure(ctx, r, v, *duration)
			if ctx.Err() != nil {
				return errors.New("interrupted; cleaned up")
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, v.name, err)
			}
			results[v.name] = append(results[v.name], s)
			fmt.Printf("round %d %-12s %s\n", round, v.name, s.line())
			if *verbose {
				printMoved("  vm1", s.snd)
				printMoved("  vm2", s.rcv)
			}
		}
	}
	fmt.Println()
	printReport(os.Stdout, vs, results)
	return nil
}

// measure sets a variant up, runs iperf3 once through it with counters
// read around the run, and tears the variant down.
func measure(ctx context.Context, r *rig, v variant, d time.Duration) (s sample, err error) {
	undo, err := v.setup(ctx, r)
	if err != nil {
		return s, fmt.Errorf("set up: %w", err)
	}
	defer func() {
		if uerr := undo(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", uerr))
		}
	}()

	snd0, rcv0, net0, err := snapshot(ctx, r)
	if err != nil {
		return s, err
	}
	res, err := runIperfClient(ctx, r.vm1, v.addr, v.port, d, v.cpus)
	if err != nil {
		return s, err
	}
	snd1, rcv1, net1, err := snapshot(ctx, r)
	if err != nil {
		return s, err
	}
	return sample{
		gbps:    res.End.SumReceived.BitsPerSecond / 1e9,
		retrans: res.End.SumSent.Retransmits,
		snd:     snd1.sub(snd0),
		rcv:     rcv1.sub(rcv0),
		backlog: net1.sub(net0),
	}, nil
}

func snapshot(ctx context.Context, r *rig) (snd, rcv nstatCounters, backlog softnet, err error) {
	if snd, err = readNstat(ctx, r.vm1); err != nil {
		return
	}
	if rcv, err = readNstat(ctx, r.vm2); err != nil {
		return
	}
	backlog, err = readSoftnet()
	return
}

// printMoved prints the TCP counters of c that are not zero.
func printMoved(who string, c nstatCounters) {
	var names []string
	for k, v := range c {
		if v != 0 && (strings.HasPrefix(k, "Tcp") || strings.HasPrefix(k, "IpExt")) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	fmt.Printf("%s: %s\n", who, strings.Join(parts, " "))
}

// buildAgent builds ./cmd/vem-agent of the module bench runs in.
func buildAgent(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go tool to build vem-agent (or pass -agent): %w", err)
	}
	out := filepath.Join(dir, "vem-agent")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/vem-switch/vem/cmd/vem-agent")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build vem-agent: %w: %s", err, b)
	}
	return out, nil
}
