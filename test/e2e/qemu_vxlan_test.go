package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/guest"
)

// qemuVXLANConfig: segment web on VNI 5001 between hv1 and hv2 over the
// routed underlay, the host's probe VM (52:54:00:00:0f:0N) on it.
func qemuVXLANConfig(self, peer string, n int) func(*vemHost) string {
	return func(h *vemHost) string {
		return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: up0
vtep: {address: %s}
segments:
  - {name: web, type: vxlan, vni: 5001, vteps: [%s]}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: probe0, mac: "52:54:00:00:0f:%02x", segment: web, profile: default}
`, self, h.instance, h.socket, vteps[self], vteps[peer], n)
	}
}

// TestQemuVXLAN: two hypervisors, each with its agent and its libvirtd,
// one real guest on each, segment web on VXLAN: the guests ping each
// other across the underlay, and each host's probe VM reaches the other
// host's guest.
func TestQemuVXLAN(t *testing.T) {
	img := qemuImage(t)
	hook := buildHook(t)
	u := newUnderlay(t)
	var hosts [2]*qemuHost
	for i, name := range []string{"hv1", "hv2"} {
		peer := map[string]string{"hv1": "hv2", "hv2": "hv1"}[name]
		probe := newVM(t, u.topo, u.hosts[name], "probe"+name, "probe0", fmt.Sprintf("52:54:00:00:0f:%02x", i+1), fmt.Sprintf("192.0.2.%d", i+1))
		hosts[i] = newQemuHost(t, u.topo, u.hosts[name], img, hook, qemuVXLANConfig(name, peer, i+1))
		hosts[i].probe = probe
	}
	n1, n2 := webNIC(1), webNIC(2)
	g1 := hosts[0].defineGuest("g1", []guest.NIC{n1})
	g2 := hosts[1].defineGuest("g2", []guest.NIC{n2})
	start := time.Now()
	g1.start()
	g2.start()
	hosts[0].waitPort(n1.Tap, true, 10*time.Second)
	hosts[1].waitPort(n2.Tap, true, 10*time.Second)
	g1.waitUp(1)
	g2.waitUp(1)
	t.Logf("guests up %v after virsh start", time.Since(start).Round(time.Millisecond))
	hosts[0].probePing(ipOf(n2), 3, 30*time.Second)
	hosts[1].probePing(ipOf(n1), 3, 30*time.Second)
	g1.ping(ipOf(n2), 3, true)
	g2.ping(ipOf(n1), 3, true)
	// Each guest's MAC is learned on its own host's tap and at the other
	// host against the VTEP, not on a local port.
	if e := entryOn(t, hosts[0].vemHost, "web", n1.MAC); e != n1.Tap {
		t.Errorf("hv1: %s learned on %q, want %s", n1.MAC, e, n1.Tap)
	}
	if e := entryOn(t, hosts[0].vemHost, "web", n2.MAC); e == "" || e == n1.Tap || e == "probe0" {
		t.Errorf("hv1: %s learned on %q, want the VTEP of hv2", n2.MAC, e)
	}

	// g2 shut off on hv2: isolated across the underlay too.
	hosts[1].virsh("destroy", "g2")
	hosts[1].waitPort(n2.Tap, false, 10*time.Second)
	g1.ping(ipOf(n2), 3, false)
}
