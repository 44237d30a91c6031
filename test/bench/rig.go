package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vem-switch/vem/test/topo"
)

// Addresses: the VMs talk over their vEths on 192.0.2.0/24 (through vem or
// the bridge) and over the direct pair on 198.51.100.0/24.
const (
	vm1Addr       = "192.0.2.1"
	vm2Addr       = "192.0.2.2"
	vm1DirectAddr = "198.51.100.1"
	vm2DirectAddr = "198.51.100.2"
	iperfPort     = 5201
	iperfPinned   = 5202 // a second server, pinned to pinCPU
	pinCPU        = "0"
)

var (
	vm1MAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x01}
	vm2MAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x02}
)

// agentConfig is the standalone configuration: both vEths on one local
// segment behind a secure profile. %s are the instance and the socket.
const agentConfig = `host: bench
instance: %s
socket: %s
segments: [{name: web, type: local}]
profiles: [{name: default, portSecurity: true}]
ports:
  - {interface: tap1, mac: "52:54:00:00:00:01", segment: web, profile: default}
  - {interface: tap2, mac: "52:54:00:00:00:02", segment: web, profile: default}
`

// rig is the measured topology: a host namespace holding the host ends
// tap1 and tap2 of the VMs' eth0, and a direct veth pair d0 between the
// two VM namespaces. Variants switch tap1 and tap2 with vem or a bridge.
type rig struct {
	tp             *topo.Topology
	host, vm1, vm2 *topo.NS

	agentBin string
	dir      string // configuration, socket and agent state
	instance string
	cfgFile  string
}

// newRig builds the topology. Whatever it creates is released by
// tp.Close, which the caller defers before calling.
func newRig(tp *topo.Topology, agentBin, dir string) (*rig, error) {
	r := &rig{tp: tp, agentBin: agentBin, dir: dir, instance: fmt.Sprintf("bench%d", os.Getpid())}
	var err error
	if r.host, err = tp.NS("host"); err != nil {
		return nil, err
	}
	if r.vm1, err = tp.NS("vm1"); err != nil {
		return nil, err
	}
	if r.vm2, err = tp.NS("vm2"); err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return tp.Veth(r.host, "tap1", r.vm1, "eth0", topo.MACs(nil, vm1MAC)) },
		func() error { return tp.Veth(r.host, "tap2", r.vm2, "eth0", topo.MACs(nil, vm2MAC)) },
		func() error { return tp.Veth(r.vm1, "d0", r.vm2, "d0") },
		func() error { return r.vm1.AddAddr("eth0", vm1Addr+"/24") },
		func() error { return r.vm2.AddAddr("eth0", vm2Addr+"/24") },
		func() error { return r.vm1.AddAddr("d0", vm1DirectAddr+"/24") },
		func() error { return r.vm2.AddAddr("d0", vm2DirectAddr+"/24") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}

	r.cfgFile = filepath.Join(dir, "vem.yaml")
	cfg := fmt.Sprintf(agentConfig, r.instance, filepath.Join(dir, "agent.sock"))
	if err := os.WriteFile(r.cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write agent configuration: %w", err)
	}
	// Runs at Close after the agent is stopped, however the run ends.
	tp.Cleanup(func() {
		if err := r.uninstall(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", err)
		}
	})
	return r, nil
}

// startAgent runs vem-agent in the host namespace and returns once vm1
// reaches vm2 through it. The returned stop function stops the agent and
// removes its pins, which detaches its programs.
func (r *rig) startAgent(ctx context.Context, extra ...string) (func() error, error) {
	p, err := startAgentIn(r.host, r.agentBin, r.cfgFile, filepath.Join(r.dir, "state"), extra...)
	if err != nil {
		return nil, err
	}
	stop := func() error {
		return errors.Join(p.Stop(), r.uninstall())
	}
	if err := waitReachable(ctx, r.vm1, vm2Addr, p); err != nil {
		return nil, errors.Join(err, stop())
	}
	return stop, nil
}

// uninstall removes the agent instance's pins and state; it is a no-op
// when there is nothing to remove.
func (r *rig) uninstall() error {
	return uninstallAgent(r.agentBin, r.instance, filepath.Join(r.dir, "state"))
}

// addBridge enslaves tap1 and tap2 to a new Linux bridge br0 in the host
// namespace; the returned function deletes it.
func (r *rig) addBridge(ctx context.Context) (func() error, error) {
	del := func() error {
		_, err := r.host.Run(context.Background(), "ip", "link", "del", "br0")
		return err
	}
	cmds := [][]string{
		// No STP: ports forward at once, as they do in a hypervisor's bridge.
		{"ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"ip", "link", "set", "tap1", "master", "br0"},
		{"ip", "link", "set", "tap2", "master", "br0"},
		{"ip", "link", "set", "br0", "up"},
	}
	for i, c := range cmds {
		if _, err := r.host.Run(ctx, c...); err != nil {
			if i > 0 {
				err = errors.Join(err, del())
			}
			return nil, err
		}
	}
	if err := waitReachable(ctx, r.vm1, vm2Addr, nil); err != nil {
		return nil, errors.Join(err, del())
	}
	return del, nil
}

// byName returns the rig's namespace host, vm1 or vm2.
func (r *rig) byName(name string) *topo.NS {
	switch name {
	case "host":
		return r.host
	case "vm1":
		return r.vm1
	case "vm2":
		return r.vm2
	}
	panic("bench: no namespace " + name)
}

// setGRO turns GRO on or off on dev in ns. On a veth, GRO on switches its
// receive path from the per-CPU backlog to the device's own NAPI ring.
func setGRO(ctx context.Context, ns *topo.NS, dev string, on bool) error {
	state := "off"
	if on {
		state = "on"
	}
	_, err := ns.Run(ctx, "ethtool", "-K", dev, "gro", state)
	return err
}

// setRPS writes the RPS CPU mask of every receive queue of dev in ns
// ("0" disables RPS). "ip netns exec" mounts the namespace's own /sys,
// where the device's queues are.
func setRPS(ctx context.Context, ns *topo.NS, dev, mask string) error {
	script := fmt.Sprintf(`for q in /sys/class/net/%s/queues/rx-*; do echo %s > $q/rps_cpus || exit 1; done`, dev, mask)
	_, err := ns.Run(ctx, "sh", "-c", script)
	return err
}

// leftovers lists pins the instance left under /sys/fs/bpf/vem and
// namespaces of the topology still present.
func (r *rig) leftovers() []string { return leftBehind(r.tp, r.instance) }
