package metrics

import (
	"context"

	"github.com/vem-switch/vem/agent/api"
)

// Source is what a Collector reads at scrape time: the local API's views,
// which the agent answers from published snapshots and the pinned maps
// without taking the engine's lock. The agent's *Agent is one.
type Source interface {
	// Ports lists every port: vEths (absent and orphaned ones too) and
	// uplink members.
	Ports(ctx context.Context) ([]api.Port, error)
	// Counters lists every port's counters ("" is all ports).
	Counters(ctx context.Context, port string) ([]api.Counters, error)
	// MACTable lists the MAC table ("" is all segments).
	MACTable(ctx context.Context, segment string) ([]api.MACEntry, error)
	VTEPs(ctx context.Context) (api.VTEPs, error)
	PortChannels(ctx context.Context) ([]api.PortChannel, error)
	LACPCounters(ctx context.Context) ([]api.LACPCounters, error)
	DPA(ctx context.Context) (api.DPA, error)
}

// The sources' names in vem_metrics_source_up.
const (
	sourcePorts        = "ports"
	sourceCounters     = "counters"
	sourceMACTable     = "mac-table"
	sourceVTEPs        = "vteps"
	sourcePortChannels = "port-channels"
	sourceLACP         = "lacp"
	sourceDPA          = "dpa"
)

// sources lists them in the order a scrape reads them.
var sources = []string{sourcePorts, sourceCounters, sourceMACTable, sourceVTEPs, sourcePortChannels, sourceLACP, sourceDPA}
