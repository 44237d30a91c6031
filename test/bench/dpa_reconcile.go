package main

// -dpa, part 2: reconcile of a 10,000-port snapshot. The datapath holds
// bpf.Capacity().Ports ports (4,095: the port counter map's slots less
// the drop slot), and the engine validates against it, so a 10,000-port
// snapshot is refused before anything is written. The engine's decision
// (Engine.Check: validation, interface kinds and the plan, no writes) is
// timed for the largest accepted snapshot and for 10,000 ports, refused
// with the datapath's limits and with limits raised to 10,000 (where the
// plan's counter slots refuse it). The largest accepted snapshot is then
// applied by the real agent in namespaces, as -engine does.

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/vem-switch/vem/agent"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

// fakeTaps resolves every name to a tap, numbered from 1000.
type fakeTaps map[string]int

func (f fakeTaps) Lookup(name string) (agent.Link, error) {
	i, ok := f[name]
	if !ok {
		return agent.Link{}, fmt.Errorf("%s: no such interface", name)
	}
	return agent.Link{Index: 1000 + i, MTU: 1500, Kind: "tuntap",
		MAC: net.HardwareAddr{0xfe, 0x54, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}}, nil
}

// benchSnapshot is n ports on local segments of 64 ports behind a
// secure profile, as -engine's file has them.
func benchSnapshot(n int) (*spec.Switch, fakeTaps) {
	sw := &spec.Switch{Host: "bench", Instance: "bench", Socket: "/run/vem-bench.sock",
		Profiles: []spec.Profile{{Name: "default", PortSecurity: true}}}
	for seg := 0; seg*64 < n; seg++ {
		sw.Segments = append(sw.Segments, spec.Segment{Name: fmt.Sprintf("lab%d", seg), Type: spec.SegmentLocal})
	}
	taps := fakeTaps{}
	for i := range n {
		name := fmt.Sprintf("tap%d", i)
		taps[name] = i
		sw.Ports = append(sw.Ports, spec.Port{Interface: name, MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			Segment: fmt.Sprintf("lab%d", i/64), Profile: "default"})
	}
	sw.ApplyDefaults()
	return sw, taps
}

// timeCheck is the median of three Engine.Check of an n-port snapshot
// under lim, and its answer.
func timeCheck(n int, lim spec.Limits) (time.Duration, error) {
	sw, taps := benchSnapshot(n)
	e := agent.NewEngine(agent.EngineOptions{Links: taps, Limits: lim})
	var took []float64
	var err error
	for range 3 {
		start := time.Now()
		err = e.Check(agent.Desired{Switch: sw})
		took = append(took, ms(time.Since(start)))
	}
	return time.Duration(median(took) * float64(time.Millisecond)), err
}

func runReconcile(ctx context.Context, agentBin string) ([]dpaRow, []string, error) {
	c, err := bpf.Capacity()
	if err != nil {
		return nil, nil, err
	}
	lim := spec.Limits{Segments: c.Segments, PortsPerSegment: c.PortsPerSegment,
		VTEPsPerBridgeDomain: c.VTEPsPerBridgeDomain, Members: c.Members, Ports: c.Ports}
	largest := lim.Ports
	fmt.Printf("reconcile: the datapath holds %d ports (bpf.Capacity; spec.DefaultLimits.Ports %d, bpf.MaxPorts %d counter slots)\n",
		lim.Ports, spec.DefaultLimits.Ports, bpf.MaxPorts)
	var rows []dpaRow
	var notes []string
	planMax, err := timeCheck(largest, lim)
	if err != nil {
		return nil, nil, fmt.Errorf("plan of %d ports refused: %w", largest, err)
	}
	// How the plan grows: linear would be a tenth of the largest's at
	// a tenth of its size.
	for _, k := range []int{largest / 10, largest / 2} {
		took, err := timeCheck(k, lim)
		if err != nil {
			return nil, nil, fmt.Errorf("plan of %d ports refused: %w", k, err)
		}
		rows = append(rows, dpaRow{fmt.Sprintf("engine plan, %d ports (Check, no writes)", k), "", "", durText(took), "-"})
	}
	rows = append(rows, dpaRow{fmt.Sprintf("engine plan, %d ports (Check, no writes)", largest), "", "", durText(planMax), "-"})
	plan10k, err10k := timeCheck(10000, lim)
	if err10k == nil {
		return nil, nil, fmt.Errorf("10,000 ports accepted by a datapath of %d", lim.Ports)
	}
	raised := lim
	raised.Ports = 10000
	planRaised, errRaised := timeCheck(10000, raised)
	rows = append(rows, dpaRow{"engine plan, 10,000 ports: refused", "", "", durText(plan10k), "< 1 s reconciled"})
	notes = append(notes,
		fmt.Sprintf("10,000 ports refused in %v: %v", durText(plan10k), firstLine(err10k)),
		fmt.Sprintf("with spec limits raised to 10,000 ports the plan refuses it in %v: %v", durText(planRaised), firstLine(errRaised)))
	fmt.Printf("reconcile: plan of %d ports %v; 10,000 refused (%v): %v; limits raised: %v (%v)\n", largest, durText(planMax),
		durText(plan10k), firstLine(err10k), firstLine(errRaised), durText(planRaised))

	fmt.Printf("reconcile: the real agent applies %d ports in a namespace (-engine's rig)\n", largest)
	r, err := measureEngine(agentBin, largest)
	if err != nil {
		return nil, nil, fmt.Errorf("%d ports through the agent: %w", largest, err)
	}
	rows = append(rows,
		dpaRow{fmt.Sprintf("reconcile %d ports, none to all: Engine.Apply", largest), "", "", durText(r.applyAllEngine), "< 1 s (10,000)"},
		dpaRow{fmt.Sprintf("reconcile %d ports, none to all: SIGHUP to applied", largest), "", "", durText(r.applyAll), "-"},
		dpaRow{fmt.Sprintf("reconcile %d ports, one changed: Engine.Apply", largest), "", "", durText(r.applyOneEngine), "-"},
		dpaRow{fmt.Sprintf("agent start-up with %d ports (adopting the pins)", largest), "", "", durText(r.startUp), "-"},
	)
	notes = append(notes, fmt.Sprintf("reconcile: %d taps created in %v; agent RSS %.0f MB; drift repaired in %v", largest,
		durText(r.tapsCreate), float64(r.rssKB)/1024, durText(r.driftRepair)))
	return rows, notes, ctx.Err()
}

// firstLine is err's text up to its first newline.
func firstLine(err error) string {
	if err == nil {
		return "accepted"
	}
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
