package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// This file sets up the datapath for BPF_PROG_TEST_RUN: a private network
// namespace with real veths (the programs find their port by skb->ifindex,
// and test_run only sets that from the context for a device in the
// caller's namespace), a loaded and programmed datapath, and helpers to run
// a program on a frame "received" on a port.
//
// What the kernel's test_run (net/bpf/test_run.c, 6.18) does with an skb,
// which shapes the helpers below:
//   - Of struct __sk_buff it accepts only mark, priority, ingress_ifindex,
//     ifindex, cb, tstamp, wire_len, gso_*, hwtstamp; a non-zero
//     vlan_present or vlan_tci fails with EINVAL (TestProgRunVLANContext).
//   - It does not untag: a tag in the data stays in the data (the program
//     sees vlan_present 0 and EtherType 0x8100). The stack, by contrast,
//     moves the outer tag into skb metadata before tc ingress, so that is
//     the path a tagged frame takes in production.
//   - With Repeat > 1 it runs the program on the same skb again: whatever
//     the program changed (a pushed or popped tag) is the next run's input.
// A shim program built here (shim) fixes the last two: it clears the tag
// metadata, optionally sets a tag there as the stack would, and tail-calls
// the program under test, so every repetition sees the same input and the
// real vlan push and pop paths are measured. Its own cost is measured
// separately by pointing the same shim at the empty program.
//
// addVXLAN (at the end) adds a VXLAN segment and a resolved underlay;
// bench_vxlan_test.go says why VXLAN is timed one fresh skb at a time.

// Verdicts of tc programs (linux/pkt_cls.h).
const (
	tcActOK       = 0
	tcActShot     = 2
	tcActRedirect = 7
)

// shimFailed is what a shim returns when a helper or its tail call fails,
// a value no tc program under test returns.
const shimFailed = 100

// Segments and ports of the test environment.
const (
	segLocal = 1   // local segment: flood and known-unicast paths
	segVLAN  = 2   // VLAN segment, tag vidWeb on the uplink
	vidWeb   = 100 // the VLAN segment's tag
	vidNone  = 999 // a VLAN no segment uses

	localPorts = 5  // ports in segLocal: one sender, four to flood to
	slotUplink = 20 // counter slot of the uplink member
)

// remoteMAC is a MAC behind the uplink.
var remoteMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xff, 0x00, 0x01}

// testPort is the host end of a veth in the test namespace.
type testPort struct {
	name    string
	ifindex int
	slot    uint16
	mac     net.HardwareAddr // the VM's MAC: source of frames from the port
}

// testEnv is a datapath programmed for veths in a private namespace:
// local[0..4] in segLocal, vlan in segVLAN, down (admin down) in segLocal,
// and uplink as the only member of the uplink.
type testEnv struct {
	dp     *Datapath
	ns     netns.NsHandle
	local  []testPort
	vlan   testPort
	down   testPort
	open   testPort // without port security
	uplink testPort

	empty *ebpf.Program // the floor: returns TC_ACT_OK
	// bare looks the destination MAC up in its own table and redirects:
	// the least a switch does, the baseline of the unicast path.
	bare *ebpf.Program
}

// skbContext is the head of struct __sk_buff, up to ifindex: the fields
// test_run reads for a tc program that this package needs. The kernel
// takes a shorter context than the full struct and zero-fills the rest.
type skbContext struct {
	Len            uint32
	PktType        uint32
	Mark           uint32
	QueueMapping   uint32
	Protocol       uint32
	VlanPresent    uint32
	VlanTCI        uint32
	VlanProto      uint32
	Priority       uint32
	IngressIfindex uint32
	Ifindex        uint32
}

