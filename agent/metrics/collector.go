package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// DefaultTimeout bounds one scrape's reads of the sources.
const DefaultTimeout = 10 * time.Second

// Collector is a prometheus.Collector over a Source: every scrape reads
// the source afresh, so it holds no state of its own and adds nothing to
// the paths it reads.
type Collector struct {
	src     Source
	log     *zap.Logger
	timeout time.Duration
	now     func() time.Time
}

// NewCollector returns a collector over src; a nil log discards.
func NewCollector(src Source, log *zap.Logger) *Collector {
	if log == nil {
		log = zap.NewNop()
	}
	return &Collector{src: src, log: log, timeout: DefaultTimeout, now: time.Now}
}

// WithClock makes the collector tell time by now (for the headless
// spell's length), for tests; it returns c.
func (c *Collector) WithClock(now func() time.Time) *Collector {
	c.now = now
	return c
}

var sourceUpDesc = prometheus.NewDesc("vem_metrics_source_up",
	"Whether the agent could read a source of metrics during this scrape (1) or not (0; its metrics are missing).",
	[]string{"source"}, nil)

var sourceDurationDesc = prometheus.NewDesc("vem_metrics_source_duration_seconds",
	"How long this scrape took to read a source of metrics.", []string{"source"}, nil)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sourceUpDesc
	ch <- sourceDurationDesc
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads each source in turn;
// one that fails is logged and reported by vem_metrics_source_up, and the
// others are still exported.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	read := map[string]func(context.Context, chan<- prometheus.Metric) error{
		sourcePorts:        c.collectPortInfo,
		sourceCounters:     c.collectPorts,
		sourceMACTable:     c.collectMACs,
		sourceVTEPs:        c.collectVTEPs,
		sourcePortChannels: c.collectPortChannels,
		sourceLACP:         c.collectLACP,
		sourceDPA:          c.collectDPA,
	}
	for _, name := range sources {
		up, start := 1.0, time.Now()
		if err := read[name](ctx, ch); err != nil {
			up = 0
			c.log.Warn("metrics: read source", zap.String("source", name), zap.Error(err))
		}
		ch <- gauge(sourceDurationDesc, time.Since(start).Seconds(), name)
		ch <- gauge(sourceUpDesc, up, name)
	}
}

// allDescs are the descriptions of every family the sources export.
var allDescs = []*prometheus.Desc{
	portInfoDesc, portsDesc,
	rxPacketsDesc, rxBytesDesc, txPacketsDesc, txBytesDesc, dropsDesc,
	macEntriesDesc,
	remoteVTEPsDesc, vtepResolvedDesc, vtepMACsDesc,
	channelUpDesc, memberActiveDesc, memberStateDesc,
	lacpRxDesc, lacpTxDesc, lacpMalformedDesc,
	dpaModeDesc, dpaStateDesc, dpaEpochDesc, dpaGenerationDesc, dpaModuleDesc, dpaQueuedDesc,
	vsmStateDesc, vsmHeartbeatAgeDesc, headlessDesc, headlessTotalDesc,
	dpaEventDescs.headlessEntries, dpaEventDescs.missed, dpaEventDescs.ignored, dpaEventDescs.switchRequests,
	dpaEventDescs.configs, dpaEventDescs.applyErrors, dpaEventDescs.checkpointErrors, dpaEventDescs.restarts,
}

// gauge and counter shorten the constant metrics a collect emits.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// bool01 is a gauge's value for a condition.
func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateSet emits one series per state, 1 for the current one: the
// Prometheus way to export an enumeration, so a query can select a state
// and a change of state shows in both series.
func stateSet(ch chan<- prometheus.Metric, d *prometheus.Desc, states []string, cur string, labels ...string) {
	for _, s := range states {
		ch <- gauge(d, bool01(s == cur), append(labels[:len(labels):len(labels)], s)...)
	}
}
