package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vem-switch/vem/test/topo"
)

// The -portchannel mode measures how long a port-channel takes to move a
// flow off a member that fails, between two vem agents negotiating LACP
// (portchannel_rig.go). A UDP stream from vm1 to vm2, one datagram per
// millisecond (portchannel_stream.go), runs on a source port whose flow
// hv1 hashes onto member e1 (found by sending probes and reading hv1's
// counters of e1 and e2). After 300 ms, e1 goes down; the failover time
// is from the link-down request (netlink, as "ip link set e1 down") to the
// first datagram of the stream that arrives on hv2's e2, timed by the
// kernel's receive timestamp. "link event" is when a netlink listener in
// hv1 (where the agent's LACP runner listens) hears that e1 is down,
// "agent" the rest: the agent's reaction. Then e1 comes back up and the
// next run waits until both agents have bundled it again. The cases run
// interleaved, run after run:
//
//   - admin: "ip link set e1 down" on hv1, the sender's side. An
//     administrative change: dev_close sends RTM_NEWLINK without IFF_UP
//     before the request returns, and hv1's LACP runner drops the member
//     from the distributing set at once.
//   - far-end: "ip link set e1 down" on hv2. hv1's e1 stays up but loses
//     carrier (veth_close turns the peer's carrier off); hv1 learns it only
//     from the RTM_NEWLINK without IFF_LOWER_UP that the kernel's linkwatch
//     sends. Meanwhile hv1 keeps hashing the flow onto e1, whose peer
//     drops it. (hv2 drops e1 at once, but it does not choose hv1's member.)
//   - admin-busy, far-busy: the same, 500 ms after another, unrelated link
//     event on the host (link busy between hv1 and hv2 loses carrier).
//
// # Linkwatch
//
// netif_carrier_off queues the device for linkwatch, which processes (and
// announces) "urgent" events at once and the others in a batch at most
// once a second: a batch sets linkwatch_nextevent one second (HZ) ahead,
// and a non-urgent event before then waits for it. The clock is one for
// the whole machine, every namespace included. An event is urgent when the
// device is a LAG port or master, or when its ifindex differs from its
// iflink (linkwatch_urgent_event): true of most veths, whose iflink is the
// peer's ifindex, false of physical NICs (iflink is their own ifindex) and
// taps. So a NIC's carrier loss is announced at once if no other
// non-urgent link event happened on the host in the last second, and up to
// 1 s late if one did. The rig's veths behave like NICs here: each
// namespace numbers its interfaces from 1, and e1 and busy have the same
// ifindex at both ends (printed at the start), so their carrier events are
// not urgent.
//
// Measured (kernel 6.18, 2 CPUs, 10 runs per case; ms, medians with max):
//
//	case        failover       link event     agent        lost
//	admin       6.60 (8.28)    0.38 (1.65)    5.80 (7.90)  6 (8)
//	far-end     4.73 (8.96)    0.34 (2.76)    4.24 (6.21)  4 (8)
//	admin-busy  4.09 (6.00)    0.31 (3.73)    3.39 (5.83)  4 (6)
//	far-busy    506.7 (532.6)  502.3 (527.7)  4.10 (5.22)  506 (532)
//
// Without a recent link event, both kinds of failure move the flow in
// 4-9 ms, all but a fraction of a millisecond of it the agent's reaction:
// the LACP runner logs the new member set in the millisecond of the link
// event, and the agent writes it to the datapath some 4-5 ms later after
// a full reconcile (agent.commitLocked; about 2 ms of it is
// bpf.Datapath.VLANs reading the 4096-entry VLAN array one lookup at a
// time, before the uplink is written). An admin change is immune to
// linkwatch (admin-busy). A carrier loss 505 ms after another link event
// (far-busy) is announced 1 s after that event, about 500 ms late, and
// every packet the flow sends meanwhile is lost (one per ms). Earlier
// runs of the plain far-end case on this shared machine showed the same
// at random (418 and 436 ms in 2 of 15 runs), when other tests' links
// changed shortly before. On top of linkwatch a real NIC adds its PHY's
// link-down detection (often debounced), and when no carrier event comes
// at all, LACP's partner timeout (3 s at the fast rate) is the bound.
//
// Since the port-channels take carrier from internal/linkwatch, which
// polls the members' flags every 4 ms (RTM_GETLINK: the carrier bit
// changes at once, only its notification waits), far-busy is as fast as
// the rest (5 runs per case, same machine and agent otherwise):
//
//	case        failover       link event     agent        lost
//	admin       5.75 (10.19)   0.83 (3.81)    4.91 (9.68)  4 (10)
//	far-end     5.49 (5.77)    0.55 (0.59)    4.93 (5.53)  4 (4)
//	admin-busy  3.76 (6.23)    0.49 (1.24)    3.53 (5.72)  3 (7)
//	far-busy    7.40 (9.17)    4.60 (5.48)    2.80 (3.69)  5 (7)
//
// (The far-busy notification itself now comes within a poll, 4-5 ms: the
// kernel appears to flush a device's pending linkwatch event when it is
// asked about the device.)
//
//	go run ./test/bench -portchannel [-agent bin/vem-agent] [-failovers 10]

