package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	channelUpDesc = prometheus.NewDesc("vem_port_channel_up",
		"Whether a port-channel is up (at least its minLinks members forward).", []string{"port_channel"}, nil)
	memberActiveDesc = prometheus.NewDesc("vem_port_channel_member_active",
		"Whether frames leave on a port-channel member (mac-pinning: vEths are pinned to it).",
		[]string{"port_channel", "interface"}, nil)
	memberStateDesc = prometheus.NewDesc("vem_port_channel_member_state",
		"A port-channel member's state, 1 for the current one: bundled, standby, individual, down or waiting "+
			"(LACP modes), operational or link-down (static, mac-pinning).",
		[]string{"port_channel", "interface", "state"}, nil)
	lacpRxDesc = prometheus.NewDesc("vem_lacp_pdus_received_total",
		"LACPDUs received on a port-channel member.", []string{"port_channel", "interface"}, nil)
	lacpTxDesc = prometheus.NewDesc("vem_lacp_pdus_sent_total",
		"LACPDUs sent on a port-channel member.", []string{"port_channel", "interface"}, nil)
	lacpMalformedDesc = prometheus.NewDesc("vem_lacp_malformed_pdus_received_total",
		"Malformed LACPDUs received on a port-channel member.", []string{"port_channel", "interface"}, nil)
)

// Member states by mode, as label values.
var (
	lacpStates  = []string{"bundled", "standby", "individual", "down", "waiting"}
	plainStates = []string{"operational", "link-down"}
)

// stateLabel turns a member status ("Link Down") into a label value.
func stateLabel(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "-")
}

// collectPortChannels exports the uplink port-channel and its members.
func (c *Collector) collectPortChannels(ctx context.Context, ch chan<- prometheus.Metric) error {
	pcs, err := c.src.PortChannels(ctx)
	if err != nil {
		return fmt.Errorf("read port-channels: %w", err)
	}
	for _, pc := range pcs {
		ch <- gauge(channelUpDesc, bool01(pc.Up), pc.Name)
		states := plainStates
		if strings.HasPrefix(pc.Mode, "lacp") {
			states = lacpStates
		}
		for _, m := range pc.Members {
			ch <- gauge(memberActiveDesc, bool01(m.Active), pc.Name, m.Interface)
			cur, known := stateLabel(m.Status), states
			if !slices.Contains(known, cur) {
				known = append(slices.Clip(known), cur)
			}
			stateSet(ch, memberStateDesc, known, cur, pc.Name, m.Interface)
		}
	}
	return nil
}

// collectLACP exports the members' LACPDU counters.
func (c *Collector) collectLACP(ctx context.Context, ch chan<- prometheus.Metric) error {
	counters, err := c.src.LACPCounters(ctx)
	if err != nil {
		return fmt.Errorf("read LACP counters: %w", err)
	}
	for _, m := range counters {
		ch <- counter(lacpRxDesc, float64(m.PDUsRx), m.PortChannel, m.Interface)
		ch <- counter(lacpTxDesc, float64(m.PDUsTx), m.PortChannel, m.Interface)
		ch <- counter(lacpMalformedDesc, float64(m.MalformedRx), m.PortChannel, m.Interface)
	}
	return nil
}
