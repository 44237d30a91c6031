package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// BenchmarkVXLAN measures VXLAN encapsulation (a vEth frame to a MAC
// learned behind a remote VTEP) and decapsulation (VXLAN to the local
// VTEP, delivered to a local vEth) per packet, beside the empty program
// and the unicast and VLAN-push paths of the same datapath in the same
// run, for 64- and 1450-byte inner frames.
//
// Unlike BenchmarkTestRun it does not let test_run repeat the program on
// one skb. Repeating feeds each run the previous run's output (test_run
// resets nothing between repetitions): the second encapsulation sees the
// outer frame, whose source is the underlay's MAC, and drops it as
// spoofed; the second decapsulation sees the bare inner frame and drops
// it as unknown-vlan. A shim that undoes each run does not rescue
// encapsulation either: the first bpf_skb_adjust_room with ENCAP flags
// marks the skb (skb->encapsulation), every later one on it fails with
// EALREADY, and no helper clears the mark, shrinking included
// (TestProgRunReencapsulation pins this down). So every packet here is a
// fresh skb, as on a live host: one BPF_PROG_TEST_RUN per packet, timed
// by the kernel around the program alone (test_run's own clock, without
// the syscall and the skb's allocation), and each timed once more for the
// empty program on the same frame and port, interleaved. ns/op is the
// median over the packets, floor-ns/op the empty program's median (the
// kernel's clock reads and bottom-half toggling) and net-ns/op the
// difference: the path itself.
//
// Every packet's verdict must be TC_ACT_REDIRECT, the counters must show
// every packet sent on the expected slot and none dropped, and the
// encapsulated and decapsulated frames are checked byte by byte first.
//
//	go test -run='^$' -bench=VXLAN -benchtime=100000x ./bpf/
func BenchmarkVXLAN(b *testing.B) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		b.Skip("progRunAttr is laid out for 64-bit pointers")
	}
	e := newTestEnv(b)
	v := e.addVXLAN(b)
	veth, uplink := e.dp.objs.VemVethIngress, e.dp.objs.VemUplinkIngress
	p0, p1 := e.local[0], e.local[1]
	e.learnRemote(b)    // the vEths' MACs are static
	v.checkDecap(b, 64) // learns remoteVMMAC behind remoteVTEP

	type path struct {
		name  string
		prog  *ebpf.Program
		port  testPort // where the frame is received
		frame func(size int) []byte
		check func(tb testing.TB, size int) // verifies the output once
		// tx are the slots that must send every packet, rx the one that
		// must receive it (and drop nothing).
		tx []uint16
		rx uint16
	}
	paths := []path{
		{name: "empty", prog: e.empty, port: p0,
			frame: func(n int) []byte { return udpFrame(p1.mac, p0.mac, n) }},
		{name: "veth-unicast", prog: veth, port: p0,
			frame: func(n int) []byte { return udpFrame(p1.mac, p0.mac, n) },
			tx:    []uint16{p1.slot}, rx: p0.slot},
		{name: "veth-uplink-push", prog: veth, port: e.vlan,
			frame: func(n int) []byte { return udpFrame(remoteMAC, e.vlan.mac, n) },
			tx:    []uint16{e.uplink.slot}, rx: e.vlan.slot},
		{name: "veth-vxlan-encap", prog: veth, port: v.vx,
			frame: func(n int) []byte { return udpFrame(remoteVMMAC, v.vx.mac, n) },
			check: v.checkEncap, tx: []uint16{e.uplink.slot}, rx: v.vx.slot},
		{name: "uplink-vxlan-decap", prog: uplink, port: e.uplink,
			frame: func(n int) []byte { return vxlanFrame(v.upMAC, vniBench, udpFrame(v.vx.mac, remoteVMMAC, n)) },
			check: v.checkDecap, tx: []uint16{v.vx.slot}, rx: e.uplink.slot},
	}

	for _, p := range paths {
		for _, size := range []int{64, 1450} {
			b.Run(fmt.Sprintf("%s/%dB", p.name, size), func(b *testing.B) {
				if p.check != nil {
					p.check(b, size)
				}
				frame := p.frame(size)
				want := uint32(tcActRedirect)
				if p.prog == e.empty {
					want = tcActOK
				}
				var tx []Counters
				for _, s := range p.tx {
					tx = append(tx, e.counters(b, s))
				}
				rx := e.counters(b, p.rx)

				path, floor := make([]uint32, 0, b.N), make([]uint32, 0, b.N)
				ctx := skbContext{IngressIfindex: uint32(p.port.ifindex), Ifindex: uint32(p.port.ifindex)}
				err := withNetns(e.ns, func() error {
					b.ResetTimer()
					defer b.StopTimer()
					for i := range b.N {
						ret, d, err := runTimed(p.prog, &ctx, frame)
						if err != nil {
							return err
						}
						if ret != want {
							return fmt.Errorf("packet %d: verdict %d, want %d", i, ret, want)
						}
						path = append(path, d)
						if p.prog == e.empty {
							continue
						}
						if _, d, err = runTimed(e.empty, &ctx, frame); err != nil {
							return err
						}
						floor = append(floor, d)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				checkCounted(b, e, p.tx, tx, p.rx, rx, b.N)

				b.ReportMetric(medianNs(path), "ns/op")
				if len(floor) > 0 {
					b.ReportMetric(medianNs(floor), "floor-ns/op")
					b.ReportMetric(medianNs(path)-medianNs(floor), "net-ns/op")
				}
			})
		}
	}
}

// TestProgVXLAN checks the encapsulated and decapsulated frames byte by
// byte, the frames BenchmarkVXLAN times.
func TestProgVXLAN(t *testing.T) {
	e := newTestEnv(t)
	v := e.addVXLAN(t)
	for _, size := range []int{64, 1450} {
		v.checkDecap(t, size)
		v.checkEncap(t, size)
	}
}

// checkEncap sends a size-byte frame from the VXLAN vEth to remoteVMMAC
// (learned behind remoteVTEP) and checks what leaves for the uplink: the
// frame behind outer Ethernet from up0 to the gateway, IPv4 from
// localVTEP to remoteVTEP with a valid checksum, UDP to vxlanPort from
// the ephemeral range, and VXLAN with the I flag and VNI vniBench.
func (v *vxlanEnv) checkEncap(tb testing.TB, size int) {
	tb.Helper()
	inner := udpFrame(remoteVMMAC, v.vx.mac, size)
	out := v.runOut(tb, v.dp.objs.VemVethIngress, v.vx, inner, v.uplink.slot)
	if len(out) != len(inner)+vxlanHLen {
		tb.Fatalf("encapsulated %d bytes into %d, want %d", len(inner), len(out), len(inner)+vxlanHLen)
	}
	ip, udp, vx := out[14:34], out[34:42], out[42:50]
	local, remote := localVTEP.As4(), remoteVTEP.As4()
	sport := binary.BigEndian.Uint16(udp[0:])
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"outer destination MAC", net.HardwareAddr(out[0:6]).String(), gatewayMAC.String()},
		{"outer source MAC", net.HardwareAddr(out[6:12]).String(), v.upMAC.String()},
		{"outer EtherType", binary.BigEndian.Uint16(out[12:]), uint16(0x0800)},
		{"IPv4 version and header length", ip[0], byte(0x45)},
		{"IPv4 total length", int(binary.BigEndian.Uint16(ip[2:])), len(out) - 14},
		{"IPv4 TTL and protocol", [2]byte{ip[8], ip[9]}, [2]byte{64, 17}},
		{"IPv4 header checksum", ipv4Sum(ip), uint16(0xffff)},
		{"IPv4 source", [4]byte(ip[12:16]), local},
		{"IPv4 destination", [4]byte(ip[16:20]), remote},
		{"UDP source port in 49152..65535", sport >= 49152, true},
		{"UDP destination port", binary.BigEndian.Uint16(udp[2:]), uint16(vxlanPort)},
		{"UDP length", int(binary.BigEndian.Uint16(udp[4:])), len(out) - 34},
		{"VXLAN flags", binary.BigEndian.Uint32(vx[0:]), uint32(0x08000000)},
		{"VXLAN VNI", binary.BigEndian.Uint32(vx[4:]), uint32(vniBench << 8)},
		{"inner frame intact", bytes.Equal(out[vxlanHLen:], inner), true},
	} {
		if c.got != c.want {
			tb.Fatalf("encapsulated %d-byte frame: %s %v, want %v", size, c.what, c.got, c.want)
		}
	}
}

