package topo

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// PingResult is the summary of a ping run.
type PingResult struct {
	Sent     int // echo requests transmitted
	Received int // echo replies received
}

// Loss returns the fraction of requests that got no reply, 0 to 1.
func (r PingResult) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Sent-r.Received) / float64(r.Sent)
}

// pingSummary matches the statistics line of iputils ping
// ("3 packets transmitted, 2 received, ...") and of busybox ping
// ("3 packets transmitted, 2 packets received, ...").
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// Ping sends count echo requests to dst (IPv4 or IPv6) from the namespace,
// interval apart, waiting up to a second for the last reply. Packet loss is
// reported in the result, not as an error; the error is for a ping that could
// not run or printed no summary (e.g. "Network is unreachable").
func (n *NS) Ping(ctx context.Context, dst string, count int, interval time.Duration) (PingResult, error) {
	if count < 1 {
		return PingResult{}, fmt.Errorf("topo: ping %s: count %d < 1", dst, count)
	}
	if _, err := exec.LookPath("ping"); err != nil {
		return PingResult{}, fmt.Errorf("topo: ping (install iputils-ping): %w", err)
	}
	out, err := n.RunNetOnly(ctx, "ping", "-n", "-q",
		"-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64),
		"-W", "1",
		dst)
	res, perr := parsePing(out)
	if perr != nil {
		return PingResult{}, fmt.Errorf("topo: netns %s: ping %s: %w", n.name, dst, errors.Join(perr, err))
	}
	// ping exits 1 when replies are missing; that is in the result.
	return res, nil
}

// parsePing extracts the transmitted and received counts from ping output.
func parsePing(out string) (PingResult, error) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return PingResult{}, fmt.Errorf("no summary in ping output %q", out)
	}
	sent, err := strconv.Atoi(m[1])
	if err != nil {
		return PingResult{}, fmt.Errorf("transmitted count %q: %w", m[1], err)
	}
	recv, err := strconv.Atoi(m[2])
	if err != nil {
		return PingResult{}, fmt.Errorf("received count %q: %w", m[2], err)
	}
	return PingResult{Sent: sent, Received: recv}, nil
}
