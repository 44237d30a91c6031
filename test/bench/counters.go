package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/test/topo"
)

// nstatCounters are a namespace's SNMP and netstat counters by nstat name
// (TcpRetransSegs, TcpExtTCPOFOQueue, ...).
type nstatCounters map[string]uint64

// readNstat reads the absolute counters of ns without touching nstat's
// history file, which is per user and would mix namespaces.
func readNstat(ctx context.Context, ns *topo.NS) (nstatCounters, error) {
	out, err := ns.RunNetOnly(ctx, "nstat", "--ignore", "--noupdate", "--zeros", "--json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Kernel nstatCounters `json:"kernel"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("nstat in %s: %w", ns, err)
	}
	return doc.Kernel, nil
}

// sub returns the growth of every counter from before to c.
func (c nstatCounters) sub(before nstatCounters) nstatCounters {
	d := nstatCounters{}
	for k, v := range c {
		if v >= before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// softnet is /proc/net/softnet_stat: per CPU, the packets its backlog
// (netif_rx, the path a veth without GRO delivers through) processed and
// dropped. The file is global, not per namespace.
type softnet struct {
	processed, dropped []uint64
}

func readSoftnet() (softnet, error) {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return softnet{}, fmt.Errorf("read softnet_stat: %w", err)
	}
	var s softnet
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p, err1 := strconv.ParseUint(f[0], 16, 64)
		d, err2 := strconv.ParseUint(f[1], 16, 64)
		if err1 != nil || err2 != nil {
			return softnet{}, fmt.Errorf("softnet_stat line %q: unparsable", line)
		}
		s.processed = append(s.processed, p)
		s.dropped = append(s.dropped, d)
	}
	return s, nil
}

func (s softnet) sub(before softnet) softnet {
	var d softnet
	for i := range s.processed {
		if i < len(before.processed) {
			d.processed = append(d.processed, s.processed[i]-before.processed[i])
			d.dropped = append(d.dropped, s.dropped[i]-before.dropped[i])
		}
	}
	return d
}

func (s softnet) totalDropped() uint64 {
	var n uint64
	for _, d := range s.dropped {
		n += d
	}
	return n
}

// busiest returns the share, 0 to 100, of the processed packets that the
// busiest CPU processed: 100 when one CPU's backlog carried everything.
func (s softnet) busiest() float64 {
	var total, most uint64
	for _, p := range s.processed {
		total += p
		most = max(most, p)
	}
	if total == 0 {
		return 0
	}
	return float64(most) * 100 / float64(total)
}

// split formats the processed counts per CPU as percentages, "61/39".
func (s softnet) split() string {
	var total uint64
	for _, p := range s.processed {
		total += p
	}
	if total == 0 {
		return "-"
	}
	parts := make([]string, len(s.processed))
	for i, p := range s.processed {
		parts[i] = strconv.FormatUint((p*100+total/2)/total, 10)
	}
	return strings.Join(parts, "/")
}