// newTestEnv builds the environment; everything is released by the
// test's cleanup, the datapath's pins included, whatever fails.
func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	dp := openTest(tb) // skips when not root; removes the pins at cleanup
	ns, err := newNetns()
	if err != nil {
		tb.Fatal(err)
	}
	// The namespace has no name: closing the last handle destroys it and
	// its veths, and a crashed test leaves nothing behind.
	tb.Cleanup(func() { ns.Close() })

	e := &testEnv{dp: dp, ns: ns}
	mac := func(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, byte(i)} }
	for i := range localPorts {
		e.local = append(e.local, testPort{name: fmt.Sprintf("h%d", i), slot: uint16(i + 1), mac: mac(i + 1)})
	}
	e.vlan = testPort{name: "hv", slot: 10, mac: mac(0x10)}
	e.down = testPort{name: "hd", slot: 11, mac: mac(0x11)}
	e.open = testPort{name: "ho", slot: 13, mac: mac(0x13)} // 12 is the VXLAN vEth's
	e.uplink = testPort{name: "up0", slot: slotUplink}

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatalf("netlink handle in test netns: %v", err)
	}
	defer h.Close()
	for _, p := range e.ports() {
		if p.ifindex, err = addVeth(h, p.name, p.mac); err != nil {
			tb.Fatal(err)
		}
	}

	e.program(tb)

	var objs baselineObjects
	if err := loadBaselineObjects(&objs, nil); err != nil {
		tb.Fatalf("load baseline programs: %v", err)
	}
	tb.Cleanup(func() { objs.Close() })
	e.empty, e.bare = objs.VemEmpty, objs.VemBareRedirect
	for _, p := range e.local {
		var key baselineBareMac
		copy(key.Addr[:], p.mac)
		if err := objs.BareFdb.Put(key, uint32(p.ifindex)); err != nil {
			tb.Fatalf("baseline fdb: %v", err)
		}
	}
	return e
}

// ports returns pointers to every port of the environment.
func (e *testEnv) ports() []*testPort {
	out := []*testPort{&e.vlan, &e.down, &e.open, &e.uplink}
	for i := range e.local {
		out = append(out, &e.local[i])
	}
	return out
}

// program writes the port, segment, VLAN and uplink tables as the agent
// would for a secure profile on veths whose peers are in VM namespaces.
func (e *testEnv) program(tb testing.TB) {
	tb.Helper()
	var flood []FloodPort
	for _, p := range e.local {
		flood = append(flood, FloodPort{Ifindex: p.ifindex, Slot: p.slot})
	}
	steps := []func() error{
		func() error { return e.dp.SetSettings(Settings{MACAgeing: 300 * time.Second}) },
		func() error { return e.dp.SetSegment(Segment{ID: segLocal, Type: SegmentLocal, Ports: flood}) },
		func() error {
			return e.dp.SetSegment(Segment{ID: segVLAN, Type: SegmentVLAN, VLAN: vidWeb,
				Ports: []FloodPort{{Ifindex: e.vlan.ifindex, Slot: e.vlan.slot}}})
		},
		func() error { return e.dp.SetVLAN(vidWeb, segVLAN) },
		func() error {
			return e.dp.SetUplink(Uplink{Hash: HashSrcDstIPL4Port,
				Members: []Member{{Ifindex: e.uplink.ifindex, Slot: e.uplink.slot}}})
		},
		func() error {
			return e.dp.SetPort(Port{Ifindex: e.uplink.ifindex, Kind: PortUplink, Slot: e.uplink.slot, Collecting: true})
		},
		func() error { return e.setVEth(e.vlan, segVLAN, false) },
		func() error { return e.setVEth(e.down, segLocal, true) },
		// Open: no port security, so its MAC is learned, not static. It
		// is not in the local segment's flood list.
		func() error {
			return e.dp.SetPort(Port{Ifindex: e.open.ifindex, Kind: PortVEth, Segment: segLocal, Slot: e.open.slot,
				MAC: e.open.mac, Peer: true})
		},
	}
	for _, p := range e.local {
		steps = append(steps, func() error { return e.setVEth(p, segLocal, false) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			tb.Fatalf("program datapath: %v", err)
		}
	}
}

// setVEth writes a port-secured vEth and, as the agent does for an up
// one, its MAC as a static entry.
func (e *testEnv) setVEth(p testPort, segment uint32, down bool) error {
	if err := e.dp.SetPort(Port{Ifindex: p.ifindex, Kind: PortVEth, Segment: segment, Slot: p.slot,
		MAC: p.mac, Secure: true, Peer: true, Down: down}); err != nil {
		return err
	}
	if down {
		return nil
	}
	return e.dp.SetStaticMAC(MACEntry{Segment: segment, MAC: p.mac, Ifindex: p.ifindex, Slot: p.slot, Peer: true})
}

// run runs prog on frame as received on ifindex, repeat times (0 is once),
// and returns the verdict of the last run.
func (e *testEnv) run(prog *ebpf.Program, ifindex int, frame []byte, repeat int) (uint32, error) {
	var ret uint32
	err := withNetns(e.ns, func() error {
		var err error
		ret, err = runOn(prog, ifindex, frame, repeat)
		return err
	})
	return ret, err
}

// runOn is run for a caller already in the test namespace.
func runOn(prog *ebpf.Program, ifindex int, frame []byte, repeat int) (uint32, error) {
	ctx := skbContext{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex)}
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame, Context: ctx, Repeat: uint32(repeat)})
	if err != nil {
		return 0, fmt.Errorf("test run on ifindex %d: %w", ifindex, err)
	}
	return ret, nil
}

