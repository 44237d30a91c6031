package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/frame"
	"github.com/vem-switch/vem/test/topo"
)

// TestRemoteMACsAreStatic: with MAC distribution from the VSM, each host
// holds the other host's VM MAC as a static remote entry against its VTEP
// before any traffic flowed, and a unicast frame to that MAC goes to its
// VTEP only: it is not flooded to a third, local VM.
func TestRemoteMACsAreStatic(t *testing.T) {
	topo.RequireRoot(t)
	v := newVSMTopology(t, false)
	s := v.vsms[0]
	s.start()
	s.apply(`segments:
  - {name: blue, type: vxlan, vni: 5001}
profiles:
  - {name: open, portSecurity: false}
`)
	tp := v.topo
	hv1ns, hv2ns := v.hosts["hv1"], v.hosts["hv2"]
	vmA := vmOn(t, tp, hv1ns, "vmA", "tap1", "52:54:00:00:10:01", "192.0.2.1", "blue", "open")
	vmC := vmOn(t, tp, hv1ns, "vmC", "tap2", "52:54:00:00:10:02", "192.0.2.3", "blue", "open")
	vmB := vmOn(t, tp, hv2ns, "vmB", "tap1", "52:54:00:00:20:01", "192.0.2.2", "blue", "open")
	hv1, hv2 := newVemHost(t, tp, hv1ns), newVemHost(t, tp, hv2ns)
	for _, h := range []struct {
		h    *vemHost
		name string
	}{{hv1, "hv1"}, {hv2, "hv2"}} {
		h.h.writeConfig(v.agentConfig(h.h, h.name))
		h.h.startAgent()
		waitFor(t, 15*time.Second, h.name+" attached with blue", func() bool {
			d := dpaStatus(t, h.h)
			if d.State != "attached" {
				return false
			}
			out, err := h.h.vemctl("show", "segments")
			return err == nil && strings.Contains(out, "blue")
		})
	}
	attachPorts(t, hv1, vmA, vmC)
	attachPorts(t, hv2, vmB)

	staticRemote := func(h *vemHost, mac, vtep string) bool {
		for _, e := range macTable(t, h, "blue") {
			if e.MAC == mac && e.Remote && e.Static && e.VTEP == vtep {
				return true
			}
		}
		return false
	}
	waitFor(t, 15*time.Second, "the remote MACs distributed", func() bool {
		return staticRemote(hv1, vmB.mac.String(), vteps["hv2"]) &&
			staticRemote(hv2, vmA.mac.String(), vteps["hv1"]) && staticRemote(hv2, vmC.mac.String(), vteps["hv1"])
	})
	for _, h := range []*vemHost{hv1, hv2} {
		out, _ := h.vemctl("show", "mac-table", "--segment", "blue")
		t.Logf("%s mac-table before traffic:\n%s", h.ns.Name(), out)
	}

	// A unicast frame vmA -> vmB: delivered to vmB, never seen by vmC.
	sA, sB, sC := openSock(t, vmA.ns), openSock(t, vmB.ns), openSock(t, vmC.ns)
	const frames = 5
	mark := marker("unicast")
	for i := 0; i < frames; i++ {
		if err := sA.Send(frame.Ethernet(vmB.mac, vmA.mac, 0x88b5, mark)); err != nil {
			t.Fatal(err)
		}
	}
	gotB := len(sB.Collect(500*time.Millisecond, carries(mark)))
	gotC := len(sC.Collect(200*time.Millisecond, carries(mark)))
	t.Logf("%d unicast frames vmA -> vmB: vmB received %d, vmC (local, same segment) %d", frames, gotB, gotC)
	if gotB != frames {
		t.Fatalf("vmB received %d of %d frames", gotB, frames)
	}
	if gotC != 0 {
		t.Fatalf("vmC received %d unicast frames addressed to vmB: flooded", gotC)
	}
	// The control: a frame to a MAC no one has is flooded, and vmC sees it.
	unknown := marker("unknown")
	if err := sA.Send(frame.Ethernet(net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x99, 0x99}, vmA.mac, 0x88b5, unknown)); err != nil {
		t.Fatal(err)
	}
	if got := len(sC.Collect(500*time.Millisecond, carries(unknown))); got != 1 {
		t.Fatalf("vmC received %d copies of a frame to an unknown MAC, want 1 (flooded): the socket sees nothing", got)
	}
	// The learned side agrees: still static after the traffic.
	if !staticRemote(hv1, vmB.mac.String(), vteps["hv2"]) {
		t.Fatalf("vmB's MAC on hv1 is no longer a static remote entry: %+v", macTable(t, hv1, "blue"))
	}
	pingVM(t, vmA, vmB.ip, 2, true)
}
