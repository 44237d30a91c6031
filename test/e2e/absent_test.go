package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// TestVEthGoneAndBack: a VM that stops takes its vEth with it. The port
// becomes absent (configured, nothing in the datapath, its static MAC
// withdrawn), the rest of the switch goes on reconciling (an attach works
// meanwhile), and when the interface returns the port is bound again.
func TestVEthGoneAndBack(t *testing.T) {
	h := newHost(t)
	vm2 := h.vms["vm2"]
	h.ping("vm1", vm2.ip, 1, true)

	if _, err := h.host.Run(context.Background(), "ip", "link", "del", vm2.tap); err != nil {
		t.Fatal(err)
	}
	state := func(iface string) string {
		out, err := h.vemctl("show", "ports", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		return portState(t, out, iface)
	}
	waitFor(t, 3*time.Second, vm2.tap+" absent", func() bool { return state(vm2.tap) == "absent" })
	for _, e := range macTable(t, h.vemHost, "web") {
		if e.MAC == vm2.mac.String() {
			t.Errorf("the absent port's MAC is still in the table: %+v", e)
		}
	}
	h.ping("vm1", "192.0.2.4", 2, true) // vm4, same segment

	// Reconciling goes on: a port attached now works.
	vm6 := h.addVM("vm6", "tap6", "52:54:00:00:00:06", "192.0.2.6", "web", "default")
	if _, err := h.vemctl("port", "attach", "--interface", "tap6", "--mac", vm6.mac.String(), "--segment", "web"); err != nil {
		t.Fatalf("attach while a port is absent: %v", err)
	}
	h.ping("vm1", vm6.ip, 2, true)

	// The VM starts again: same interface name, a new ifindex.
	if err := h.topo.Veth(h.host, vm2.tap, vm2.ns, "eth0", topo.MACs(nil, vm2.mac)); err != nil {
		t.Fatal(err)
	}
	if err := vm2.ns.AddAddr("eth0", vm2.ip+"/24"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, vm2.tap+" bound again", func() bool { return state(vm2.tap) == "up" })
	h.ping("vm1", vm2.ip, 3, true)
	static := false
	for _, e := range macTable(t, h.vemHost, "web") {
		static = static || (e.MAC == vm2.mac.String() && e.Static && e.Port == vm2.tap)
	}
	if !static {
		t.Errorf("%s's MAC is not static on %s again", vm2.mac, vm2.tap)
	}
}