// checkDecap sends a VXLAN frame from remoteVTEP with a size-byte inner
// frame from remoteVMMAC to the VXLAN vEth in at the uplink and checks
// that exactly the inner frame goes to the vEth.
func (v *vxlanEnv) checkDecap(tb testing.TB, size int) {
	tb.Helper()
	inner := udpFrame(v.vx.mac, remoteVMMAC, size)
	out := v.runOut(tb, v.dp.objs.VemUplinkIngress, v.uplink, vxlanFrame(v.upMAC, vniBench, inner), v.vx.slot)
	if !bytes.Equal(out, inner) {
		tb.Fatalf("decapsulated %d-byte frame differs from the one sent:\n got  % x\n want % x", size, out[:min(len(out), 64)], inner[:64])
	}
}

// runOut runs prog once on frame received on port, requires
// TC_ACT_REDIRECT, no drop on port and one packet sent on slot tx, and
// returns the frame as the program left it.
func (v *vxlanEnv) runOut(tb testing.TB, prog *ebpf.Program, port testPort, frame []byte, tx uint16) []byte {
	tb.Helper()
	rx0, tx0 := v.counters(tb, port.slot), v.counters(tb, tx)
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256),
		Context: skbContext{IngressIfindex: uint32(port.ifindex), Ifindex: uint32(port.ifindex)}}
	var ret uint32
	err := withNetns(v.ns, func() error {
		var err error
		ret, err = prog.Run(opts)
		return err
	})
	if err != nil {
		tb.Fatalf("test run on %s: %v", port.name, err)
	}
	rx1, tx1 := v.counters(tb, port.slot), v.counters(tb, tx)
	if d := rx1.Dropped(); ret != tcActRedirect || !maps.Equal(d, rx0.Dropped()) {
		tb.Fatalf("test run on %s: verdict %d (want %d), drops %v", port.name, ret, tcActRedirect, d)
	}
	if got := tx1.TxPackets - tx0.TxPackets; got != 1 {
		tb.Fatalf("test run on %s: slot %d sent %d packets, want 1", port.name, tx, got)
	}
	return opts.DataOut
}

