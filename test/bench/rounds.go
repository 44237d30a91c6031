package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// runRounds lists the variants vs, then runs each once per round, round
// after round, printing every run (with verbose, the TCP counters that
// moved too), and returns the samples by variant name.
func runRounds(ctx context.Context, r *rig, vs []variant, rounds int, d time.Duration, verbose bool) (map[string][]sample, error) {
	for _, v := range vs {
		fmt.Printf("  %-12s %s\n", v.name, v.desc)
	}
	results := map[string][]sample{}
	for round := 1; round <= rounds; round++ {
		for _, v := range vs {
			s, err := measure(ctx, r, v, d)
			if ctx.Err() != nil {
				return nil, errors.New("interrupted; cleaned up")
			}
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, v.name, err)
			}
			results[v.name] = append(results[v.name], s)
			fmt.Printf("round %d %-12s %s\n", round, v.name, s.line())
			if verbose {
				printMoved("  vm1", s.snd)
				printMoved("  vm2", s.rcv)
			}
		}
	}
	return results, nil
}

// measure sets a variant up, runs iperf3 once through it with counters
// read around the run, and tears the variant down.
func measure(ctx context.Context, r *rig, v variant, d time.Duration) (s sample, err error) {
	undo, err := v.setup(ctx, r)
	if err != nil {
		return s, fmt.Errorf("set up: %w", err)
	}
	defer func() {
		if uerr := undo(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", uerr))
		}
	}()

	snd0, rcv0, net0, err := snapshot(ctx, r)
	if err != nil {
		return s, err
	}
	res, err := runIperfClient(ctx, r.vm1, v.addr, v.port, d, v.cpus)
	if err != nil {
		return s, err
	}
	snd1, rcv1, net1, err := snapshot(ctx, r)
	if err != nil {
		return s, err
	}
	return sample{
		gbps:    res.End.SumReceived.BitsPerSecond / 1e9,
		retrans: res.End.SumSent.Retransmits,
		snd:     snd1.sub(snd0),
		rcv:     rcv1.sub(rcv0),
		backlog: net1.sub(net0),
	}, nil
}

func snapshot(ctx context.Context, r *rig) (snd, rcv nstatCounters, backlog softnet, err error) {
	if snd, err = readNstat(ctx, r.vm1); err != nil {
		return
	}
	if rcv, err = readNstat(ctx, r.vm2); err != nil {
		return
	}
	backlog, err = readSoftnet()
	return
}
