//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
	"github.com/vem-switch/vem/agent/libvirtwatch"
)

// TestRunAndStatus runs the daemon as main does, on libvirt's test driver
// and a served agent API: a running domain's vem port is attached through
// the real API client, the status file says online, the status
// subcommand prints it, and destroying the domain detaches the port.
func TestRunAndStatus(t *testing.T) {
	b := &apitest.Backend{SegmentList: []api.Segment{{Name: "web"}}}
	sock := apitest.Serve(t, b)
	status := filepath.Join(t.TempDir(), "status.json")

	// The daemon's Dial registers libvirt's event loop; start it first so
	// the test's own connection shares it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "-uri", "test:///default", "-socket", sock, "-status", status}, &bytes.Buffer{})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitStatus(t, status, "connected", func(st libvirtwatch.Status) bool { return st.Connected })

	c, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = c.Close() }()
	d, err := c.DomainCreateXML(`<domain type='test'><name>cmd-vm</name><uuid>c0000000-0000-4000-8000-0000000000c1</uuid>
<memory>65536</memory><os><type>hvm</type></os>
<metadata><vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1"><vem:port mac="52:54:00:c0:00:01" segment="web" ips="198.51.100.7"/></vem:ports></metadata>
<devices><interface type='ethernet'><mac address='52:54:00:c0:00:01'/><target dev='tap-cmd0'/></interface></devices></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	waitStatus(t, status, "online", func(st libvirtwatch.Status) bool {
		return slices.ContainsFunc(st.Ports, func(p libvirtwatch.PortStatus) bool {
			return p.Interface == "tap-cmd0" && p.State == libvirtwatch.Online
		})
	})
	ports, _ := b.Ports(context.Background())
	if len(ports) != 1 || ports[0].Interface != "tap-cmd0" || ports[0].MAC != "52:54:00:c0:00:01" || !slices.Equal(b.Attachments[0].Port.IPs, []string{"198.51.100.7"}) {
		t.Fatalf("agent ports %+v, attachments %+v", ports, b.Attachments)
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"status", "-status", status}, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "test:///default: connected") || !strings.Contains(s, "tap-cmd0") || !strings.Contains(s, "online") {
		t.Errorf("status output:\n%s", s)
	}
	out.Reset()
	if err := run(context.Background(), []string{"status", "-status", status, "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	var st libvirtwatch.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || len(st.Ports) == 0 {
		t.Errorf("status -json: %v\n%s", err, out.String())
	}

	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, status, "intentional-offline", func(st libvirtwatch.Status) bool {
		return slices.ContainsFunc(st.Ports, func(p libvirtwatch.PortStatus) bool {
			return p.Interface == "tap-cmd0" && p.State == libvirtwatch.IntentionalOffline
		})
	})
	if ports, _ := b.Ports(context.Background()); len(ports) != 0 {
		t.Errorf("agent ports after destroy: %+v", ports)
	}
}

func TestStatusWithoutFile(t *testing.T) {
	err := run(context.Background(), []string{"status", "-status", filepath.Join(t.TempDir(), "none.json")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("status without a file: %v", err)
	}
}

func waitStatus(t *testing.T, path, what string, cond func(libvirtwatch.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := libvirtwatch.ReadStatus(path)
		if err == nil && cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s in %s: %+v (%v)", what, path, st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
