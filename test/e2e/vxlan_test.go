package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/frame"
	"github.com/vem-switch/vem/test/topo"
)

// underlay is a routed IPv4 underlay: a router namespace with one /26
// per hypervisor, so VTEP next hops are gateways, not neighbours.
//
//	hv1 up0 198.51.100.1/26   -- r1 198.51.100.62
//	hv2 up0 198.51.100.65/26  -- r2 198.51.100.126
//	hv3 up0 198.51.100.129/26 -- r3 198.51.100.190 (kernel VXLAN)
type underlay struct {
	topo   *topo.Topology
	router *topo.NS
	hosts  map[string]*topo.NS
}

var vteps = map[string]string{"hv1": "198.51.100.1", "hv2": "198.51.100.65", "hv3": "198.51.100.129"}

const underlayMTU = 1600 // room for 1500-byte segments plus 50 bytes of VXLAN

func newUnderlay(t *testing.T) *underlay {
	t.Helper()
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	u := &underlay{topo: tp, hosts: map[string]*topo.NS{}}
	var err error
	if u.router, err = tp.NS("r"); err != nil {
		t.Fatal(err)
	}
	if err := u.router.SetSysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"hv1", "hv2", "hv3"} {
		ns, err := tp.NS(name)
		if err != nil {
			t.Fatal(err)
		}
		rif := fmt.Sprintf("r%d", i+1)
		if err := tp.Veth(ns, "up0", u.router, rif, topo.MTU(underlayMTU)); err != nil {
			t.Fatal(err)
		}
		gw := fmt.Sprintf("198.51.100.%d", 64*i+62)
		for _, step := range []error{
			ns.AddAddr("up0", vteps[name]+"/26"),
			u.router.AddAddr(rif, gw+"/26"),
			ns.AddRoute("default", gw),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		u.hosts[name] = ns
	}
	return u
}

// vxlanConfig is a vem host with segments blue (VNI 5001: hv1, hv2 and the
// kernel VTEP hv3) and red (VNI 5002: hv1 and hv2), one VM on each.
func vxlanConfig(h *vemHost, self, peer string, extra string) string {
	return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: up0
vtep: {address: %s}
segments:
  - {name: blue, type: vxlan, vni: 5001, vteps: [%s, %s]}
  - {name: red, type: vxlan, vni: 5002, vteps: [%s]}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap1, mac: "52:54:00:00:%s:01", segment: blue, profile: default}
  - {interface: tap2, mac: "52:54:00:00:%s:02", segment: red, profile: default}
