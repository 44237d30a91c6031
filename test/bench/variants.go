package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// variant is one way of connecting the two VMs.
type variant struct {
	name string
	desc string
	addr string // vm2's address the client connects to
	port int    // iperf3 server port
	cpus string // taskset CPU list for client and server; "" unpinned
	// setup prepares the path and returns how to undo it.
	setup func(ctx context.Context, r *rig) (undo func() error, err error)
}

// variants returns the measured variants: the four of the comparison and,
// with explore, the ones that locate the reordering.
func variants(explore bool) []variant {
	vs := []variant{
		{name: "vem", desc: "vem, bpf_redirect_peer (default)", addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) { return r.startAgent(ctx) }},
		{name: "vem-no-peer", desc: "vem --no-redirect-peer (bpf_redirect via tap2)", addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) {
				return r.startAgent(ctx, "--no-redirect-peer")
			}},
		{name: "bridge", desc: "Linux bridge br0 on tap1, tap2", addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) { return r.addBridge(ctx) }},
		{name: "direct", desc: "veth pair vm1 to vm2 (the machine's limit)", addr: vm2DirectAddr, port: iperfPort,
			setup: noSetup},
	}
	if !explore {
		return vs
	}
	return append(vs,
		variant{name: "direct-1cpu", desc: "direct, iperf3 client and server on CPU " + pinCPU,
			addr: vm2DirectAddr, port: iperfPinned, cpus: pinCPU, setup: noSetup},
		variant{name: "direct-rps", desc: "direct, RPS on vm2's d0 (one backlog per flow)",
			addr: vm2DirectAddr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) {
				return steps(ctx, r, rpsOn("vm2", "d0"))
			}},
		variant{name: "vem-gro", desc: "vem, GRO on tap1 (veth NAPI ring, not taken by TSO skbs)", addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) {
				return steps(ctx, r, groOn("host", "tap1"), agentStep)
			}},
		variant{name: "vem-rps", desc: "vem, RPS on tap1 (one backlog per flow)", addr: vm2Addr, port: iperfPort,
			setup: func(ctx context.Context, r *rig) (func() error, error) {
				return steps(ctx, r, rpsOn("host", "tap1"), agentStep)
			}},
	)
}

// selectVariants keeps the variants named in list (comma-separated);
// an empty list keeps all.
func selectVariants(all []variant, list string) ([]variant, error) {
	if list == "" {
		return all, nil
	}
	byName := map[string]variant{}
	var names []string
	for _, v := range all {
		byName[v.name] = v
		names = append(names, v.name)
	}
	var out []variant
	for _, n := range strings.Split(list, ",") {
		v, ok := byName[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("unknown variant %q (have %s; -explore adds the investigation ones)", n, strings.Join(names, ", "))
		}
		out = append(out, v)
	}
	return out, nil
}

func noSetup(context.Context, *rig) (func() error, error) { return func() error { return nil }, nil }

// step is one reversible change of the rig.
type step func(ctx context.Context, r *rig) (undo func() error, err error)

func agentStep(ctx context.Context, r *rig) (func() error, error) { return r.startAgent(ctx) }

// steps applies ss in order and returns their undo in reverse order; a
// failing step undoes the ones before it.
func steps(ctx context.Context, r *rig, ss ...step) (func() error, error) {
	var undos undoList
	for _, s := range ss {
		u, err := s(ctx, r)
		if err != nil {
			return nil, errors.Join(err, undos.undo())
		}
		undos.add(u)
	}
	return undos.undo, nil
}

// groOn turns GRO on for dev in the rig's namespace ns.
func groOn(ns, dev string) step {
	return func(ctx context.Context, r *rig) (func() error, error) {
		n := r.byName(ns)
		if err := setGRO(ctx, n, dev, true); err != nil {
			return nil, err
		}
		return func() error { return setGRO(context.Background(), n, dev, false) }, nil
	}
}

// rpsOn steers dev's receive in the rig's namespace ns to one CPU per
// flow, chosen by hash among all CPUs.
func rpsOn(ns, dev string) step {
	return func(ctx context.Context, r *rig) (func() error, error) {
		n := r.byName(ns)
		if err := setRPS(ctx, n, dev, allCPUs()); err != nil {
			return nil, err
		}
		return func() error { return setRPS(context.Background(), n, dev, "0") }, nil
	}
}

// allCPUs is the RPS mask of every CPU, in hex.
func allCPUs() string {
	n := min(runtime.NumCPU(), 32)
	return fmt.Sprintf("%x", uint64(1)<<n-1)
}
