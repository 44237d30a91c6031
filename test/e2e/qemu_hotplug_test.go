package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/test/guest"
)

// TestQemuHotplug: a NIC hot-plugged into a running guest with virsh
// attach-device --live runs no hook: vem-libvirt's device-added event
// attaches it, and the guest answers on it; unplugged with
// detach-device --live while its vem metadata entry stays, the
// device-removed event detaches it.
func TestQemuHotplug(t *testing.T) {
	h := newVLANQemuHost(t)
	h.startWatcher(buildWatcher(t))
	n1, n3 := webNIC(1), webNIC(3)
	// Another subnet on the same segment: the guest's reply from n3's
	// address must leave by n3, whose port security allows only it.
	n3.Addr = "198.51.100.13/24"
	if err := h.probe.ns.AddAddr("eth0", "198.51.100.1/24"); err != nil {
		t.Fatal(err)
	}
	g1 := h.defineGuest("g1", []guest.NIC{n1}, n3)
	g1.start()
	h.waitPort(n1.Tap, true, 10*time.Second)
	waitFor(t, 10*time.Second, "vem-libvirt: g1 online", func() bool { return h.watcherState("g1", n1.MAC) == libvirtwatch.Online })
	g1.waitUp(1)
	h.probePing(ipOf(n1), 3, 30*time.Second)

	// The operator's order: the new NIC's vem entry first, then the NIC.
	// (In between, the entry matches no NIC of the domain: ignored.)
	h.virsh("metadata", "g1", "--live", "--uri", guest.Namespace, "--key", "vem",
		"--set", g1.d.MetadataSet(n3))
	dev := filepath.Join(t.TempDir(), "nic.xml")
	if err := os.WriteFile(dev, []byte(n3.XML("")), 0o644); err != nil {
		t.Fatal(err)
	}
	hookCalls := len(h.hookCalls("g1"))
	plug := time.Now()
	h.virsh("attach-device", "g1", dev, "--live")
	h.waitPort(n3.Tap, true, 15*time.Second)
	t.Logf("hot-plugged port attached %v after attach-device", time.Since(plug).Round(time.Millisecond))
	if n := len(h.hookCalls("g1")); n != hookCalls {
		t.Errorf("the hook ran for a hot-plug: %v", h.hookCalls("g1"))
	}
	waitFor(t, 10*time.Second, "vem-libvirt: the new port online", func() bool { return h.watcherState("g1", n3.MAC) == libvirtwatch.Online })
	g1.waitUp(2)
	h.probePing(ipOf(n3), 3, 30*time.Second)
	t.Logf("guest answering on the hot-plugged NIC %v after attach-device", time.Since(plug).Round(time.Millisecond))
	g1.ping("192.0.2.1", 3, true)

	// Unplug the NIC with its vem entry still in the metadata, as an
	// operator usually does: the device-removed event detaches the port,
	// and the entry, which now matches no NIC, is ignored (it once made
	// the whole XML refused and the port stay).
	unplug := time.Now()
	h.virsh("detach-device", "g1", dev, "--live")
	h.waitPort(n3.Tap, false, 15*time.Second)
	t.Logf("port detached %v after detach-device", time.Since(unplug).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), guestBoot)
	defer cancel()
	if _, err := guest.WaitLog(ctx, g1.d.ConsoleLog(), "vem-guest: gone eth1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("NIC gone from the guest %v after the unplug began", time.Since(unplug).Round(time.Millisecond))
	h.probeNoReply(ipOf(n3))
	// The stale entry removed afterwards changes nothing.
	h.virsh("metadata", "g1", "--live", "--uri", guest.Namespace, "--key", "vem", "--set", g1.d.MetadataSet())
	if _, ok := h.port(n3.Tap); ok {
		t.Fatalf("port %s back after detach-device", n3.Tap)
	}
	if p, ok := h.port(n1.Tap); !ok || p.State != api.PortUp {
		t.Fatalf("g1's first port after the unplug: %+v (present %v)", p, ok)
	}
	h.probePing(ipOf(n1), 3, 10*time.Second)
}
