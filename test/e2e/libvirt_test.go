package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/spec"
)

// The libvirt watcher end to end: the real vem-libvirt binary on libvirt's
// test driver, with a node file whose domains' NICs are the veth "taps" of
// the test's VM namespaces, against a real agent. The driver's state
// lives in the vem-libvirt process, so what the test can drive from
// outside is the resync at start-up: domains running before the watcher
// (their hooks missed) get their ports, a stopped domain loses its port,
// and pings pass between the attached VMs.

// lvDomain is a test driver domain with one vem NIC on tap; runstate 5
// (shut off) for a stopped one.
func lvDomain(name string, n int, tap, mac, ip string, running bool) string {
	state := ""
	if !running {
		state = `<test:runstate>5</test:runstate>`
	}
	return fmt.Sprintf(`<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>%s</name>
  <uuid>e2e00000-0000-4000-8000-0000000000%02x</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
  <metadata><vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1"><vem:port mac="%s" segment="web" profile="default" ips="%s"/></vem:ports></metadata>
  <devices><interface type='ethernet'><mac address='%s'/><target dev='%s'/></interface></devices>
  %s
</domain>`, name, n, mac, ip, mac, tap, state)
}

func TestLibvirtWatcherResync(t *testing.T) {
	h := newHost(t)
	bin := filepath.Join(t.TempDir(), "vem-libvirt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/vem-libvirt").CombinedOutput(); err != nil {
		t.Fatalf("build vem-libvirt: %v\n%s", err, out)
	}
	// Three VMs unknown to the agent's file: lv1 and lv2 run, lv3 is shut
	// off but the agent still has its port (a stopped hook missed).
	h.addVM("lv1", "lvtap1", "52:54:00:00:01:01", "192.0.2.21", "web", "default")
	h.addVM("lv2", "lvtap2", "52:54:00:00:01:02", "192.0.2.22", "web", "default")
	h.addVM("lv3", "lvtap3", "52:54:00:00:01:03", "192.0.2.23", "web", "default")
	c := api.NewClient(h.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Attach(ctx, spec.Port{Interface: "lvtap3", MAC: "52:54:00:00:01:03", Segment: "web", Profile: "default", IPs: []string{"192.0.2.23"}}); err != nil {
		t.Fatal(err)
	}
	node := "<node>\n" +
		lvDomain("lv1", 1, "lvtap1", "52:54:00:00:01:01", "192.0.2.21", true) +
		lvDomain("lv2", 2, "lvtap2", "52:54:00:00:01:02", "192.0.2.22", true) +
		lvDomain("lv3", 3, "lvtap3", "52:54:00:00:01:03", "192.0.2.23", false) +
		"</node>\n"
	nodeFile := filepath.Join(t.TempDir(), "node.xml")
	if err := os.WriteFile(nodeFile, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(t.TempDir(), "libvirt-status.json")
	start := time.Now()
	p, err := h.host.StartNetOnly(bin, "-uri", "test://"+nodeFile, "-socket", h.socket, "-status", status)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop vem-libvirt: %v", err)
		}
	}()
	var st libvirtwatch.Status
	waitFor(t, 10*time.Second, "lv1 and lv2 online, lv3 offline", func() bool {
		var err error
		if st, err = libvirtwatch.ReadStatus(status); err != nil {
			return false
		}
		want := map[string]libvirtwatch.PortState{"lv1": libvirtwatch.Online, "lv2": libvirtwatch.Online, "lv3": libvirtwatch.Offline}
		n := 0
		for _, ps := range st.Ports {
			if want[ps.Domain] == ps.State {
				n++
			}
		}
		return n == 3
	})
	t.Logf("resync at start-up done within %v (process start included)", time.Since(start).Round(time.Millisecond))
	ports, err := c.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]api.Port{}
	for _, ap := range ports {
		have[ap.Interface] = ap
	}
	if have["lvtap1"].Segment != "web" || have["lvtap2"].MAC != "52:54:00:00:01:02" || have["lvtap1"].State != api.PortUp {
		t.Fatalf("agent ports after resync: %+v\n%s", ports, p.Output())
	}
	if _, ok := have["lvtap3"]; ok {
		t.Errorf("lv3's port still attached although lv3 is shut off")
	}
	if !slices.ContainsFunc(ports, func(ap api.Port) bool { return ap.Interface == "tap1" && ap.Source == "config" }) {
		t.Errorf("the file's ports were touched: %+v", ports)
	}
	h.ping("lv1", "192.0.2.22", 3, true)
	h.ping("lv2", "192.0.2.21", 3, true)
	// Not a port of any domain: lv3 is isolated.
	h.ping("lv1", "192.0.2.23", 2, false)
}