%s`, self, h.instance, h.socket, vteps[self], vteps[peer], vteps["hv3"], vteps[peer], self[2:]+"0", self[2:]+"0", extra)
}

// vxlanHosts starts vem on hv1 and hv2 with a VM per segment:
// blue: vmA (hv1) 192.0.2.1, vmB (hv2) 192.0.2.2;
// red: vmC (hv1) 192.0.2.1, vmD (hv2) 192.0.2.2 (the same addresses).
func vxlanHosts(t *testing.T, u *underlay) (hv1, hv2 *vemHost, vms map[string]*vm) {
	t.Helper()
	vms = map[string]*vm{
		"vmA": newVM(t, u.topo, u.hosts["hv1"], "vmA", "tap1", "52:54:00:00:10:01", "192.0.2.1"),
		"vmC": newVM(t, u.topo, u.hosts["hv1"], "vmC", "tap2", "52:54:00:00:10:02", "192.0.2.1"),
		"vmB": newVM(t, u.topo, u.hosts["hv2"], "vmB", "tap1", "52:54:00:00:20:01", "192.0.2.2"),
		"vmD": newVM(t, u.topo, u.hosts["hv2"], "vmD", "tap2", "52:54:00:00:20:02", "192.0.2.2"),
	}
	hv1 = newVemHost(t, u.topo, u.hosts["hv1"])
	hv2 = newVemHost(t, u.topo, u.hosts["hv2"])
	hv1.writeConfig(vxlanConfig(hv1, "hv1", "hv2", ""))
	hv2.writeConfig(vxlanConfig(hv2, "hv2", "hv1", ""))
	hv1.startAgent()
	hv2.startAgent()
	return hv1, hv2, vms
}

func pingVM(t *testing.T, v *vm, dst string, count int, want bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := v.ns.Ping(ctx, dst, count, 100*time.Millisecond)
	if err != nil && want {
		t.Fatalf("ping %s -> %s: %v", v.ns.Name(), dst, err)
	}
	if want && res.Received != count {
		t.Fatalf("ping %s -> %s: %d of %d replies", v.ns.Name(), dst, res.Received, res.Sent)
	}
	if !want && res.Received != 0 {
		t.Fatalf("ping %s -> %s: %d replies, want none", v.ns.Name(), dst, res.Received)
	}
}

func TestVXLANAcrossRoutedUnderlay(t *testing.T) {
	u := newUnderlay(t)
	hv1, hv2, vms := vxlanHosts(t, u)

	pingVM(t, vms["vmA"], "192.0.2.2", 3, true)
	pingVM(t, vms["vmD"], "192.0.2.1", 3, true) // red: reaches vmC, same address as vmA

	// Same addresses on different VNIs: vmC's traffic never reaches vmB.
	sB := openSock(t, vms["vmB"].ns)
	pingVM(t, vms["vmC"], "192.0.2.2", 2, true)
	for _, f := range sB.Collect(200*time.Millisecond, func(f frame.Frame) bool { return !f.Outgoing }) {
		if f.Src().String() == vms["vmC"].mac.String() {
			t.Fatalf("vmB (VNI 5001) received a frame from vmC (VNI 5002)")
		}
	}

	// The MAC table shows the remote VTEP a MAC sits behind.
	var vtep string
	for _, e := range macTable(t, hv1, "blue") {
		if e.MAC == vms["vmB"].mac.String() {
			vtep = e.VTEP
		}
	}
	if vtep != vteps["hv2"] {
		t.Fatalf("vmB's MAC on hv1: VTEP %q, want %s", vtep, vteps["hv2"])
	}
	out, err := hv1.vemctl("show", "vxlan", "vteps", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v api.VTEPs
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Local != vteps["hv1"] || v.Port != 4789 || len(v.Remote) != 2 || v.Remote[0].NextHop != "198.51.100.62" {
		t.Fatalf("show vxlan vteps: %+v", v)
	}
	if out, err := hv2.vemctl("show", "bridge-domains"); err != nil || !strings.Contains(out, "5001") || !strings.Contains(out, "unicast-only") {
		t.Fatalf("show bridge-domains: %v\n%s", err, out)
	}

	// TCP across hosts: a second of iperf3 moves data both ways.
	iperfBetween(t, vms["vmB"], vms["vmA"], "192.0.2.2")
}

// iperfBetween runs a one-second iperf3 TCP test from client to server.
func iperfBetween(t *testing.T, server, client *vm, addr string) {
	t.Helper()
	srv, err := server.ns.Start("iperf3", "-s", "-1", "-p", "5201")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				Bytes float64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var out string
	// The server needs a moment to listen; iperf3 -J reports a refused
	// connection in its JSON, not always in its exit status.
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err = client.ns.Run(ctx, "iperf3", "-c", addr, "-p", "5201", "-t", "1", "-J")
		cancel()
		res.Error = ""
		if jerr := json.Unmarshal([]byte(out), &res); jerr == nil && res.Error == "" && err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || res.Error != "" {
		t.Fatalf("iperf3: %v %s", err, res.Error)
	}
	if res.End.SumReceived.Bytes < 1e6 {
		t.Fatalf("iperf3 moved %.0f bytes in a second:\n%s", res.End.SumReceived.Bytes, out)
	}
	t.Logf("iperf3 %s -> %s: %.1f MB in 1 s", client.ns.Name(), server.ns.Name(), res.End.SumReceived.Bytes/1e6)
}

func openSock(t *testing.T, ns *topo.NS) *frame.Socket {
	t.Helper()
	s, err := frame.Open(ns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVXLANInteropWithKernelVTEP checks vem against an implementation no
// one here wrote: the kernel's VXLAN device on a Linux bridge with static
// FDB entries, on hv3.
func TestVXLANInteropWithKernelVTEP(t *testing.T) {
	u := newUnderlay(t)
	_, _, vms := vxlanHosts(t, u)
	hv3 := u.hosts["hv3"]
	vmE := newVM(t, u.topo, hv3, "vmE", "tap1", "52:54:00:00:30:01", "192.0.2.5")
	ctx := context.Background()
	for _, cmd := range [][]string{
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "link", "set", "br0", "up"},
		{"ip", "link", "add", "vx5001", "type", "vxlan", "id", "5001", "dstport", "4789", "local", vteps["hv3"], "nolearning"},
		{"ip", "link", "set", "vx5001", "master", "br0", "up"},
		{"ip", "link", "set", "tap1", "master", "br0"},
		// Head-end replication list, and the VMs' MACs pinned to their VTEPs.
		{"bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx5001", "dst", vteps["hv1"]},
		{"bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx5001", "dst", vteps["hv2"]},
		{"bridge", "fdb", "add", vms["vmA"].mac.String(), "dev", "vx5001", "dst", vteps["hv1"]},
		{"bridge", "fdb", "add", vms["vmB"].mac.String(), "dev", "vx5001", "dst", vteps["hv2"]},
	} {
		if out, err := hv3.Run(ctx, cmd...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
	}

	capture := filepath.Join(t.TempDir(), "underlay.pcap")
	dump, err := u.router.Start("tcpdump", "-n", "-U", "-i", "any", "-w", capture, "udp port 4789")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // tcpdump opens its socket

	// Both directions, each starting with ARP: from the kernel side, and
	// from vem's side on hv1 and hv2.
	pingVM(t, &vm{ns: vmE.ns}, "192.0.2.1", 3, true)
	pingVM(t, vms["vmB"], "192.0.2.5", 3, true)
	pingVM(t, vms["vmA"], "192.0.2.5", 2, true)
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	// Bulk TCP too, outside the capture (tshark would decode it all).
	iperfBetween(t, vmE, vms["vmA"], "192.0.2.5")
	out, err := exec.Command("tshark", "-r", capture, "-d", "udp.port==4789,vxlan", "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	for _, bad := range []string{"Malformed", "Expert Info (Error", "Bad checksum", "[Checksum: Bad"} {
		if strings.Contains(text, bad) {
			i := strings.Index(text, bad)
			t.Fatalf("tshark reports %q in vem's VXLAN:\n%s", bad, text[max(0, i-2000):min(len(text), i+200)])
		}
	}
	for _, want := range []string{"Virtual eXtensible Local Area Network", "VXLAN Network Identifier (VNI): 5001", "Address Resolution Protocol", "Internet Control Message Protocol"} {
		if !strings.Contains(text, want) {
			t.Fatalf("tshark decode lacks %q", want)
		}
	}
}

// vxlanPacket builds an Ethernet/IPv4/UDP/VXLAN packet carrying inner.
func vxlanPacket(dstMAC, srcMAC net.HardwareAddr, src, dst string, flags uint32, vni uint32, inner []byte) []byte {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint32(hdr[0:], flags)
	binary.BigEndian.PutUint32(hdr[4:], vni<<8)
	udp := frame.IPv4UDP(net.ParseIP(src), net.ParseIP(dst), 50000, 4789, append(hdr, inner...))
	return frame.Ethernet(dstMAC, srcMAC, frame.EtherTypeIPv4, udp)
}

func TestVXLANBadInputDroppedAndCounted(t *testing.T) {
	u := newUnderlay(t)
	hv1, _, vms := vxlanHosts(t, u)
	upMAC, err := u.hosts["hv1"].LinkMAC("up0")
	if err != nil {
		t.Fatal(err)
	}
	rMAC, err := u.router.LinkMAC("r1")
	if err != nil {
		t.Fatal(err)
	}
	r1, err := frame.Open(u.router, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sA := openSock(t, vms["vmA"].ns)

	inner := func(mark []byte) []byte {
		return frame.Ethernet(broadcast, net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x20, 0x09}, 0x88b5, mark)
	}
	const good = 0x08000000
	for _, c := range []struct {
		name   string
		pkt    func(mark []byte) []byte
		reason string // "" = delivered
	}{
		{"valid (the control)", func(m []byte) []byte {
			return vxlanPacket(upMAC, rMAC, vteps["hv2"], vteps["hv1"], good, 5001, inner(m))
		}, ""},
		{"wrong flags", func(m []byte) []byte {
			return vxlanPacket(upMAC, rMAC, vteps["hv2"], vteps["hv1"], 0x0c000000, 5001, inner(m))
		}, "vxlan-bad-flags"},
		{"reserved VNI byte", func(m []byte) []byte {
			p := vxlanPacket(upMAC, rMAC, vteps["hv2"], vteps["hv1"], good, 5001, inner(m))
			p[14+20+8+7] = 1
			return p
		}, "vxlan-bad-flags"},
		{"unknown VNI", func(m []byte) []byte {
			return vxlanPacket(upMAC, rMAC, vteps["hv2"], vteps["hv1"], good, 7777, inner(m))
		}, "unknown-vni"},
		{"spoofed outer source", func(m []byte) []byte {
			return vxlanPacket(upMAC, rMAC, "198.51.100.99", vteps["hv1"], good, 5001, inner(m))
		}, "unknown-vtep"},
		{"truncated", func(m []byte) []byte {
			// The VXLAN header and 4 bytes: no inner Ethernet header.
			hdr := []byte{0x08, 0, 0, 0, 0, 0x13, 0x89, 0, 0xde, 0xad, 0xbe, 0xef}
			udp := frame.IPv4UDP(net.ParseIP(vteps["hv2"]), net.ParseIP(vteps["hv1"]), 50000, 4789, hdr)
			return frame.Ethernet(upMAC, rMAC, frame.EtherTypeIPv4, udp)
		}, "malformed"},
	} {
		before := hv1.counters("up0").Drops[c.reason]
		mark := marker(strings.ReplaceAll(c.name, " ", "-"))
		if err := r1.Send(c.pkt(mark)); err != nil {
			t.Fatal(err)
		}
		got := len(sA.Collect(200*time.Millisecond, carries(mark)))
		if c.reason == "" {
			if got != 1 {
				t.Fatalf("%s: vmA received %d copies, want 1 (the crafted packets are wrong)", c.name, got)
			}
			continue
		}
		if got != 0 {
			t.Errorf("%s: delivered to vmA", c.name)
		}
		if d := hv1.counters("up0").Drops[c.reason] - before; d != 1 {
			t.Errorf("%s: %s drops went up by %d, want 1", c.name, c.reason, d)
		}
	}
	// Nothing else disturbed.
	pingVM(t, vms["vmA"], "192.0.2.2", 2, true)
}

func TestVXLANMTU(t *testing.T) {
	u := newUnderlay(t)
	hv1, _, vms := vxlanHosts(t, u)

	// A VM whose MTU exceeds the segment's: its big frames are dropped and
	// counted, never truncated; frames within the MTU pass.
	vmA := vms["vmA"]
	if _, err := vmA.ns.Run(context.Background(), "ip", "link", "set", "eth0", "mtu", "1550"); err != nil {
		t.Fatal(err)
	}
	if _, err := hv1.ns.Run(context.Background(), "ip", "link", "set", "tap1", "mtu", "1550"); err != nil {
		t.Fatal(err)
	}
	pingVM(t, vmA, "192.0.2.2", 1, true)
	before := hv1.counters("tap1").Drops["oversize"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := vmA.ns.Run(ctx, "ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1500", "192.0.2.2")
	if !strings.Contains(out, " 0 received") {
		t.Fatalf("a 1528-byte IP packet crossed a 1500-byte segment:\n%s", out)
	}
	if d := hv1.counters("tap1").Drops["oversize"] - before; d != 2 {
		all, _ := hv1.vemctl("show", "counters")
		t.Fatalf("oversize drops went up by %d, want 2\n%s\n%s", d, out, all)
	}
	pingVM(t, vmA, "192.0.2.2", 1, true)

	// An uplink that cannot carry segment MTU + 50 is refused, naming the
	// numbers, and the running datapath is left alone.
	hv1.writeConfig(strings.Replace(vxlanConfig(hv1, "hv1", "hv2", ""), "vni: 5002,", "vni: 5002, mtu: 1560,", 1))
	waitFor(t, 5*time.Second, "the MTU rejection", func() bool {
		out, err := hv1.vemctl("show", "module", "-o", "json")
		return err == nil && strings.Contains(out, "mtu 1560 plus 50 bytes of VXLAN overhead needs an uplink MTU of at least 1610, and up0 has 1600")
	})
	pingVM(t, vms["vmC"], "192.0.2.2", 2, true)
}
