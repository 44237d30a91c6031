package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vem-switch/vem/test/topo"
)

// The -vxlan topology, the routed underlay of test/e2e/vxlan_test.go
// with one VM per hypervisor:
//
//	vm1 eth0 192.0.2.1 -- tap1 hv1 up0 198.51.100.1/26  -- r1 198.51.100.62  \
//	                                                                          r (forwards)
//	vm2 eth0 192.0.2.2 -- tap2 hv2 up0 198.51.100.65/26 -- r2 198.51.100.126 /
//
// The VMs share VNI 5001. Underlay links have MTU vxlanUnderlayMTU, the
// VMs the default 1500, so full-size inner frames are never fragmented.
const (
	vxlanVNI         = 5001
	vxlanUnderlayMTU = 1600 // 1500-byte inner packets plus 50 bytes of VXLAN and then some
	vxlanInnerMTU    = 1500
)

// vxlanHost is one hypervisor of the -vxlan rig.
type vxlanHost struct {
	name     string // hv1, hv2
	ns       *topo.NS
	tap      string           // the host end of its VM's eth0
	vtep     string           // its VTEP address, on up0
	gw       string           // its underlay gateway, on the router
	vmMAC    net.HardwareAddr // its VM's MAC
	instance string           // the vem-agent instance (pins)
	cfgFile  string
	stateDir string
	peer     *vxlanHost
}

// vxlanRig is the measured topology of the -vxlan mode. The embedded rig
// carries what measure and snapshot read (vm1, vm2) and the agent binary;
// its host is unused.
type vxlanRig struct {
	rig
	router *topo.NS
	hosts  [2]*vxlanHost
}

// build creates the topology in tp; whatever it creates is released by
// tp.Close, which the caller defers before calling.
func (vr *vxlanRig) build(tp *topo.Topology, agentBin, dir string) error {
	vr.rig = rig{tp: tp, agentBin: agentBin, dir: dir}
	var err error
	if vr.router, err = tp.NS("r"); err != nil {
		return err
	}
	if err := vr.router.SetSysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	vr.hosts = [2]*vxlanHost{
		{name: "hv1", tap: "tap1", vtep: "198.51.100.1", gw: "198.51.100.62", vmMAC: vm1MAC},
		{name: "hv2", tap: "tap2", vtep: "198.51.100.65", gw: "198.51.100.126", vmMAC: vm2MAC},
	}
	vr.hosts[0].peer, vr.hosts[1].peer = vr.hosts[1], vr.hosts[0]
	vms := [2]struct {
		name, addr string
		ns         **topo.NS
	}{{"vm1", vm1Addr, &vr.vm1}, {"vm2", vm2Addr, &vr.vm2}}

	for i, h := range vr.hosts {
		if h.ns, err = tp.NS(h.name); err != nil {
			return err
		}
		vm, err := tp.NS(vms[i].name)
		if err != nil {
			return err
		}
		*vms[i].ns = vm
		rif := fmt.Sprintf("r%d", i+1)
		steps := []func() error{
			func() error { return tp.Veth(h.ns, "up0", vr.router, rif, topo.MTU(vxlanUnderlayMTU)) },
			func() error { return h.ns.AddAddr("up0", h.vtep+"/26") },
			func() error { return vr.router.AddAddr(rif, h.gw+"/26") },
			func() error { return h.ns.AddRoute("default", h.gw) },
			func() error { return tp.Veth(h.ns, h.tap, vm, "eth0", topo.MACs(nil, h.vmMAC)) },
			func() error { return vm.AddAddr("eth0", vms[i].addr+"/24") },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}

		h.instance = fmt.Sprintf("benchvx%d-%s", os.Getpid(), h.name)
		h.stateDir = filepath.Join(dir, h.name)
		h.cfgFile = filepath.Join(h.stateDir, "vem.yaml")
		if err := writeAgentConfig(tp, agentBin, h.name, h.instance, h.stateDir, h.cfgFile, h.agentConfig()); err != nil {
			return err
		}
	}
	return nil
}