// pcOptions are the flags of the -portchannel mode.
type pcOptions struct {
	enabled bool
	runs    int
}

// addPortChannelFlags registers the -portchannel mode's flags on fs.
func addPortChannelFlags(fs *flag.FlagSet) *pcOptions {
	o := &pcOptions{}
	fs.BoolVar(&o.enabled, "portchannel", false,
		"measure port-channel failover between two agents (LACP, 2 members) instead of throughput")
	fs.IntVar(&o.runs, "failovers", 10, "failover `runs` per case with -portchannel")
	return o
}

// Stream shape: preCut datagrams before the member goes down, then until
// postCut after the first datagram on the other member, at most maxStream
// in all (beyond LACP's 3 s timeout).
const (
	preCut    = 300
	postCut   = 200 * time.Millisecond
	maxStream = preCut + 5000
)

// pcCase is one way a member fails.
type pcCase struct {
	name string
	desc string
	host int // index of the hypervisor whose e1 is set down
	// busy sets link "busy" down on hv2 busyLead before the cut, so
	// that hv1's end of it loses carrier: another link event on the host
	// shortly before the failure, as a VM's tap going away would be.
	busy bool
}

// busyLead is how long before the cut the other link event of a busy
// case happens.
const busyLead = 500 * time.Millisecond

var pcCases = []pcCase{
	{name: "admin", desc: "ip link set e1 down on hv1 (sender's side): an admin change", host: 0},
	{name: "far-end", desc: "ip link set e1 down on hv2: hv1's e1 loses carrier (linkwatch)", host: 1},
	{name: "admin-busy", desc: "admin, 500 ms after another link event on the host (link busy loses carrier)", host: 0, busy: true},
	{name: "far-busy", desc: "far-end, 500 ms after another link event on the host", host: 1, busy: true},
}

// pcSample is one failover.
type pcSample struct {
	failover time.Duration // link-down command to first datagram on e2 at hv2
	event    time.Duration // link-down command to hv1 hearing that e1 is down (RTM_NEWLINK)
	lastE1   time.Duration // link-down command to last datagram on e1 at hv2
	gap      time.Duration // longest silence at vm2 during the run (around the cut)
	lost     int           // datagrams sent but never received by vm2
	sent     int
	cmd      time.Duration // how long the link-down command took
	rebundle time.Duration // e1 up to bundled on both agents
	prior    time.Duration // busy cases: the other link event to the link-down command
	sport    int
}

