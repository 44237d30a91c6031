// Command bench measures VM-to-VM TCP throughput through vem against a
// Linux bridge and a direct veth pair, with iperf3 between two VM network
// namespaces, and the TCP counters that explain the retransmits.
//
//	go run ./test/bench [-agent bin/vem-agent] [-rounds 3] [-duration 3s] [-explore]
//	go run ./test/bench -vxlan [-agent bin/vem-agent] [-rounds 5] [-duration 5s]
//	go run ./test/bench -portchannel [-agent bin/vem-agent] [-failovers 10]
//	go run ./test/bench -engine [-agent bin/vem-agent] [-ports 1,100,4000]
//	go run ./test/bench -dpa [-agent bin/vem-agent] [-dpa-hosts 2000] [-dpa-parts switchover,reconcile,attach]
//	go run ./test/bench -upgrade [-agent bin/vem-agent] [-upgrade-ports 4000]
//	go run ./test/bench -guests [-agent bin/vem-agent] [-guest-rounds 3] [-guest-starts 5] [-duration 3s]
//
// With -vxlan it measures VM to VM across two hypervisors over a routed
// underlay instead: VXLAN through vem on both against the kernel's vxlan
// device and a Linux bridge on both (vxlan_rig.go, vxlan_run.go).
//
// With -portchannel it measures instead how fast an LACP port-channel
// between two agents moves a flow off a member that goes down
// (portchannel_*.go).
//
// With -engine it measures the agent's engine (engine_run.go): a
// configuration change to datapath current for 1, 100 and 4,000 ports,
// the agent's memory at that size, and how fast drift is repaired.
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
// vEth (rps_cpus of its receive queues set to all CPUs), which it does
// when run with the opt-in flag --steer-veth-flows: every flow then
// crosses one backlog in order before the program runs (vem-rps: 0
// retransmits in every run, same throughput). It is not the default
// because RPS hashes each direction of a flow by its sender's socket
// hash: on 2 cores a flow's data and its ACKs can be steered to different
// CPUs, and throughput then halved in half the runs (8-9 against 12.8
// Gbit/s; see runVXLAN in vxlan_run.go). Turning GRO on on the host
// end does not help (vem-gro): veth uses its NAPI ring only for skbs it
// could aggregate, and a TCP skb from a TSO-capable sender is not one
// (veth_skb_is_eligible_for_gro), so it still goes through netif_rx. Real
// KVM vEths are taps fed by one vhost thread per queue, which do not split
// a flow this way.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
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
	eng := addEngineFlags(fs)
	vsmo := addVSMFlags(fs)
	dpao := addDPAFlags(fs)
	upg := addUpgradeFlags(fs)
	gst := addGuestsFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if gst.enabled {
		return runGuests(*agentBin, *duration, gst)
	}
	if vsmo.enabled {
		return runVSMBench(vsmo)
	}
	if upg.enabled {
		return runUpgrade(*agentBin, upg)
	}
	if dpao.enabled {
		return runDPABench(*agentBin, dpao)
	}
	if eng.enabled {
		return runEngine(*agentBin, eng)
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
	if err := requireRoot("iperf3", "nstat", "ethtool", "taskset", "ping"); err != nil {
		return err
	}
	s, err := openSession("vem-bench", "vembench", *agentBin)
	if err != nil {
		return err
	}
	var r *rig
	defer s.close(func() []string {
		if r == nil {
			return nil
		}
		return r.leftovers()
	})
	ctx := s.ctx
	if r, err = newRig(s.tp, s.agentBin, s.dir); err != nil {
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
	if err := waitReachable(ctx, r.vm1, vm2DirectAddr, nil); err != nil {
		return err
	}

	fmt.Printf("%d rounds of %d variants, iperf3 -t %v, vm1 -> vm2\n", *rounds, len(vs), *duration)
	results, err := runRounds(ctx, r, vs, *rounds, *duration, *verbose)
	if err != nil {
		return err
	}
	fmt.Println()
	printReport(os.Stdout, vs, results)
	return nil
}