// ipv4Sum is the ones' complement sum of an IPv4 header, checksum
// included: 0xffff when the checksum is right.
func ipv4Sum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// encapFlags are the bpf_skb_adjust_room flags vem_vxlan_wrap encapsulates
// with: FIXED_GSO, ENCAP_L3_IPV4, ENCAP_L4_UDP, ENCAP_L2_ETH and
// ENCAP_L2(ETH_HLEN).
const encapFlags = 1<<0 | 1<<1 | 1<<4 | 1<<6 | 14<<56

// adjRoomDecapL3IPv4 is BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (Linux 6.3).
const adjRoomDecapL3IPv4 = 1 << 7

// TestProgRunReencapsulation pins down why BenchmarkVXLAN gives every
// packet a fresh skb: on one skb, a second bpf_skb_adjust_room with the
// datapath's ENCAP flags fails with EALREADY even after the first one's
// headers were taken off again with bpf_skb_adjust_room (shrinking, with
// BPF_F_ADJ_ROOM_DECAP_L3_IPV4), because the first one set
// skb->encapsulation and nothing a program can call clears it.
func TestProgRunReencapsulation(t *testing.T) {
	e := newTestEnv(t)
	p0, p1 := e.local[0], e.local[1]
	frame := udpFrame(p1.mac, p0.mac, 64)

	// probe encapsulates and returns the helper's errno (0 on success).
	probe, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vem_test_encap", Type: ebpf.SchedCLS, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R2, vxlanHLen),
			asm.Mov.Imm(asm.R3, 1), // BPF_ADJ_ROOM_MAC
			asm.LoadImm(asm.R4, encapFlags, asm.DWord),
			asm.FnSkbAdjustRoom.Call(),
			asm.Neg.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("load probe: %v", err)
	}
	defer probe.Close()
	// The shim takes the previous run's outer headers off again (the
	// skb is longer than frame) and tail-calls the probe.
	shim := e.tailShim(t, probe, asm.Instructions{
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // skb->len
		asm.JLE.Imm(asm.R2, int32(len(frame)), "tail"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, -vxlanHLen),
		asm.Mov.Imm(asm.R3, 1), // BPF_ADJ_ROOM_MAC
		asm.Mov.Imm(asm.R4, adjRoomDecapL3IPv4),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "fail"),
	})

	if errno, err := e.run(shim, p0.ifindex, frame, 1); err != nil || errno != 0 {
		t.Fatalf("first encapsulation: errno %d, %v", errno, err)
	}
	errno, err := e.run(shim, p0.ifindex, frame, 2)
	if err != nil {
		t.Fatal(err)
	}
	switch unix.Errno(errno) {
	case 0:
		t.Skip("this kernel encapsulates an skb again after decapsulation: a Repeat benchmark with an unwrap shim would now work")
	case unix.EALREADY:
	default:
		if errno == shimFailed {
			t.Fatal("the shim could not take the outer headers off")
		}
		t.Fatalf("second encapsulation of one skb: errno %d, want %d (EALREADY)", errno, unix.EALREADY)
	}
}

