package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// sample is one iperf3 run of one variant with the counters around it.
type sample struct {
	gbps    float64
	retrans int
	snd     nstatCounters // vm1, the sender
	rcv     nstatCounters // vm2, the receiver
	backlog softnet
}

// Counters that explain retransmits; see the comment at the top of main.go.
var (
	rcvCounters = []string{"TcpExtTCPOFOQueue"}
	sndCounters = []string{"TcpRetransSegs", "TcpExtTCPSACKReorder", "TcpExtTCPDSACKRecvSegs", "TcpExtTCPLostRetransmit"}
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianOf returns the median of f over samples.
func medianOf(samples []sample, f func(sample) float64) float64 {
	var xs []float64
	for _, s := range samples {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// printReport writes the throughput table and the reordering table.
func printReport(w io.Writer, vs []variant, results map[string][]sample) {
	gbps := func(s sample) float64 { return s.gbps }
	ref := func(name string) float64 { return medianOf(results[name], gbps) }
	ratio := func(x, base float64) string {
		if base == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", x/base)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\truns\tGbit/s\tretrans\tvs bridge\tvs direct\t")
	for _, v := range vs {
		ss := results[v.name]
		if len(ss) == 0 {
			continue
		}
		g := medianOf(ss, gbps)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%s\t%s\t\n", v.name, len(ss), g,
			medianOf(ss, func(s sample) float64 { return float64(s.retrans) }),
			ratio(g, ref("bridge")), ratio(g, ref("direct")))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nmedians per run: counters of the receiver (vm2) and the sender (vm1); share of the")
	fmt.Fprintln(w, "backlog (netif_rx) packets the busiest CPU processed, and backlog drops")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "variant\t")
	for _, c := range rcvCounters {
		fmt.Fprintf(tw, "rcv %s\t", short(c))
	}
	for _, c := range sndCounters {
		fmt.Fprintf(tw, "snd %s\t", short(c))
	}
	fmt.Fprintln(tw, "busiest CPU %\tbacklog drops\t")
	for _, v := range vs {
		ss := results[v.name]
		if len(ss) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t", v.name)
		for _, c := range rcvCounters {
			fmt.Fprintf(tw, "%.0f\t", medianOf(ss, func(s sample) float64 { return float64(s.rcv[c]) }))
		}
		for _, c := range sndCounters {
			fmt.Fprintf(tw, "%.0f\t", medianOf(ss, func(s sample) float64 { return float64(s.snd[c]) }))
		}
		fmt.Fprintf(tw, "%.0f\t%.0f\t\n",
			medianOf(ss, func(s sample) float64 { return s.backlog.busiest() }),
			medianOf(ss, func(s sample) float64 { return float64(s.backlog.totalDropped()) }))
	}
	tw.Flush()
}

// short drops nstat's group prefixes for the table header.
func short(c string) string {
	for _, p := range []string{"TcpExtTCP", "TcpExt", "Tcp"} {
		if rest, ok := strings.CutPrefix(c, p); ok {
			return rest
		}
	}
	return c
}

// line formats one run for the progress log.
func (s sample) line() string {
	return fmt.Sprintf("%6.1f Gbit/s  retrans %6d  OFO-queued %7d  SACK-reorder %5d  backlog %s drops %d",
		s.gbps, s.retrans, s.rcv["TcpExtTCPOFOQueue"], s.snd["TcpExtTCPSACKReorder"],
		s.backlog.split(), s.backlog.totalDropped())
}