// runPortChannel is the -portchannel mode.
func runPortChannel(agentBin string, o *pcOptions) error {
	if o.runs < 1 || o.runs > 50 {
		return fmt.Errorf("-failovers %d: want 1 to 50", o.runs)
	}
	if err := requireRoot("ip"); err != nil {
		return err
	}
	ses, err := openSession("vem-bench-pc", "vembenchpc", agentBin)
	if err != nil {
		return err
	}
	r := &pcRig{}
	defer ses.close(r.leftovers)
	ctx := ses.ctx
	if err := r.build(ses.tp, ses.agentBin, ses.dir); err != nil {
		return err
	}
	if err := r.startAgents(ctx); err != nil {
		return err
	}
	if _, err := r.waitBundled(ctx, 30*time.Second); err != nil {
		return err
	}

	hv2 := r.hosts[1]
	capture, err := openCapture(hv2.ns)
	if err != nil {
		return err
	}
	defer capture.close()
	recv, err := openReceiver(hv2.vm, hv2.vmAddr)
	if err != nil {
		return err
	}
	defer recv.close()
	idx, err := r.linkIndexes()
	if err != nil {
		return err
	}
	watch, err := watchLink(r.hosts[0].ns, "e1")
	if err != nil {
		return err
	}
	defer watch.close()

	fmt.Printf("port-channel po1 of e1, e2 between hv1 (LACP active) and hv2 (passive), fast rate, src-dst-ip-l4port\n")
	fmt.Printf("UDP vm1 -> vm2 every %v on a flow hv1 hashes onto e1; e1 down after %d ms; %d runs per case\n",
		streamInterval, preCut, o.runs)
	fmt.Printf("ifindex on hv1 / hv2 (each end's iflink is the other's): e1 %d / %d, busy %d / %d\n", idx[0], idx[1], idx[2], idx[3])
	for _, c := range pcCases {
		fmt.Printf("  %-10s %s\n", c.name, c.desc)
	}
	results := map[string][]pcSample{}
	run := uint32(0)
	for i := 1; i <= o.runs; i++ {
		for _, c := range pcCases {
			run++
			s, err := r.failover(ctx, c, run, capture, recv, watch)
			if ctx.Err() != nil {
				return errors.New("interrupted; cleaned up")
			}
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i, c.name, err)
			}
			results[c.name] = append(results[c.name], s)
			prior := ""
			if c.busy {
				prior = fmt.Sprintf("  other link event %.0f ms before", ms(s.prior))
			}
			fmt.Printf("run %2d %-10s sport %d  failover %7.2f ms  link event %7.2f ms  last on e1 %6.2f ms  gap %7.2f ms  lost %4d of %4d  cmd %.2f ms  rebundled in %.1f s%s\n",
				i, c.name, s.sport, ms(s.failover), ms(s.event), ms(s.lastE1), ms(s.gap), s.lost, s.sent, ms(s.cmd), s.rebundle.Seconds(), prior)
		}
	}
	if err := errors.Join(capture.close(), recv.close()); err != nil {
		return err
	}
	fmt.Println()
	printPCReport(os.Stdout, results)
	return nil
}

// linkIndexes returns the ifindexes of e1 and of busy on hv1 and hv2.
func (r *pcRig) linkIndexes() ([4]int, error) {
	var out [4]int
	for i, l := range []struct {
		h    *pcHost
		name string
	}{{r.hosts[0], "e1"}, {r.hosts[1], "e1"}, {r.hosts[0], "busy"}, {r.hosts[1], "busy"}} {
		idx, err := l.h.ns.LinkIndex(l.name)
		if err != nil {
			return out, err
		}
		out[i] = idx
	}
	return out, nil
}

