// Command demo runs vem on its embedded default: a host namespace with
// four VMs on two VLAN segments and an upstream switch namespace. It starts
// the agent, shows pings that pass and pings that segments isolate, prints
// the vemctl views and cleans everything up.
//
//	go run ./test/demo -agent bin/vem-agent -vemctl bin/vemctl
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/test/topo"
)

//go:embed demo.yaml
var demoConfig []byte

// vms of the demo: name, vEth, address. MACs and segments come from the
// embedded configuration.
var vms = []struct{ name, tap, ip string }{
	{"vm1", "tap1", "192.0.2.1"},
	{"vm2", "tap2", "192.0.2.2"},
	{"vm3", "tap3", "192.0.2.2"},
	{"vm4", "tap4", "192.0.2.4"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	agentBin := flag.String("agent", "bin/vem-agent", "vem-agent `binary`")
	vemctlBin := flag.String("vemctl", "bin/vemctl", "vemctl `binary`")
	hold := flag.Bool("hold", false, "keep the topology and agent up until Ctrl-C")
	flag.Parse()
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it creates network namespaces and loads eBPF programs")
	}
	cfg, err := spec.Parse(demoConfig)
	if err != nil {
		return fmt.Errorf("embedded configuration: %w", err)
	}

	tp, err := topo.New(fmt.Sprintf("vemdemo%d", os.Getpid()))
	if err != nil {
		return err
	}
	// Teardown runs however the demo ends, Ctrl-C included.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer func() {
		step("cleaning up: agent stopped, pins removed, namespaces deleted")
		if err := tp.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
		}
	}()
	tp.Cleanup(func() {
		exec.Command(*agentBin, "--uninstall", "--instance", cfg.Instance).Run()
	})

	step("building the topology: host, switch and four VM namespaces")
	host, err := tp.NS("host")
	if err != nil {
		return err
	}
	sw, err := tp.NS("switch")
	if err != nil {
		return err
	}
	if err := tp.Veth(host, "uplink0", sw, "sw0"); err != nil {
		return err
	}
	ns := map[string]*topo.NS{}
	for _, v := range vms {
		n, err := tp.NS(v.name)
		if err != nil {
			return err
		}
		ns[v.name] = n
		var mac net.HardwareAddr
		for _, p := range cfg.Ports {
			if p.Interface == v.tap {
				mac, _ = net.ParseMAC(p.MAC)
				fmt.Printf("  %s: eth0 %s %s, vEth %s on segment %s\n", v.name, mac, v.ip, v.tap, p.Segment)
			}
		}
		if err := tp.Veth(host, v.tap, n, "eth0", topo.MACs(nil, mac)); err != nil {
			return err
		}
		if err := n.AddAddr("eth0", v.ip+"/24"); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "vem-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "vem.yaml")
	if err := os.WriteFile(cfgPath, demoConfig, 0o644); err != nil {
		return err
	}
	step("starting vem-agent in the host namespace")
	agent, err := host.StartNetOnly(*agentBin, "--config", cfgPath, "--state-dir", dir)
	if err != nil {
		return err
	}
	if err := waitAgent(cfg.Socket, agent); err != nil {
		return err
	}

	for _, p := range []struct {
		from, to, what string
		want           bool
	}{
		{"vm1", "192.0.2.2", "vm1 -> vm2, both on web", true},
		{"vm3", "192.0.2.4", "vm3 -> vm4, both on db", true},
		{"vm4", "192.0.2.2", "vm4 (db) -> 192.0.2.2: reaches vm3 on db, never vm2 on web", true},
		{"vm1", "192.0.2.4", "vm1 (web) -> vm4 (db): isolated", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, _ := ns[p.from].Ping(ctx, p.to, 3, 200*time.Millisecond)
		cancel()
		verdict := "ok"
		if (res.Received > 0) != p.want {
			verdict = "UNEXPECTED"
			err = fmt.Errorf("ping %s: %d of %d replies", p.what, res.Received, res.Sent)
		}
		step(fmt.Sprintf("ping %s: %d/%d replies [%s]", p.what, res.Received, res.Sent, verdict))
	}

	for _, args := range [][]string{
		{"show", "module"}, {"show", "ports"}, {"show", "segments"},
		{"show", "mac-table"}, {"show", "counters", "tap1"},
	} {
		step("vemctl " + strings.Join(args, " "))
		out, cerr := exec.Command(*vemctlBin, append([]string{"--socket", cfg.Socket}, args...)...).CombinedOutput()
		fmt.Print(string(out))
		if cerr != nil {
			return fmt.Errorf("vemctl %s: %v", strings.Join(args, " "), cerr)
		}
	}
	if *hold {
		step(fmt.Sprintf("holding; try: %s --socket %s show mac-table; Ctrl-C to clean up", *vemctlBin, cfg.Socket))
		<-sig
	}
	return err
}

func waitAgent(socket string, p *topo.Proc) error {
	c := api.NewClient(socket)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := c.Status(context.Background()); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("vem-agent exited: %v\n%s", p.Wait(), p.Output())
		default:
		}
	}
	return fmt.Errorf("vem-agent did not come up:\n%s", p.Output())
}

func step(s string) { fmt.Printf("\n== %s\n", s) }