// mustRun is run that fails the test on an error or an unexpected verdict.
func (e *testEnv) mustRun(tb testing.TB, prog *ebpf.Program, ifindex int, frame []byte, want uint32) {
	tb.Helper()
	ret, err := e.run(prog, ifindex, frame, 1)
	if err != nil {
		tb.Fatal(err)
	}
	if ret != want {
		tb.Fatalf("verdict on ifindex %d = %d, want %d", ifindex, ret, want)
	}
}

// learnRemote teaches the datapath remoteMAC behind the uplink in
// segVLAN with a tagged broadcast from the uplink.
func (e *testEnv) learnRemote(tb testing.TB) {
	tb.Helper()
	shim := e.shim(tb, e.dp.objs.VemUplinkIngress, vidWeb)
	e.mustRun(tb, shim, e.uplink.ifindex, udpFrame(broadcast, remoteMAC, 64), tcActRedirect)
}

// counters reads a slot's counters, failing the test on an error.
func (e *testEnv) counters(tb testing.TB, slot uint16) Counters {
	tb.Helper()
	c, err := e.dp.Counters(slot)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// shim returns a program that makes every run of target see the same
// tag metadata: it pops whatever tag a previous run left in the skb
// metadata, pushes an 802.1Q tag with vid there unless vid is 0 (as the
// stack does for a tagged frame before tc ingress), and tail-calls target.
// test_run can do neither itself (see the top of this file).
func (e *testEnv) shim(tb testing.TB, target *ebpf.Program, vid uint16) *ebpf.Program {
	tb.Helper()
	jump, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		tb.Fatalf("create shim program array: %v", err)
	}
	tb.Cleanup(func() { jump.Close() })
	if err := jump.Put(uint32(0), target); err != nil {
		tb.Fatalf("put %v in shim program array: %v", target, err)
	}

	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // skb, kept across helper calls
		asm.FnSkbVlanPop.Call(),
		asm.JNE.Imm(asm.R0, 0, "fail"),
	}
	if vid != 0 {
		var proto [2]byte // __be16 ETH_P_8021Q as the helper takes it
		binary.BigEndian.PutUint16(proto[:], 0x8100)
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, int32(binary.NativeEndian.Uint16(proto[:]))),
			asm.Mov.Imm(asm.R3, int32(vid)),
			asm.FnSkbVlanPush.Call(),
			asm.JNE.Imm(asm.R0, 0, "fail"),
		)
	}
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, jump.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnTailCall.Call(),
		asm.Mov.Imm(asm.R0, shimFailed).WithSymbol("fail"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vem_test_shim",
		Type:         ebpf.SchedCLS,
		Instructions: insns,
		License:      "Dual BSD/GPL",
	})
	if err != nil {
		tb.Fatalf("load shim: %v", err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// newNetns creates an unnamed network namespace and returns a handle to
// it; the calling thread's namespace is unchanged.
func newNetns() (netns.NsHandle, error) {
	var ns netns.NsHandle
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return ns, fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	ns, err = netns.New() // unshare: this thread is now in ns
	if err != nil {
		runtime.UnlockOSThread()
		return ns, fmt.Errorf("create netns: %w", err)
	}
	if err := netns.Set(orig); err != nil {
		// Stay locked: the runtime retires the thread with its goroutine
		// rather than reuse it in the wrong namespace.
		ns.Close()
		return netns.None(), fmt.Errorf("return to original netns: %w", err)
	}
	runtime.UnlockOSThread()
	return ns, nil
}

// withNetns runs fn on the calling goroutine with its thread in ns, and
// switches back. BPF_PROG_TEST_RUN resolves the context's ifindex in the
// calling thread's namespace.
func withNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter test netns: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Stay locked, as in newNetns.
		return errors.Join(ferr, fmt.Errorf("leave test netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// addVeth creates the veth pair name (host end, returned ifindex) and
// name+"p" (the VM end, with MAC vmMAC) and sets both up. Clones the
// datapath floods out of the host end are delivered to the VM end and
// dropped there by the stack.
func addVeth(h *netlink.Handle, name string, vmMAC net.HardwareAddr) (int, error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p", PeerHardwareAddr: vmMAC}
	if err := h.LinkAdd(veth); err != nil {
		return 0, fmt.Errorf("add veth %s: %w", name, err)
	}
	var ifindex int
	for _, n := range []string{name, name + "p"} {
		l, err := h.LinkByName(n)
		if err != nil {
			return 0, fmt.Errorf("find %s: %w", n, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return 0, fmt.Errorf("set %s up: %w", n, err)
		}
		if n == name {
			ifindex = l.Attrs().Index
		}
	}
	return ifindex, nil
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// udpFrame returns an Ethernet/IPv4/UDP frame of size bytes (at least 60)
// from 192.0.2.1:5001 to 192.0.2.2:5201. Checksums are left zero: the
// datapath does not read them and nothing delivers the frame to a socket.
func udpFrame(dst, src net.HardwareAddr, size int) []byte {
	size = max(size, 60)
	b := make([]byte, size)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8] = 64
	ip[9] = 17 // UDP
	copy(ip[12:16], net.IPv4(192, 0, 2, 1).To4())
	copy(ip[16:20], net.IPv4(192, 0, 2, 2).To4())
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 5001)
	binary.BigEndian.PutUint16(udp[2:], 5201)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-14-20))
	return b
}

// taggedFrame returns udpFrame with an 802.1Q tag vid in the data.
func taggedFrame(dst, src net.HardwareAddr, vid uint16, size int) []byte {
	f := udpFrame(dst, src, size-4)
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, 0x8100)
	out = binary.BigEndian.AppendUint16(out, vid&0x0fff)
	return append(out, f[12:]...)
}

// lacpFrame returns a slow-protocols frame (EtherType 0x8809, subtype
// LACP) to the slow-protocols multicast address, as a partner sends it.
func lacpFrame(src net.HardwareAddr) []byte {
	b := make([]byte, 124)
	copy(b[0:6], net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02})
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], 0x8809)
	b[14], b[15] = 1, 1 // subtype LACP, version 1
	return b
}