// failover measures one failover of case c as run number run.
func (r *pcRig) failover(ctx context.Context, c pcCase, run uint32, capture, recv *tsSocket, watch *linkWatch) (s pcSample, err error) {
	hv2, down := r.hosts[1], r.hosts[c.host]
	e1, err := hv2.ns.LinkIndex("e1")
	if err != nil {
		return s, err
	}
	e2, err := hv2.ns.LinkIndex("e2")
	if err != nil {
		return s, err
	}
	link, err := openLink(down.ns, "e1")
	if err != nil {
		return s, err
	}
	defer link.close()
	snd, sport, err := r.flowOnE1(ctx, run)
	if err != nil {
		return s, err
	}
	defer snd.close()
	s.sport = sport

	stop := make(chan struct{})
	sendErrs := make(chan int, 1)
	go func() { sendErrs <- snd.stream(run, maxStream, stop) }()
	stopped := false
	stopStream := func() int {
		if !stopped {
			close(stop)
			stopped = true
		}
		return <-sendErrs
	}
	defer func() {
		if !stopped {
			stopStream()
		}
	}()

	var (
		busy   *nsLink
		busyAt time.Time
	)
	if c.busy {
		if busy, err = openLink(hv2.ns, "busy"); err != nil {
			return s, err
		}
		defer busy.close()
		busyAt = time.Now()
		if err := busy.setDown(); err != nil {
			return s, err
		}
		// Up again however this ends (a no-op if it is up already).
		defer func() { err = errors.Join(err, busy.setUp()) }()
	}
	// Bounded: preCut ms of stream, unless the sender is starved.
	if err := poll(ctx, 10*time.Second, func() (bool, error) {
		return snd.sent.Load() >= preCut && (busyAt.IsZero() || time.Since(busyAt) >= busyLead), nil
	}); err != nil {
		return s, fmt.Errorf("stream: %w", err)
	}
	t0 := time.Now()
	if c.busy {
		s.prior = t0.Sub(busyAt)
	}
	if err := link.setDown(); err != nil {
		return s, err
	}
	s.cmd = time.Since(t0)
	// Whatever happens next, e1 comes back up.
	defer func() {
		up := time.Now()
		if uerr := link.setUp(); uerr != nil {
			err = errors.Join(err, uerr)
			return
		}
		if _, berr := r.waitBundled(ctx, 30*time.Second); berr != nil {
			err = errors.Join(err, berr)
		}
		s.rebundle = time.Since(up)
	}()
	if busy != nil {
		// Up again before e1 and the wait for its bundle: the next run's
		// cut is then more than a second after this carrier event.
		defer func() { err = errors.Join(err, busy.setUp()) }()
	}

	onE2 := func() (arrival, bool) {
		for _, a := range capture.of(run) {
			if a.ifindex == e2 {
				return a, true
			}
		}
		return arrival{}, false
	}
	if err := poll(ctx, time.Duration(maxStream-preCut)*streamInterval, func() (bool, error) {
		_, ok := onE2()
		return ok, nil
	}); err != nil {
		return s, fmt.Errorf("no datagram on hv2's e2 after e1 went down on %s: %w", down.name, err)
	}
	time.Sleep(postCut)
	sendErrors := stopStream()
	time.Sleep(50 * time.Millisecond) // the last datagrams in flight
	s.sent = int(snd.sent.Load())

	first, _ := onE2()
	s.failover = first.at.Sub(t0)
	var ok bool
	if s.event, ok = watch.downAfter(t0); !ok {
		return s, errors.New("hv1 heard no link update of e1 going down")
	}
	beforeOnE1 := 0
	for _, a := range capture.of(run) {
		switch {
		case a.ifindex == e1:
			s.lastE1 = a.at.Sub(t0)
			if a.at.Before(t0) {
				beforeOnE1++
			}
		case a.ifindex == e2 && a.at.Before(t0):
			return s, fmt.Errorf("datagram %d arrived on e2 before the cut: the flow was not on e1", a.seq)
		}
	}
	if beforeOnE1 < preCut*9/10 {
		return s, fmt.Errorf("%d datagrams arrived on e1 before the cut, want at least %d", beforeOnE1, preCut*9/10)
	}
	got := map[uint32]bool{}
	var prev time.Time
	for _, a := range recv.of(run) {
		got[a.seq] = true
		if !prev.IsZero() && a.at.Sub(prev) > s.gap {
			s.gap = a.at.Sub(prev)
		}
		prev = a.at
	}
	s.lost = s.sent - len(got) - sendErrors
	return s, nil
}

