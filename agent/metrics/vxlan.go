package metrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	remoteVTEPsDesc = prometheus.NewDesc("vem_vxlan_remote_vteps",
		"Remote VXLAN tunnel endpoints the bridge domains replicate to.", nil, nil)
	vtepResolvedDesc = prometheus.NewDesc("vem_vxlan_vtep_next_hop_resolved",
		"Whether the underlay has a route and next hop to a remote VTEP (1) or not (0).", []string{"vtep"}, nil)
	vtepMACsDesc = prometheus.NewDesc("vem_vxlan_vtep_mac_entries",
		"MACs learned behind a remote VTEP.", []string{"vtep"}, nil)
)

// collectVTEPs exports the remote VTEPs: how many, whether each is
// reachable and how many MACs sit behind it.
func (c *Collector) collectVTEPs(ctx context.Context, ch chan<- prometheus.Metric) error {
	v, err := c.src.VTEPs(ctx)
	if err != nil {
		return fmt.Errorf("read VTEPs: %w", err)
	}
	ch <- gauge(remoteVTEPsDesc, float64(len(v.Remote)))
	for _, r := range v.Remote {
		ch <- gauge(vtepResolvedDesc, bool01(r.NextHop != ""), r.Address)
		ch <- gauge(vtepMACsDesc, float64(r.MACs), r.Address)
	}
	return nil
}