// The VXLAN part of the environment, added by addVXLAN: a vEth vx in
// segVXLAN (VNI vniBench) and, on the uplink up0, the underlay of the VTEP
// localVTEP: a /26 with a gateway whose neighbour entry is static, as in
// the routed underlay of test/e2e/vxlan_test.go. The remote VTEP sits
// behind the gateway, so bpf_fib_lookup resolves it through a route.
const (
	segVXLAN  = 3
	vniBench  = 5001
	vxlanPort = 4789
	slotVXLAN = 12

	underlayMTU = 1600 // room for 1500-byte inner packets plus 50 bytes of VXLAN
	vxlanHLen   = 50   // outer Ethernet, IPv4, UDP and VXLAN headers
)

var (
	localVTEP  = netip.MustParseAddr("198.51.100.1")
	gatewayIP  = netip.MustParseAddr("198.51.100.62")
	remoteVTEP = netip.MustParseAddr("198.51.100.65")
	// gatewayMAC is the static neighbour entry of the underlay gateway:
	// the outer destination of every encapsulated frame.
	gatewayMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x62}
	// remoteVMMAC is a VM behind remoteVTEP.
	remoteVMMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xee, 0x00, 0x01}
)

// vxlanEnv is a testEnv with a VXLAN segment and a resolved underlay.
type vxlanEnv struct {
	*testEnv
	vx    testPort         // the vEth in segVXLAN
	upMAC net.HardwareAddr // up0's MAC: the outer source of encapsulated frames
}

// addVXLAN adds the VXLAN segment, its vEth and the underlay to e, as
// the agent would program them for "vtep: {address: 198.51.100.1}" on
// uplink up0: forwarding on up0 (bpf_fib_lookup answers
// BPF_FIB_LKUP_RET_FWD_DISABLED without it) and a complete neighbour
// entry for the gateway (else BPF_FIB_LKUP_RET_NO_NEIGH, and the program
// takes bpf_redirect_neigh instead of the path measured here).
func (e *testEnv) addVXLAN(tb testing.TB) *vxlanEnv {
	tb.Helper()
	v := &vxlanEnv{testEnv: e, vx: testPort{name: "hx", slot: slotVXLAN, mac: net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x12}}}
	h, err := netlink.NewHandleAt(e.ns)
	if err != nil {
		tb.Fatalf("netlink handle in test netns: %v", err)
	}
	defer h.Close()
	if v.vx.ifindex, err = addVeth(h, v.vx.name, v.vx.mac); err != nil {
		tb.Fatal(err)
	}
	if v.upMAC, err = e.underlay(h); err != nil {
		tb.Fatal(err)
	}

	steps := []func() error{
		func() error {
			return e.dp.SetSettings(Settings{MACAgeing: 300 * time.Second, VTEP: localVTEP,
				VTEPPort: vxlanPort, UnderlayIfindex: e.uplink.ifindex})
		},
		func() error {
			return e.dp.SetSegment(Segment{ID: segVXLAN, Type: SegmentVXLAN, VNI: vniBench, MTU: 1500,
				VTEPs: []netip.Addr{remoteVTEP}, Ports: []FloodPort{{Ifindex: v.vx.ifindex, Slot: v.vx.slot}}})
		},
		func() error { return e.dp.SetVNI(vniBench, segVXLAN) },
		// The uplink's entry carries its MAC, as the agent writes it.
		func() error {
			return e.dp.SetPort(Port{Ifindex: e.uplink.ifindex, Kind: PortUplink, Slot: e.uplink.slot,
				MAC: v.upMAC, Collecting: true})
		},
		func() error { return e.setVEth(v.vx, segVXLAN, false) },
		// The agent's next-hop cache entry, as it keeps it from the
		// kernel's route and neighbour: encapsulation's normal path.
		func() error {
			return e.dp.SetNextHop(remoteVTEP, NextHop{Ifindex: e.uplink.ifindex, Slot: e.uplink.slot,
				SrcMAC: v.upMAC, DstMAC: gatewayMAC})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			tb.Fatalf("program VXLAN datapath: %v", err)
		}
	}
	return v
}

