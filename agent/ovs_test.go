package agent

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/ovsport"
	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/spec"
)

const ovsHostYAML = `
host: hv1
segments:
  - {name: web, type: local}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: web, profile: default}
ovs: {segment: web, profile: default}
`

// newOVSAgent is a standalone Agent with an OVS source's state over the
// test engine; the tests call it as the source would.
func newOVSAgent(t *testing.T) (*Agent, *testAgent) {
	ta := newTestAgent(t, newFakeDatapath())
	dir := t.TempDir()
	a := &Agent{
		opts: Options{Clock: clock.System()}, log: zap.NewNop(), links: ta.links, engine: ta.e,
		store: attachedStore{path: filepath.Join(dir, "attached-ports.json")},
		base:  mustParse(t, ovsHostYAML),
		ovs:   &ovsState{path: filepath.Join(dir, ovsPortsFile)},
	}
	if err := a.engine.Apply(context.Background(), a.desiredLocked(a.base, nil)); err != nil {
		t.Fatal(err)
	}
	return a, ta
}

func ovsPort(iface, mac, segment string) ovsport.Port {
	var p ovsport.Port
	p.Interface, p.MAC, p.Segment, p.Profile, p.InterfaceID, p.UUID = iface, mac, segment, "default", "id-"+iface, "u-"+iface
	return p
}

// A snapshot with ports the engine refuses is narrowed: the others are
// applied and shown with the source ovs, the refused ones named with the
// engine's reason; the accepted ones are kept for the next start.
func TestOVSSetPortsNarrowsRefusals(t *testing.T) {
	a, _ := newOVSAgent(t)
	ctx := context.Background()
	refused, err := ovsAgent{a}.SetPorts(ctx, []ovsport.Port{
		ovsPort("tap-a", "52:54:00:00:00:0a", "web"),
		ovsPort("tap-b", "52:54:00:00:00:0c", "web"), // the file's tap-c has this MAC
		ovsPort("eth1", "52:54:00:00:00:01", "web"),  // a host interface with an address
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 2 || !strings.Contains(refused["tap-b"].Error(), "ovs port tap-b.mac: duplicate 52:54:00:00:00:0c") || !strings.Contains(refused["eth1"].Error(), "IP address") {
		t.Fatalf("refused %v, want tap-b (the file port tap-c's MAC) and eth1 (a host interface)", refused)
	}
	ports, _ := a.Ports(ctx)
	src := map[string]string{}
	for _, p := range ports {
		src[p.Interface] = p.Source + "/" + p.State
	}
	if src["tap-a"] != "ovs/up" || src["tap-c"] != "config/up" || src["tap-b"] != "" {
		t.Fatalf("ports %v, want tap-a ovs/up beside the file's tap-c", src)
	}
	if fw := (ovsAgent{a}).Forwarding(); len(fw) != 1 || !fw["tap-a"] {
		t.Errorf("forwarding %v, want tap-a", fw)
	}
	saved, err := loadOVSPorts(a.ovs.path)
	if err != nil || len(saved) != 1 || saved[0].Interface != "tap-a" {
		t.Fatalf("saved %+v, %v", saved, err)
	}

	// The next snapshot drops tap-a and adds tap-d: applied whole.
	if refused, err := (ovsAgent{a}).SetPorts(ctx, []ovsport.Port{ovsPort("tap-d", "52:54:00:00:00:0d", "web")}); err != nil || len(refused) != 0 {
		t.Fatalf("refused %v, %v", refused, err)
	}
	ports, _ = a.Ports(ctx)
	var names []string
	for _, p := range ports {
		names = append(names, p.Interface+"="+p.Source)
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "tap-d=ovs") || strings.Contains(got, "tap-a") {
		t.Errorf("ports %s, want tap-d from ovs and no tap-a", got)
	}
}

// An OVS port whose segment the configuration lacks, or whose interface
// the file or the local API holds, is orphaned (shown, with the source
// ovs), not refused; the API's attach of the same interface wins.
func TestOVSPortsOrphaned(t *testing.T) {
	a, _ := newOVSAgent(t)
	ctx := context.Background()
	if err := a.Attach(ctx, spec.Port{Interface: "tap-e", MAC: "52:54:00:00:00:0e", Segment: "web"}); err != nil {
		t.Fatal(err)
	}
	refused, err := ovsAgent{a}.SetPorts(ctx, []ovsport.Port{
		ovsPort("tap-a", "52:54:00:00:00:0a", "db"),
		ovsPort("tap-c", "52:54:00:00:00:1c", "web"),
		ovsPort("tap-e", "52:54:00:00:00:1e", "web"),
	})
	if err != nil || len(refused) != 0 {
		t.Fatalf("refused %v, %v", refused, err)
	}
	ports, _ := a.Ports(ctx)
	got := map[string]api.Port{}
	for _, p := range ports {
		if p.State == api.PortOrphaned {
			got[p.Interface] = p
		}
	}
	for _, iface := range []string{"tap-a", "tap-c", "tap-e"} {
		if p, ok := got[iface]; !ok || p.Source != "ovs" {
			t.Errorf("%s: %+v, want orphaned from ovs", iface, p)
		}
	}
	if fw := (ovsAgent{a}).Forwarding(); fw["tap-a"] {
		t.Errorf("an orphaned port forwards: %v", fw)
	}
}

// The ports kept from the last run are applied from the start, unless
// the engine now refuses them: then the agent starts without them.
func TestOpenOVSKeptPorts(t *testing.T) {
	for _, tc := range []struct {
		name string
		kept []ovsport.Port
		want int
	}{
		{"kept", []ovsport.Port{ovsPort("tap-a", "52:54:00:00:00:0a", "web")}, 1},
		{"refused now", []ovsport.Port{ovsPort("tap-a", "52:54:00:00:00:0a", "web"), ovsPort("tap-b", "52:54:00:00:00:0c", "web")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newOVSAgent(t)
			dir := t.TempDir()
			if err := saveOVSPorts(filepath.Join(dir, ovsPortsFile), tc.kept); err != nil {
				t.Fatal(err)
			}
			a.ovs = nil
			cfg := mustParse(t, ovsHostYAML)
			if err := a.openOVS(cfg, dir); err != nil {
				t.Fatal(err)
			}
			if got := len(a.ovs.ports); got != tc.want {
				t.Fatalf("%d ports kept, want %d", got, tc.want)
			}
			if err := a.engine.Apply(context.Background(), a.desiredLocked(cfg, nil)); err != nil {
				t.Fatalf("the first apply: %v", err)
			}
		})
	}
}
