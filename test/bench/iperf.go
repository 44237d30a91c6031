package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// iperfResult is the part of iperf3's JSON report the benchmark reads.
type iperfResult struct {
	End struct {
		SumSent struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			Retransmits   int     `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// parseIperf decodes iperf3 -J output; a report that carries an error
// (server unreachable, interrupted) is an error.
func parseIperf(out []byte) (iperfResult, error) {
	var r iperfResult
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("iperf3 JSON: %w", err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("iperf3: %s", r.Error)
	}
	if r.End.SumReceived.BitsPerSecond == 0 {
		return r, errors.New("iperf3: report without a received rate")
	}
	return r, nil
}

// startIperfServer starts "iperf3 -s" on port in ns, under taskset when
// cpus is not empty, and waits until it listens.
func startIperfServer(ctx context.Context, ns *topo.NS, port int, cpus string) (*topo.Proc, error) {
	args := pinned(cpus, "iperf3", "-s", "--forceflush", "-p", strconv.Itoa(port))
	p, err := ns.StartNetOnly(args...)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if strings.Contains(p.Output(), "Server listening") {
			return p, nil
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("iperf3 server on port %d exited: %v: %s", port, p.Wait(), p.Output())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("iperf3 server on port %d not listening after 5s: %s", port, p.Output())
}

// runIperfClient runs one TCP test from ns to addr:port.
func runIperfClient(ctx context.Context, ns *topo.NS, addr string, port int, d time.Duration, cpus string) (iperfResult, error) {
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	args := pinned(cpus, "iperf3", "-c", addr, "-p", strconv.Itoa(port), "-t", secs, "-J")
	// iperf3 -J reports its errors in the JSON too: parse whatever came.
	out, runErr := ns.RunNetOnly(ctx, args...)
	i := strings.Index(out, "{")
	if i < 0 {
		return iperfResult{}, fmt.Errorf("iperf3 printed no report: %w", runErr)
	}
	r, err := parseIperf([]byte(out[i:]))
	if err != nil {
		return r, errors.Join(err, runErr)
	}
	return r, nil
}

// pinned prefixes args with taskset when cpus names CPUs.
func pinned(cpus string, args ...string) []string {
	if cpus == "" {
		return args
	}
	return append([]string{"taskset", "-c", cpus}, args...)
}