// underlay gives up0 the VTEP address, MTU, route, gateway neighbour and
// forwarding, and returns its MAC.
func (e *testEnv) underlay(h *netlink.Handle) (net.HardwareAddr, error) {
	up, err := h.LinkByName(e.uplink.name)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", e.uplink.name, err)
	}
	peer, err := h.LinkByName(e.uplink.name + "p")
	if err != nil {
		return nil, fmt.Errorf("find %sp: %w", e.uplink.name, err)
	}
	for _, l := range []netlink.Link{peer, up} {
		if err := h.LinkSetMTU(l, underlayMTU); err != nil {
			return nil, fmt.Errorf("set %s MTU %d: %w", l.Attrs().Name, underlayMTU, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: localVTEP.AsSlice(), Mask: net.CIDRMask(26, 32)}}
	if err := h.AddrAdd(up, addr); err != nil {
		return nil, fmt.Errorf("add %s to %s: %w", addr, e.uplink.name, err)
	}
	neigh := &netlink.Neigh{LinkIndex: up.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: gatewayIP.AsSlice(), HardwareAddr: gatewayMAC}
	if err := h.NeighSet(neigh); err != nil {
		return nil, fmt.Errorf("static neighbour %s on %s: %w", gatewayIP, e.uplink.name, err)
	}
	route := &netlink.Route{LinkIndex: up.Attrs().Index, Gw: gatewayIP.AsSlice(),
		Dst: &net.IPNet{IP: net.IPv4(198, 51, 100, 64).To4(), Mask: net.CIDRMask(26, 32)}}
	if err := h.RouteAdd(route); err != nil {
		return nil, fmt.Errorf("route %s via %s: %w", route.Dst, gatewayIP, err)
	}
	// /proc/sys/net resolves to the namespace of the thread that opens it.
	fwd := filepath.Join("/proc/sys/net/ipv4/conf", e.uplink.name, "forwarding")
	if err := withNetns(e.ns, func() error { return os.WriteFile(fwd, []byte("1"), 0o644) }); err != nil {
		return nil, fmt.Errorf("enable forwarding on %s: %w", e.uplink.name, err)
	}
	return up.Attrs().HardwareAddr, nil
}

// vxlanFrame returns inner wrapped as remoteVTEP sends it to localVTEP in
// VNI vni: outer Ethernet from the gateway to dst, IPv4 without options,
// UDP to vxlanPort, VXLAN with the I flag. Checksums are left zero (UDP
// allows it; the datapath does not verify the outer IPv4 one).
func vxlanFrame(dst net.HardwareAddr, vni uint32, inner []byte) []byte {
	b := make([]byte, vxlanHLen, vxlanHLen+len(inner))
	copy(b[0:6], dst)
	copy(b[6:12], gatewayMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(vxlanHLen-14+len(inner)))
	ip[8] = 64
	ip[9] = 17 // UDP
	src, dstIP := remoteVTEP.As4(), localVTEP.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dstIP[:])
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 49152+1234)
	binary.BigEndian.PutUint16(udp[2:], vxlanPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(vxlanHLen-14-20+len(inner)))
	vx := udp[8:]
	binary.BigEndian.PutUint32(vx[0:], 0x08000000)
	binary.BigEndian.PutUint32(vx[4:], vni<<8)
	return append(b, inner...)
}