// flowOnE1 finds a source port whose flow from vm1 to vm2 hv1 hashes onto
// e1: it sends probes from successive ports and reads hv1's datapath
// counters of e1 and e2 around them. The sender is returned open.
func (r *pcRig) flowOnE1(ctx context.Context, run uint32) (*sender, int, error) {
	hv1, vm1, vm2Addr := r.hosts[0], r.hosts[0].vm, r.hosts[1].vmAddr
	const probes = 3
	for k := range 64 {
		sport := 42000 + int(run%8)*64 + k
		snd, err := openSender(vm1, sport, vm2Addr)
		if err != nil {
			return nil, 0, err
		}
		var before, after [2]uint64
		for i, m := range pcMembers {
			if before[i], err = hv1.txPackets(ctx, m); err != nil {
				snd.close()
				return nil, 0, err
			}
		}
		for range probes {
			if err := snd.send(0, 0); err != nil { // run 0: not measured
				snd.close()
				return nil, 0, fmt.Errorf("probe: %w", err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		for i, m := range pcMembers {
			if after[i], err = hv1.txPackets(ctx, m); err != nil {
				snd.close()
				return nil, 0, err
			}
		}
		if after[0]-before[0] >= probes && after[1]-before[1] == 0 {
			return snd, sport, nil
		}
		snd.close()
	}
	return nil, 0, errors.New("none of 64 source ports hashes onto e1 on hv1")
}

// printPCReport writes the failover table: per case, the median and
// maximum of each figure over the runs.
func printPCReport(w io.Writer, results map[string][]pcSample) {
	tw := newTable(w)
	fmt.Fprintln(tw, "case\truns\tfailover ms median\tmax\tmin\tlink event ms median\tmax\tagent ms median\tmax\tlost median\tmax\trebundle s median\t")
	for _, c := range pcCases {
		ss := results[c.name]
		if len(ss) == 0 {
			continue
		}
		col := func(f func(pcSample) float64) (med, lo, hi float64) {
			xs := collect(ss, f)
			return median(xs), slices.Min(xs), slices.Max(xs)
		}
		fo, foMin, foMax := col(func(s pcSample) float64 { return ms(s.failover) })
		ev, _, evMax := col(func(s pcSample) float64 { return ms(s.event) })
		ag, _, agMax := col(func(s pcSample) float64 { return ms(s.failover - s.event) })
		lost, _, lostMax := col(func(s pcSample) float64 { return float64(s.lost) })
		rb, _, _ := col(func(s pcSample) float64 { return s.rebundle.Seconds() })
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%.1f\t\n",
			c.name, len(ss), fo, foMax, foMin, ev, evMax, ag, agMax, lost, lostMax, rb)
	}
	tw.Flush()
}

// nsLink sets one interface of a namespace down and up through a netlink
// handle opened beforehand, so that a measurement timed around setDown
// starts at the request itself, as "ip link set down" would, rather than
// at opening a socket in the namespace.
type nsLink struct {
	h    *netlink.Handle
	link netlink.Link
	name string
}

func openLink(ns *topo.NS, name string) (*nsLink, error) {
	nsh, err := netns.GetFromPath(ns.Path())
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", ns, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("%s in %s: %w", name, ns, err)
	}
	return &nsLink{h: h, link: l, name: ns.String() + "/" + name}, nil
}

func (l *nsLink) setDown() error {
	if err := l.h.LinkSetDown(l.link); err != nil {
		return fmt.Errorf("set %s down: %w", l.name, err)
	}
	return nil
}

func (l *nsLink) setUp() error {
	if err := l.h.LinkSetUp(l.link); err != nil {
		return fmt.Errorf("set %s up: %w", l.name, err)
	}
	return nil
}

func (l *nsLink) close() { l.h.Close() }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
