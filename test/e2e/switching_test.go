package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/frame"
)

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func TestPingAndUDPWithinSegment(t *testing.T) {
	h := newHost(t)
	h.ping("vm1", "192.0.2.2", 5, true)
	h.ping("vm2", "192.0.2.4", 3, true)

	// UDP, with the kernels of both VMs as the endpoints.
	vm1, vm2 := h.vms["vm1"], h.vms["vm2"]
	var srv *net.UDPConn
	if err := vm2.ns.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(vm2.ip), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var cli *net.UDPConn
	if err := vm1.ns.Do(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(vm2.ip), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const datagrams = 50
	mark := marker("udp")
	for i := 0; i < datagrams; i++ {
		if _, err := cli.Write(mark); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := 0
	for got < datagrams {
		n, from, err := srv.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if string(buf[:n]) != string(mark) || !from.IP.Equal(net.ParseIP(vm1.ip)) {
			t.Fatalf("datagram %q from %v, want %q from %s", buf[:n], from, mark, vm1.ip)
		}
		got++
	}
	if got != datagrams {
		t.Fatalf("vm2 received %d of %d UDP datagrams", got, datagrams)
	}

	c := h.counters(vm1.tap)
	if c.RxPackets < datagrams || len(c.Drops) != 0 {
		t.Fatalf("vm1's counters: %+v, want at least %d received and no drops", c, datagrams)
	}

	// With --steer-veth-flows, veth vEths get their receive queues
	// steered by flow (RPS), which keeps a TCP flow in one backlog queue:
	// no reordering. A restarted agent re-links every port.
	h.stopAgent()
	h.startAgent("--steer-veth-flows")
	out, err := h.host.Run(context.Background(), "cat", "/sys/class/net/"+vm1.tap+"/queues/rx-0/rps_cpus")
	if err != nil {
		t.Fatal(err)
	}
	if mask := strings.Trim(strings.TrimSpace(out), "0,"); mask == "" {
		t.Fatalf("rps_cpus of %s is %q, want the agent to have set it", vm1.tap, out)
	}
}

func TestSegmentsAreIsolated(t *testing.T) {
	h := newHost(t)
	// vm3 (db) holds vm2's address: only vm2 answers, and vm3 sees nothing
	// of vm1, not even the ARP broadcasts.
	s3 := h.sock(h.vms["vm3"].ns, "eth0")
	h.ping("vm1", "192.0.2.2", 3, true)
	h.ping("vm4", "192.0.2.2", 2, true)
	h.ping("vm5", "192.0.2.2", 2, false)
	for _, f := range s3.Collect(300*time.Millisecond, func(f frame.Frame) bool { return !f.Outgoing }) {
		src := f.Src().String()
		if src == h.vms["vm1"].mac.String() || src == h.vms["vm4"].mac.String() {
			t.Fatalf("vm3 (segment db) received a frame from %s of segment web", src)
		}
	}
	// And vm3 reaches nobody on web.
	h.ping("vm3", "192.0.2.1", 2, false)
}

func TestFloodReachesExactlyTheSegment(t *testing.T) {
	h := newHost(t)
	socks := map[string]*frame.Socket{}
	for _, name := range []string{"vm1", "vm2", "vm3", "vm4", "vm5"} {
		socks[name] = h.sock(h.vms[name].ns, "eth0")
	}
	sw := h.sock(h.sw, "sw0")

	for _, dst := range []net.HardwareAddr{broadcast, {0x52, 0x54, 0x00, 0x99, 0x99, 0x99}, {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}} {
		mark := marker("flood")
		if err := socks["vm1"].Send(frame.Ethernet(dst, h.vms["vm1"].mac, 0x88b5, mark)); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]bool{"vm2": true, "vm4": true, "vm3": false, "vm5": false} {
			got := len(socks[name].Collect(200*time.Millisecond, carries(mark)))
			if want && got != 1 {
				t.Errorf("dst %s: %s (web) received %d copies, want 1", dst, name, got)
			}
			if !want && got != 0 {
				t.Errorf("dst %s: %s (not web) received %d copies, want none", dst, name, got)
			}
		}
		up := sw.Collect(200*time.Millisecond, carries(mark))
		if len(up) != 1 || !up[0].Tagged || up[0].VLAN != 100 {
			t.Errorf("dst %s: uplink got %d copies (%+v), want one tagged VLAN 100", dst, len(up), up)
		}
		if echo := socks["vm1"].Collect(50*time.Millisecond, carries(mark)); len(echo) != 0 {
			t.Errorf("dst %s: the sender got its own frame back", dst)
		}
	}
}

// TestSecuredVMsAreStaticMACs: a port-secured VM's MAC is in the MAC
// table from the moment its port is configured, as a static entry, so a
// frame to a VM that has sent nothing yet goes to it alone, not flooded;
// an open port's MAC is learned from its traffic.
func TestSecuredVMsAreStaticMACs(t *testing.T) {
	h := newHost(t)
	vm1, vm2, vm4 := h.vms["vm1"], h.vms["vm2"], h.vms["vm4"]
	static := map[string]string{}
	for _, e := range macTable(t, h.vemHost, "web") {
		if e.Static {
			static[e.MAC] = e.Port
		}
	}
	if static[vm1.mac.String()] != vm1.tap || static[vm2.mac.String()] != vm2.tap || len(static) != 2 {
		t.Fatalf("static MACs of web %v, want vm1 on %s and vm2 on %s", static, vm1.tap, vm2.tap)
	}

	s1, s2, s4 := h.sock(vm1.ns, "eth0"), h.sock(vm2.ns, "eth0"), h.sock(vm4.ns, "eth0")
	mark := marker("static")
	if err := s4.Send(frame.Ethernet(vm1.mac, vm4.mac, 0x88b5, mark)); err != nil {
		t.Fatal(err)
	}
	if got := len(s1.Collect(300*time.Millisecond, carries(mark))); got != 1 {
		t.Errorf("vm1 received %d copies, want 1", got)
	}
	if got := len(s2.Collect(100*time.Millisecond, carries(mark))); got != 0 {
		t.Errorf("vm2 received %d copies of a frame to vm1: flooded, want it sent to vm1 alone", got)
	}
	for _, e := range macTable(t, h.vemHost, "web") {
		if e.MAC == vm4.mac.String() {
			if e.Static || e.Remote || e.Port != vm4.tap {
				t.Errorf("vm4's entry %+v, want learned on %s", e, vm4.tap)
			}
			return
		}
	}
	t.Errorf("vm4's MAC (open port) not learned")
}
