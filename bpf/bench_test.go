package bpf

import (
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// BenchmarkTestRun measures the datapath per packet with BPF_PROG_TEST_RUN:
// one test_run call runs the program b.N times on the same skb, so ns/op is
// the cost of one packet through the program (plus the kernel's loop,
// which the empty program shows). bare-redirect is the least a switch
// does (a MAC lookup and a redirect, nothing else): veth-unicast minus
// bare-redirect is what ports, security and counters cost. veth-unicast
// leaves a port-secured vEth, whose MAC is a static entry;
// veth-unicast-learning leaves an open port and learns its source.
// Each path is checked afterwards by its
// counters, not only by the last verdict, so a path that fell onto a drop
// after the first packet fails instead of reporting a flattering figure.
//
// The tag paths run through the shim of testenv_test.go (test_run can
// neither take tag metadata nor undo a push between repetitions); their
// ns/op includes the shim, shim-ns/op is the shim alone on the empty
// program, and net-ns/op the difference: the path itself.
//
// The flood path clones with bpf_clone_redirect, which transmits each
// clone through the host end at once; the veth hands it to the VM end's
// backlog, and the stack drops it there when bottom halves are re-enabled
// on the way out of the transmit, on this CPU. So flooding to four ports
// costs the three clones' delivery (some 300 ns each here) on top of the
// switching, as it does on a live host.
//
//	go test -run='^$' -bench=. -benchtime=100000x ./bpf/
func BenchmarkTestRun(b *testing.B) {
	e := newTestEnv(b)
	veth, uplink := e.dp.objs.VemVethIngress, e.dp.objs.VemUplinkIngress
	p0, p1 := e.local[0], e.local[1]
	e.learnRemote(b) // the vEths' MACs are static

	type path struct {
		name  string
		prog  *ebpf.Program
		floor *ebpf.Program // the shim on the empty program, for shimmed paths
		port  testPort      // where the frame is received
		frame func(size int) []byte
		// tx are the slots that must send every packet, rx the one that
		// must receive it (and drop nothing).
		tx []uint16
		rx uint16
	}
	var floodSlots []uint16
	for _, p := range e.local[1:] {
		floodSlots = append(floodSlots, p.slot)
	}
	paths := []path{
		{name: "empty", prog: e.empty, port: p0,
			frame: func(n int) []byte { return udpFrame(p1.mac, p0.mac, n) }},
		{name: "bare-redirect", prog: e.bare, port: p0,
			frame: func(n int) []byte { return udpFrame(p1.mac, p0.mac, n) }},
		{name: "veth-unicast", prog: veth, port: p0,
			frame: func(n int) []byte { return udpFrame(p1.mac, p0.mac, n) },
			tx:    []uint16{p1.slot}, rx: p0.slot},
		{name: "veth-unicast-learning", prog: veth, port: e.open,
			frame: func(n int) []byte { return udpFrame(p1.mac, e.open.mac, n) },
			tx:    []uint16{p1.slot}, rx: e.open.slot},
		{name: fmt.Sprintf("veth-flood%d", len(floodSlots)), prog: veth, port: p0,
			frame: func(n int) []byte { return udpFrame(broadcast, p0.mac, n) },
			tx:    floodSlots, rx: p0.slot},
		{name: "veth-uplink-push", prog: e.shim(b, veth, 0), floor: e.shim(b, e.empty, 0), port: e.vlan,
			frame: func(n int) []byte { return udpFrame(remoteMAC, e.vlan.mac, n) },
			tx:    []uint16{e.uplink.slot}, rx: e.vlan.slot},
		{name: "uplink-pop-veth", prog: e.shim(b, uplink, vidWeb), floor: e.shim(b, e.empty, vidWeb), port: e.uplink,
			frame: func(n int) []byte { return udpFrame(e.vlan.mac, remoteMAC, n) },
			tx:    []uint16{e.vlan.slot}, rx: e.uplink.slot},
	}

	for _, p := range paths {
		for _, size := range []int{64, 1514} {
			b.Run(fmt.Sprintf("%s/%dB", p.name, size), func(b *testing.B) {
				frame := p.frame(size)
				want := uint32(tcActRedirect)
				if p.prog == e.empty {
					want = tcActOK
				}
				// The shim alone is timed before and after the path, and
				// averaged, so that drift on a noisy machine spreads evenly.
				var shim time.Duration
				timeShim := func() {
					if p.floor != nil {
						shim += e.timeRuns(b, p.floor, p.port.ifindex, frame, b.N, tcActOK) / 2
					}
				}
				timeShim()

				var tx []Counters
				for _, s := range p.tx {
					tx = append(tx, e.counters(b, s))
				}
				rx := e.counters(b, p.rx)

				var (
					ret     uint32
					elapsed time.Duration
				)
				err := withNetns(e.ns, func() error {
					var err error
					b.ResetTimer()
					start := time.Now()
					ret, err = runOn(p.prog, p.port.ifindex, frame, b.N)
					elapsed = time.Since(start)
					b.StopTimer()
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if ret != want {
					b.Fatalf("verdict %d, want %d", ret, want)
				}
				checkCounted(b, e, p.tx, tx, p.rx, rx, b.N)

				timeShim()
				if p.floor != nil {
					b.ReportMetric(perRun(shim, b.N), "shim-ns/op")
					b.ReportMetric(perRun(elapsed-shim, b.N), "net-ns/op")
				}
			})
		}
	}
}

// timeRuns runs prog n times on frame outside the benchmark timer and
// returns how long that took.
func (e *testEnv) timeRuns(b *testing.B, prog *ebpf.Program, ifindex int, frame []byte, n int, want uint32) time.Duration {
	b.Helper()
	var (
		ret     uint32
		elapsed time.Duration
	)
	err := withNetns(e.ns, func() error {
		var err error
		start := time.Now()
		ret, err = runOn(prog, ifindex, frame, n)
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if ret != want {
		b.Fatalf("verdict %d, want %d", ret, want)
	}
	return elapsed
}

// checkCounted fails the benchmark unless each tx slot sent and the rx
// slot received at least n packets, and the rx slot dropped none. test_run
// may run a program more than n times when interrupted, never fewer.
func checkCounted(b *testing.B, e *testEnv, txSlots []uint16, txBefore []Counters, rxSlot uint16, rxBefore Counters, n int) {
	b.Helper()
	if len(txSlots) == 0 {
		return
	}
	for i, s := range txSlots {
		if got := e.counters(b, s).TxPackets - txBefore[i].TxPackets; got < uint64(n) {
			b.Fatalf("slot %d sent %d packets of %d", s, got, n)
		}
	}
	after := e.counters(b, rxSlot)
	if got := after.RxPackets - rxBefore.RxPackets; got < uint64(n) {
		b.Fatalf("slot %d received %d packets of %d", rxSlot, got, n)
	}
	for r := range after.Drops {
		if d := after.Drops[r] - rxBefore.Drops[r]; d != 0 {
			b.Fatalf("slot %d dropped %d packets (%v)", rxSlot, d, DropReason(r))
		}
	}
}

func perRun(d time.Duration, n int) float64 {
	return float64(d.Nanoseconds()) / float64(n)
}