// tailShim returns a program that runs head with the skb in R6 (head may
// jump to "tail" to go on, or to "fail" to return shimFailed) and then
// tail-calls target.
func (e *testEnv) tailShim(tb testing.TB, target *ebpf.Program, head asm.Instructions) *ebpf.Program {
	tb.Helper()
	jump, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		tb.Fatalf("create shim program array: %v", err)
	}
	tb.Cleanup(func() { jump.Close() })
	if err := jump.Put(uint32(0), target); err != nil {
		tb.Fatalf("put %v in shim program array: %v", target, err)
	}
	insns := append(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}, head...)
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("tail"),
		asm.LoadMapPtr(asm.R2, jump.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnTailCall.Call(),
		asm.Mov.Imm(asm.R0, shimFailed).WithSymbol("fail"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vem_test_tshim", Type: ebpf.SchedCLS, Instructions: insns, License: "Dual BSD/GPL",
	})
	if err != nil {
		tb.Fatalf("load shim: %v", err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// progRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr
// (linux/bpf.h) on a 64-bit platform. cilium/ebpf returns the kernel's
// duration only from Benchmark, which takes no context, and the
// programs find their port by the context's ifindex.
type progRunAttr struct {
	progFD, retval          uint32
	dataSizeIn, dataSizeOut uint32
	dataIn, dataOut         unsafe.Pointer
	repeat, duration        uint32
	ctxSizeIn, ctxSizeOut   uint32
	ctxIn, ctxOut           unsafe.Pointer
	flags, cpu, batchSize   uint32
	_                       uint32
}

// runTimed runs prog once on a fresh skb holding frame, with ctx, and
// returns the verdict and the kernel's timing of the run in ns. The
// calling thread must be in the namespace of ctx's ifindex.
func runTimed(prog *ebpf.Program, ctx *skbContext, frame []byte) (ret, ns uint32, err error) {
	attr := progRunAttr{
		progFD: uint32(prog.FD()), dataSizeIn: uint32(len(frame)), dataIn: unsafe.Pointer(&frame[0]),
		repeat: 1, ctxSizeIn: uint32(unsafe.Sizeof(*ctx)), ctxIn: unsafe.Pointer(ctx),
	}
	// EINTR comes before the run, or after a run that is then repeated:
	// retry a few times (counters allow extra runs, never fewer).
	for range 10 {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, 0, fmt.Errorf("BPF_PROG_TEST_RUN of %v: %w", prog, errno)
		}
		return attr.retval, attr.duration, nil
	}
	return 0, 0, errors.New("BPF_PROG_TEST_RUN: interrupted 10 times")
}

// medianNs is the median of ns as a benchmark metric.
func medianNs(ns []uint32) float64 {
	if len(ns) == 0 {
		return 0
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return (float64(s[len(s)/2-1]) + float64(s[len(s)/2])) / 2
}