// agentConfig is h's standalone configuration: its VM on a VXLAN segment
// whose only other VTEP is the peer's.
func (h *vxlanHost) agentConfig() string {
	return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: up0
vtep: {address: %s}
segments:
  - {name: blue, type: vxlan, vni: %d, mtu: %d, vteps: [%s]}
profiles: [{name: default, portSecurity: true}]
ports:
  - {interface: %s, mac: "%s", segment: blue, profile: default}
`, h.name, h.instance, filepath.Join(h.stateDir, "agent.sock"), h.vtep, vxlanVNI, vxlanInnerMTU,
		h.peer.vtep, h.tap, h.vmMAC)
}

// startAgents runs vem-agent on both hypervisors and returns once vm1
// reaches vm2 through them. The returned function stops the agents and
// removes their pins (which detaches their programs). It also turns RPS
// off on the taps: the agents run here without --steer-veth-flows and do
// not set it, but an agent run with that flag leaves RPS on the taps when
// it stops, and no later variant should inherit it; without, it is a
// harmless no-op.
func (vr *vxlanRig) startAgents(ctx context.Context) (func() error, error) {
	var procs []*topo.Proc
	stop := func() error {
		var errs []error
		for i, p := range procs {
			h := vr.hosts[i]
			errs = append(errs, p.Stop(), uninstallAgent(vr.agentBin, h.instance, h.stateDir))
		}
		for _, h := range vr.hosts {
			errs = append(errs, setRPS(context.Background(), h.ns, h.tap, "0"))
		}
		return errors.Join(errs...)
	}
	for _, h := range vr.hosts {
		p, err := startAgentIn(h.ns, vr.agentBin, h.cfgFile, h.stateDir)
		if err != nil {
			return nil, errors.Join(err, stop())
		}
		procs = append(procs, p)
	}
	// Watches the second agent; the first one's log joins a failure.
	if err := waitReachable(ctx, vr.vm1, vm2Addr, procs[1]); err != nil {
		return nil, errors.Join(err, fmt.Errorf("hv1 agent log:\n%s", procs[0].Output()), stop())
	}
	return stop, nil
}

// kernelVXLAN builds the same overlay from the kernel's own parts on each
// hypervisor: a vxlan device vx0 (VNI 5001, port 4789, the VTEP address
// as source, no learning) and a bridge br0 holding vx0 and the VM's tap,
// with the peer VTEP as the flood destination and the peer VM's MAC
// pinned to it, as test/e2e/vxlan_test.go sets up its kernel VTEP. With
// rps, RPS is enabled on the taps as vem-agent --steer-veth-flows does
// for its vEths. The returned function deletes it all.
func (vr *vxlanRig) kernelVXLAN(ctx context.Context, rps bool) (func() error, error) {
	var undos undoList
	undo := undos.undo
	for _, h := range vr.hosts {
		undos.add(func() error {
			var errs []error
			for _, dev := range []string{"vx0", "br0"} {
				// Each may be missing when a step before it failed.
				if _, err := h.ns.Run(context.Background(), "ip", "link", "del", dev); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
					errs = append(errs, err)
				}
			}
			if rps {
				errs = append(errs, setRPS(context.Background(), h.ns, h.tap, "0"))
			}
			return errors.Join(errs...)
		})
		cmds := [][]string{
			// No STP: ports forward at once, as in a hypervisor's bridge.
			{"ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
			{"ip", "link", "add", "vx0", "mtu", fmt.Sprint(vxlanInnerMTU), "type", "vxlan", "id", fmt.Sprint(vxlanVNI),
				"dstport", "4789", "local", h.vtep, "nolearning"},
			{"ip", "link", "set", "vx0", "master", "br0", "up"},
			{"ip", "link", "set", h.tap, "master", "br0"},
			{"ip", "link", "set", "br0", "up"},
			// Head-end replication to the peer, and the peer's VM pinned to it.
			{"bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", h.peer.vtep},
			{"bridge", "fdb", "add", h.peer.vmMAC.String(), "dev", "vx0", "dst", h.peer.vtep},
		}
		for _, c := range cmds {
			if _, err := h.ns.Run(ctx, c...); err != nil {
				return nil, errors.Join(err, undo())
			}
		}
		if rps {
			if err := setRPS(ctx, h.ns, h.tap, allCPUs()); err != nil {
				return nil, errors.Join(err, undo())
			}
		}
	}
	if err := waitReachable(ctx, vr.vm1, vm2Addr, nil); err != nil {
		return nil, errors.Join(err, undo())
	}
	return undo, nil
}

// leftovers lists pins of the rig's agent instances under /sys/fs/bpf/vem
// and namespaces of the topology still present.
func (vr *vxlanRig) leftovers() []string {
	return leftBehind(vr.tp, instances(vr.hosts[:], func(h *vxlanHost) string { return h.instance })...)
}
