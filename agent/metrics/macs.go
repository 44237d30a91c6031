package metrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var macEntriesDesc = prometheus.NewDesc("vem_mac_table_entries",
	"MAC table entries by segment and type: static (a port-secured vEth's own MAC), "+
		"learned (on a local port or the uplink) and remote (behind a VXLAN VTEP or from the VSM).",
	[]string{"segment", "type"}, nil)

// macTypes are the values of vem_mac_table_entries' type label.
var macTypes = []string{"static", "learned", "remote"}

// collectMACs exports the MAC table's size per segment and type, aged
// entries (which the datapath ignores) left out as vemctl leaves them out.
func (c *Collector) collectMACs(ctx context.Context, ch chan<- prometheus.Metric) error {
	entries, err := c.src.MACTable(ctx, "")
	if err != nil {
		return fmt.Errorf("read MAC table: %w", err)
	}
	type key struct{ segment, typ string }
	count := map[key]int{}
	segments := map[string]bool{}
	for _, e := range entries {
		typ := "learned"
		switch {
		case e.Static:
			typ = "static"
		case e.Remote:
			typ = "remote"
		}
		count[key{e.Segment, typ}]++
		segments[e.Segment] = true
	}
	for seg := range segments {
		for _, typ := range macTypes {
			ch <- gauge(macEntriesDesc, float64(count[key{seg, typ}]), seg, typ)
		}
	}
	return nil
}
