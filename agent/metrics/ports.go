package metrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	portInfoDesc = prometheus.NewDesc("vem_port_info",
		"A port the datapath switches, 1: its name (the port label of the other vem_port_ metrics), interface, "+
			"kind (veth or uplink), segment and profile.",
		[]string{"port", "interface", "kind", "segment", "profile"}, nil)
	portsDesc = prometheus.NewDesc("vem_ports",
		"Ports by state: up, down (admin down), absent (a vEth whose interface is gone: its VM stopped), "+
			"orphaned (a vEth whose segment or profile left the configuration).",
		[]string{"state"}, nil)
)

// portStates are the values of vem_ports' state label.
var portStates = []string{"up", "down", "absent", "orphaned"}

// collectPortInfo exports which interface each port name stands for, to
// join the counters with (group_left), and how many ports are in each
// state.
func (c *Collector) collectPortInfo(ctx context.Context, ch chan<- prometheus.Metric) error {
	ports, err := c.src.Ports(ctx)
	if err != nil {
		return fmt.Errorf("read ports: %w", err)
	}
	count := map[string]int{}
	for _, p := range ports {
		count[p.State]++
		if p.State == "absent" || p.State == "orphaned" {
			continue // no datapath port, no name: counted only
		}
		ch <- gauge(portInfoDesc, 1, p.Name, p.Interface, p.Kind, p.Segment, p.Profile)
	}
	for _, st := range portStates {
		ch <- gauge(portsDesc, float64(count[st]), st)
	}
	return nil
}

// Per-port counters: the datapath's per-CPU counters summed by the reader.
// Receive is what the switch took in on a port (a VM's frames on its vEth,
// the wire's on an uplink member), transmit what it sent out of it.
var (
	rxPacketsDesc = prometheus.NewDesc("vem_port_receive_packets_total",
		"Frames the switch received on a port.", []string{"port"}, nil)
	rxBytesDesc = prometheus.NewDesc("vem_port_receive_bytes_total",
		"Bytes the switch received on a port.", []string{"port"}, nil)
	txPacketsDesc = prometheus.NewDesc("vem_port_transmit_packets_total",
		"Frames the switch sent out of a port.", []string{"port"}, nil)
	txBytesDesc = prometheus.NewDesc("vem_port_transmit_bytes_total",
		"Bytes the switch sent out of a port.", []string{"port"}, nil)
	dropsDesc = prometheus.NewDesc("vem_port_drops_total",
		"Frames the datapath dropped on a port, by reason (a reason appears once it has counted a frame; "+
			"port \"unattributed\" is interfaces vem no longer knows).",
		[]string{"port", "reason"}, nil)
)

// collectPorts exports every port's packets, bytes and drops. Drop
// reasons that never counted are left out: 27 series a port would be
// 100,000 series of zeros at 4,000 ports.
func (c *Collector) collectPorts(ctx context.Context, ch chan<- prometheus.Metric) error {
	counters, err := c.src.Counters(ctx, "")
	if err != nil {
		return fmt.Errorf("read port counters: %w", err)
	}
	for _, p := range counters {
		if p.Port != "unattributed" {
			ch <- counter(rxPacketsDesc, float64(p.RxPackets), p.Port)
			ch <- counter(rxBytesDesc, float64(p.RxBytes), p.Port)
			ch <- counter(txPacketsDesc, float64(p.TxPackets), p.Port)
			ch <- counter(txBytesDesc, float64(p.TxBytes), p.Port)
		}
		for reason, n := range p.Drops {
			ch <- counter(dropsDesc, float64(n), p.Port, reason)
		}
	}
	return nil
}
