package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/guest"
	"github.com/vem-switch/vem/test/libvirtd"
	"github.com/vem-switch/vem/test/topo"
)

const (
	guestsProbeAddr = "192.0.2.1"
	guestsProbeMAC  = "52:54:00:00:0f:01"
	guestsIperfPort = 5201
)

// guestsRig is -guests' topology: a host namespace with vem-agent
// (segment web, VLAN 100 over uplink0 to sw), a probe VM, a private
// libvirtd whose hook is vem-hook, and the guests.
type guestsRig struct {
	s         *session
	host, sw  *topo.NS
	probe     *topo.NS
	instance  string
	socket    string
	lv        *libvirtd.Daemon
	img       *guest.Image
	guestsDir string
}

// guestNIC is guest n's NIC: tap gt<n>, 192.0.2.<10+n>.
func guestNIC(n int) guest.NIC {
	return guest.NIC{Tap: fmt.Sprintf("gt%d", n), MAC: fmt.Sprintf("52:54:00:00:0a:%02x", n),
		Addr: fmt.Sprintf("192.0.2.%d/24", 10+n), Segment: "web", Profile: "default"}
}

func guestIP(n int) string { return fmt.Sprintf("192.0.2.%d", 10+n) }

func newGuestsRig(s *session) (*guestsRig, error) {
	ctx := s.ctx
	r := &guestsRig{s: s, guestsDir: filepath.Join(s.dir, "guests")}
	if err := os.MkdirAll(r.guestsDir, 0o755); err != nil {
		return nil, err
	}
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		return nil, fmt.Errorf("iperf3 is copied into the guests: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	r.img, err = guest.Build(bctx, guest.Options{Programs: []string{iperf}})
	cancel()
	if err != nil {
		return nil, err
	}
	hook := filepath.Join(s.dir, "vem-hook")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", hook, "github.com/vem-switch/vem/cmd/vem-hook").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build vem-hook: %w: %s", err, out)
	}
	tp := s.tp
	if r.host, err = tp.NS("host"); err != nil {
		return nil, err
	}
	if r.sw, err = tp.NS("sw"); err != nil {
		return nil, err
	}
	if r.probe, err = tp.NS("probe"); err != nil {
		return nil, err
	}
	mac, _ := net.ParseMAC(guestsProbeMAC)
	for _, step := range []error{
		tp.Veth(r.host, "uplink0", r.sw, "sw0"),
		tp.Veth(r.host, "probe0", r.probe, "eth0", topo.MACs(nil, mac)),
		r.probe.AddAddr("eth0", guestsProbeAddr+"/24"),
	} {
		if step != nil {
			return nil, step
		}
	}
	r.instance = r.host.Name()
	state := filepath.Join(s.dir, "agent")
	r.socket = filepath.Join(state, "vem.sock")
	cfgFile := filepath.Join(state, "vem.yaml")
	cfg := fmt.Sprintf(`host: hv1
instance: %s
socket: %s
uplink: uplink0
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: probe0, mac: %q, segment: web, profile: default}
`, r.instance, r.socket, guestsProbeMAC)
	if err := writeAgentConfig(tp, s.agentBin, "hv1", r.instance, state, cfgFile, cfg); err != nil {
		return nil, err
	}
	agent, err := startAgentIn(r.host, s.agentBin, cfgFile, state)
	if err != nil {
		return nil, err
	}
	if err := waitGuestsAPI(ctx, r.socket, agent); err != nil {
		return nil, err
	}
	lvDir := filepath.Join(s.dir, "libvirtd")
	if err := os.MkdirAll(lvDir, 0o755); err != nil {
		return nil, err
	}
	if r.lv, err = libvirtd.New(libvirtd.Config{NS: r.host, Dir: lvDir, Hook: hook, AgentSocket: r.socket}); err != nil {
		return nil, err
	}
	if err := r.lv.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// close destroys the guests and stops libvirtd, before the topology goes.
func (r *guestsRig) close() error {
	if r.lv == nil {
		return nil
	}
	return r.lv.Close()
}

// waitGuestsAPI waits for the agent's socket to answer.
func waitGuestsAPI(ctx context.Context, socket string, p *topo.Proc) error {
	c := api.NewClient(socket)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Status(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("vem-agent exited: %v: %s", p.Wait(), p.Output())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(fmt.Errorf("vem-agent not serving: %w", err), ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchGuest is one booted guest.
type benchGuest struct {
	d   *guest.Domain
	con *guest.Console
}

// define defines guest n (persistent) with memory MiB.
func (r *guestsRig) define(n, mem int) (*benchGuest, error) {
	g := &benchGuest{d: &guest.Domain{Name: fmt.Sprintf("g%d", n), Image: r.img, MemoryMiB: mem,
		NICs: []guest.NIC{guestNIC(n)}, Dir: r.guestsDir}}
	file := filepath.Join(r.guestsDir, g.d.Name+".xml")
	if err := os.WriteFile(file, []byte(g.d.XML()), 0o644); err != nil {
		return nil, err
	}
	if _, err := r.lv.Virsh(r.s.ctx, "define", file); err != nil {
		return nil, err
	}
	return g, nil
}

// boot starts g and waits for its command channel.
func (r *guestsRig) boot(g *benchGuest) error {
	_ = os.Remove(g.d.ConsoleLog())
	if _, err := r.lv.Virsh(r.s.ctx, "start", g.d.Name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.s.ctx, 3*time.Minute)
	defer cancel()
	if _, err := guest.WaitLog(ctx, g.d.ConsoleLog(), "vem-guest: up eth0"); err != nil {
		return err
	}
	c, err := guest.DialConsole(ctx, g.d.ChannelSocket())
	if err != nil {
		return err
	}
	if err := c.Ready(ctx); err != nil {
		c.Close()
		return err
	}
	g.con = c
	return nil
}

// run runs a command line in g within d.
func (g *benchGuest) run(ctx context.Context, d time.Duration, cmdline string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, rc, err := g.con.Run(ctx, cmdline)
	if err != nil {
		return out, err
	}
	if rc != 0 {
		return out, fmt.Errorf("%s: %q exited %d: %s", g.d.Name, cmdline, rc, out)
	}
	return out, nil
}
