package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/topo"
)

// The -portchannel topology, that of TestLACPBetweenTwoAgents
// (test/e2e/portchannel_test.go): two hypervisors whose uplink is
// port-channel po1 of members e1 and e2, each a veth pair from hv1 to hv2,
// with a VM on VLAN segment web (100) behind each:
//
//	vm1 eth0 192.0.2.1 -- tap1 hv1 e1 ==== e1 hv2 tap1 -- eth0 192.0.2.2 vm2
//	                            e2 ==== e2
//
// hv1 runs LACP active, hv2 passive, both at the fast rate (a LACPDU every
// second, partner timeout 3 s) and hash src-dst-ip-l4port.
var pcMembers = []string{"e1", "e2"}

// pcHost is one hypervisor of the -portchannel rig.
type pcHost struct {
	name     string // hv1, hv2
	ns       *topo.NS
	vm       *topo.NS
	vmMAC    net.HardwareAddr
	vmAddr   string
	mode     string // lacp-active, lacp-passive
	instance string // the vem-agent instance (pins)
	stateDir string
	cfgFile  string
	socket   string
	api      *api.Client
	agent    *topo.Proc
}

// pcRig is the measured topology of the -portchannel mode.
type pcRig struct {
	tp       *topo.Topology
	agentBin string
	hosts    [2]*pcHost
}

// build creates the topology in tp; whatever it creates is released by
// tp.Close, which the caller defers before calling.
func (r *pcRig) build(tp *topo.Topology, agentBin, dir string) error {
	r.tp, r.agentBin = tp, agentBin
	r.hosts = [2]*pcHost{
		{name: "hv1", vmMAC: vm1MAC, vmAddr: vm1Addr, mode: "lacp-active"},
		{name: "hv2", vmMAC: vm2MAC, vmAddr: vm2Addr, mode: "lacp-passive"},
	}
	for i, h := range r.hosts {
		var err error
		if h.ns, err = tp.NS(h.name); err != nil {
			return err
		}
		if h.vm, err = tp.NS(fmt.Sprintf("vm%d", i+1)); err != nil {
			return err
		}
		// No IPv6: its router and multicast-listener chatter would move
		// the member counters the flow is found by.
		for _, ns := range []*topo.NS{h.ns, h.vm} {
			for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
				if err := ns.SetSysctl(k, "1"); err != nil {
					return err
				}
			}
		}
		if err := tp.Veth(h.ns, "tap1", h.vm, "eth0", topo.MACs(nil, h.vmMAC)); err != nil {
			return err
		}
		if err := h.vm.AddAddr("eth0", h.vmAddr+"/24"); err != nil {
			return err
		}
		h.instance = fmt.Sprintf("benchpc%d-%s", os.Getpid(), h.name)
		h.stateDir = filepath.Join(dir, h.name)
		h.cfgFile = filepath.Join(h.stateDir, "vem.yaml")
		h.socket = filepath.Join(h.stateDir, "agent.sock")
		h.api = api.NewClient(h.socket)
		if err := writeAgentConfig(tp, agentBin, h.name, h.instance, h.stateDir, h.cfgFile, h.agentConfig()); err != nil {
			return err
		}
	}
	// busy is no member: the busy cases take it down for a link event
	// that is not e1's (portchannel_run.go).
	for _, m := range append(slices.Clone(pcMembers), "busy") {
		if err := tp.Veth(r.hosts[0].ns, m, r.hosts[1].ns, m); err != nil {
			return err
		}
	}
	// Static neighbours: no ARP exchange is in flight when a member fails,
	// and the stream needs no resolution after a failover.
	for i, h := range r.hosts {
		peer := r.hosts[1-i]
		if _, err := h.vm.Run(context.Background(), "ip", "neigh", "replace", peer.vmAddr,
			"lladdr", peer.vmMAC.String(), "dev", "eth0", "nud", "permanent"); err != nil {
			return err
		}
	}
	return nil
}

// agentConfig is h's standalone configuration, as pcConfig of the
// end-to-end test writes it.
func (h *pcHost) agentConfig() string {
	return fmt.Sprintf(`host: %s
instance: %s
socket: %s
uplink: po1
portChannels:
  - {name: po1, mode: %s, rate: fast, hash: src-dst-ip-l4port, members: [{interface: e1}, {interface: e2}]}
segments:
  - {name: web, type: vlan, vlan: 100}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {interface: tap1, mac: "%s", segment: web, profile: default}
`, h.name, h.instance, h.socket, h.mode, h.vmMAC)
}

// startAgents runs vem-agent on both hypervisors (through nsenter --net,
// so the pins land in the host's bpffs) and waits for their API. The
// topology stops them at Close; the cleanup hooks of build remove their
// pins.
func (r *pcRig) startAgents(ctx context.Context) error {
	for _, h := range r.hosts {
		p, err := startAgentIn(h.ns, r.agentBin, h.cfgFile, h.stateDir)
		if err != nil {
			return err
		}
		h.agent = p
	}
	for _, h := range r.hosts {
		err := poll(ctx, 10*time.Second, func() (bool, error) {
			if err := exited(h.agent, "vem-agent on "+h.name); err != nil {
				return false, err
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := h.api.Status(cctx)
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("vem-agent on %s not serving: %w", h.name, err)
		}
	}
	return nil
}

// bundled returns the members h's agent reports bundled (vemctl show
// lacp neighbor).
func (h *pcHost) bundled(ctx context.Context) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ns, err := h.api.LACPNeighbors(cctx)
	if err != nil {
		return nil, fmt.Errorf("%s: show lacp neighbor: %w", h.name, err)
	}
	var out []string
	for _, n := range ns {
		if n.State == "bundled" {
			out = append(out, n.Interface)
		}
	}
	return out, nil
}

// waitBundled waits up to timeout for every member to be bundled on both
// agents, and returns how long that took.
func (r *pcRig) waitBundled(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last string
	err := poll(ctx, timeout, func() (bool, error) {
		var state []string
		all := true
		for _, h := range r.hosts {
			b, err := h.bundled(ctx)
			if err != nil {
				return false, err
			}
			state = append(state, fmt.Sprintf("%s %v", h.name, b))
			all = all && len(b) == len(pcMembers)
		}
		last = strings.Join(state, ", ")
		return all, nil
	})
	if err != nil {
		return 0, fmt.Errorf("members not bundled on both agents (%s): %w", last, err)
	}
	return time.Since(start), nil
}

// txPackets reads the datapath's transmit counter of member on h.
func (h *pcHost) txPackets(ctx context.Context, member string) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cs, err := h.api.Counters(cctx, member)
	if err != nil {
		return 0, fmt.Errorf("%s: show counters %s: %w", h.name, member, err)
	}
	if len(cs) != 1 {
		return 0, fmt.Errorf("%s: show counters %s: %d entries", h.name, member, len(cs))
	}
	return cs[0].TxPackets, nil
}

// leftovers lists pins of the rig's agent instances under /sys/fs/bpf/vem
// and namespaces of the topology still present.
func (r *pcRig) leftovers() []string {
	return leftBehind(r.tp, instances(r.hosts[:], func(h *pcHost) string { return h.instance })...)
}
