package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// vxlanOptions are the flags the -vxlan mode uses.
type vxlanOptions struct {
	agentBin string
	rounds   int
	duration time.Duration
	only     string // comma-separated variants, "" for all
	verbose  bool
}

// vxlanVariants are the ways of building the overlay between the hosts
// of vr: vem on both, and the kernel's vxlan device and bridge on both,
// with and without RPS on the taps, which vem-agent enables on veth vEths
// only with --steer-veth-flows (see the top of main.go: it keeps the VM's
// veth hop from reordering a flow).
func vxlanVariants(vr *vxlanRig) []variant {
	kernel := func(rps bool) func(context.Context, *rig) (func() error, error) {
		return func(ctx context.Context, _ *rig) (func() error, error) { return vr.kernelVXLAN(ctx, rps) }
	}
	return []variant{
		{name: "vem", desc: "vem-agent on hv1 and hv2: VXLAN in the eBPF programs (no RPS on the taps)",
			addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, _ *rig) (func() error, error) { return vr.startAgents(ctx) }},
		{name: "kernel", desc: "kernel vxlan device vx0 + Linux bridge br0 on hv1 and hv2, static FDB",
			addr: vm2Addr, port: iperfPort, setup: kernel(false)},
		{name: "kernel-rps", desc: "kernel, with RPS on the taps as vem-agent --steer-veth-flows sets it",
			addr: vm2Addr, port: iperfPort, setup: kernel(true)},
	}
}

// runVXLAN is the -vxlan mode: iperf3 from vm1 on hv1 to vm2 on hv2 over
// a routed underlay, through vem and through the kernel's VXLAN.
//
// Measured on kernel 6.18 with 2 CPUs (7 rounds of 5 s; medians), when
// vem-agent still enabled RPS on veth vEths by default (it now does only
// with --steer-veth-flows):
//
//	variant      Gbit/s  min   max   retrans
//	vem            12.0  6.5  12.8         0
//	kernel         11.7  9.1  12.7      2277
//	kernel-rps      9.3  8.2  12.2         0
//
// vem and the kernel are within noise of each other (another run, of 4
// rounds of 3 s, had vem/kernel at 0.88). vem's runs are bimodal, near
// 12.5 or near 8.5 Gbit/s: RPS hashes each direction of a flow by its
// sender's socket hash, so on 2 cores the data and the ACKs of a flow can
// be steered to different CPUs (kernel-rps shows it too, less often);
// this is why the agent no longer enables RPS by default. Both keep TCP segmentation
// offload across the tunnel: the router sees 64 KB VXLAN GSO packets
// either way. The kernel's retransmits are the veth reordering described
// at the top of main.go; RPS on the taps (as vem-agent --steer-veth-flows sets it) removes
// them, and a fifth of the kernel's throughput with them, as the flow's
// receive work then stays on one CPU.
func runVXLAN(o vxlanOptions) error {
	vr := &vxlanRig{}
	vs, err := selectVariants(vxlanVariants(vr), o.only)
	if err != nil {
		return err
	}
	if err := requireRoot("iperf3", "nstat", "ping", "ip", "bridge"); err != nil {
		return err
	}
	s, err := openSession("vem-bench-vxlan", "vembenchvx", o.agentBin)
	if err != nil {
		return err
	}
	defer s.close(vr.leftovers)
	ctx := s.ctx
	if err := vr.build(s.tp, s.agentBin, s.dir); err != nil {
		return err
	}
	if _, err := startIperfServer(ctx, vr.vm2, iperfPort, ""); err != nil {
		return err
	}

	fmt.Printf("VXLAN VNI %d, vm1 on hv1 -> vm2 on hv2 over a routed underlay (MTU %d, VMs %d)\n",
		vxlanVNI, vxlanUnderlayMTU, vxlanInnerMTU)
	fmt.Printf("%d rounds of %d variants, iperf3 -t %v\n", o.rounds, len(vs), o.duration)
	results, err := runRounds(ctx, &vr.rig, vs, o.rounds, o.duration, o.verbose)
	if err != nil {
		return err
	}
	fmt.Println()
	printVXLANReport(os.Stdout, vs, results)
	return nil
}

// printVXLANReport writes the throughput table, with ratios to the
// kernel variants, and the counters that explain the retransmits.
func printVXLANReport(w io.Writer, vs []variant, results map[string][]sample) {
	printThroughput(w, vs, results, true, "kernel", "kernel-rps")
	printCounters(w, vs, results)
}
