package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
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

// collect returns f of every one of ss.
func collect[S any](ss []S, f func(S) float64) []float64 {
	var xs []float64
	for _, s := range ss {
		xs = append(xs, f(s))
	}
	return xs
}

// medianOf returns the median of f over samples.
func medianOf(samples []sample, f func(sample) float64) float64 {
	return median(collect(samples, f))
}

func gbpsOf(s sample) float64    { return s.gbps }
func retransOf(s sample) float64 { return float64(s.retrans) }

// ratio formats x over the median throughput of base, "-" when that is 0
// (no samples).
func ratio(x float64, base []sample) string {
	b := medianOf(base, gbpsOf)
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x/b)
}

// newTable returns the right-aligned tabwriter every table is written with.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// printReport writes the throughput table and the reordering table.
func printReport(w io.Writer, vs []variant, results map[string][]sample) {
	printThroughput(w, vs, results, false, "bridge", "direct")
	printCounters(w, vs, results)
}

// printThroughput writes the throughput table: per variant the runs, the
// median Gbit/s (with minMax its minimum and maximum too), the median
// retransmits, and the median Gbit/s over that of each of the variants
// refs.
func printThroughput(w io.Writer, vs []variant, results map[string][]sample, minMax bool, refs ...string) {
	tw := newTable(w)
	fmt.Fprint(tw, "variant\truns\tGbit/s\t")
	if minMax {
		fmt.Fprint(tw, "min\tmax\t")
	}
	fmt.Fprint(tw, "retrans\t")
	for _, ref := range refs {
		fmt.Fprintf(tw, "vs %s\t", ref)
	}
	fmt.Fprintln(tw)
	for _, v := range vs {
		ss := results[v.name]
		if len(ss) == 0 {
			continue
		}
		g := medianOf(ss, gbpsOf)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t", v.name, len(ss), g)
		if minMax {
			xs := collect(ss, gbpsOf)
			fmt.Fprintf(tw, "%.1f\t%.1f\t", slices.Min(xs), slices.Max(xs))
		}
		fmt.Fprintf(tw, "%.0f\t", medianOf(ss, retransOf))
		for _, ref := range refs {
			fmt.Fprintf(tw, "%s\t", ratio(g, results[ref]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// printCounters writes the reordering table: per variant, the medians of
// the counters that explain retransmits and of the backlog's spread.
func printCounters(w io.Writer, vs []variant, results map[string][]sample) {
	fmt.Fprintln(w, "\nmedians per run: counters of the receiver (vm2) and the sender (vm1); share of the")
	fmt.Fprintln(w, "backlog (netif_rx) packets the busiest CPU processed, and backlog drops")
	tw := newTable(w)
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

// printMoved prints the TCP counters of c that are not zero.
func printMoved(who string, c nstatCounters) {
	var names []string
	for k, v := range c {
		if v != 0 && (strings.HasPrefix(k, "Tcp") || strings.HasPrefix(k, "IpExt")) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	fmt.Printf("%s: %s\n", who, strings.Join(parts, " "))
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
