package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	dpaModeDesc = prometheus.NewDesc("vem_dpa_vsm_mode",
		"Whether the agent follows a VSM (1) or runs standalone on its file (0).", nil, nil)
	dpaStateDesc = prometheus.NewDesc("vem_dpa_state",
		"The Data Path Agent's state, 1 for the current one: connecting, attached or headless.", []string{"state"}, nil)
	dpaEpochDesc = prometheus.NewDesc("vem_dpa_epoch",
		"Epoch of the VSM the agent is attached to (raised by each switch request).", nil, nil)
	dpaGenerationDesc = prometheus.NewDesc("vem_dpa_generation",
		"Configuration generation last applied from the VSM.", nil, nil)
	dpaModuleDesc = prometheus.NewDesc("vem_dpa_module",
		"Module number the VSM gave this host (3 and up; 0 before the first attach).", nil, nil)
	dpaQueuedDesc = prometheus.NewDesc("vem_dpa_queued_port_events",
		"Port attaches and detaches waiting for an attach to be replayed to the VSM.", nil, nil)
	vsmStateDesc = prometheus.NewDesc("vem_dpa_vsm_state",
		"A configured VSM as the DPA sees it, 1 for the current state: active, standby, connected or unreachable.",
		[]string{"vsm", "state"}, nil)
	vsmHeartbeatAgeDesc = prometheus.NewDesc("vem_dpa_vsm_heartbeat_age_seconds",
		"Time since a VSM's last heartbeat (absent while none was heard).", []string{"vsm"}, nil)
	headlessDesc = prometheus.NewDesc("vem_dpa_headless_seconds",
		"Time since the agent went headless, 0 while it is not.", nil, nil)
	headlessTotalDesc = prometheus.NewDesc("vem_dpa_headless_seconds_total",
		"Time the agent spent headless since it started, the current spell included.", nil, nil)
)

// dpaEventDescs are the DPA's event counters.
var dpaEventDescs = struct {
	headlessEntries, missed, ignored, switchRequests, configs, applyErrors, checkpointErrors, restarts *prometheus.Desc
}{
	headlessEntries: prometheus.NewDesc("vem_dpa_headless_entries_total",
		"Times the agent went headless (its VSM silent for vsm.headlessAfter).", nil, nil),
	missed: prometheus.NewDesc("vem_dpa_heartbeats_missed_total",
		"Heartbeats of the attached VSM that did not come in time.", nil, nil),
	ignored: prometheus.NewDesc("vem_dpa_heartbeats_ignored_total",
		"Heartbeats from an active VSM the agent is not attached to (ignored until a switch request or headless).", nil, nil),
	switchRequests: prometheus.NewDesc("vem_dpa_switch_requests_total",
		"Switch requests from VSMs, by result: accepted or ignored.", []string{"result"}, nil),
	configs: prometheus.NewDesc("vem_dpa_configs_total",
		"Configurations from the VSM, by result: applied or refused.", []string{"result"}, nil),
	applyErrors: prometheus.NewDesc("vem_dpa_apply_errors_total",
		"Configurations from the VSM the engine failed to apply.", nil, nil),
	checkpointErrors: prometheus.NewDesc("vem_dpa_checkpoint_errors_total",
		"Failed writes of the headless checkpoint.", nil, nil),
	restarts: prometheus.NewDesc("vem_dpa_restarts_total",
		"Restarts of the DPA's control loop.", nil, nil),
}

// dpaStates and vsmStates are the state sets' values.
var (
	dpaStates = []string{"connecting", "attached", "headless"}
	vsmStates = []string{"active", "standby", "connected", "unreachable"}
)

// collectDPA exports the DPA's session state, its VSMs' heartbeat ages,
// headless time and its event counters. A standalone agent reports mode 0,
// state attached and no VSMs.
func (c *Collector) collectDPA(ctx context.Context, ch chan<- prometheus.Metric) error {
	d, err := c.src.DPA(ctx)
	if err != nil {
		return fmt.Errorf("read DPA status: %w", err)
	}
	ch <- gauge(dpaModeDesc, bool01(d.Mode == "vsm"))
	stateSet(ch, dpaStateDesc, dpaStates, d.State)
	ch <- gauge(dpaEpochDesc, float64(d.Epoch))
	ch <- gauge(dpaGenerationDesc, float64(d.Generation))
	ch <- gauge(dpaModuleDesc, float64(d.Module))
	ch <- gauge(dpaQueuedDesc, float64(d.QueuedPortEvents))
	for _, v := range d.VSMs {
		stateSet(ch, vsmStateDesc, vsmStates, v.State, v.Address)
		if v.LastHeartbeatAgeMs >= 0 {
			ch <- gauge(vsmHeartbeatAgeDesc, ms(v.LastHeartbeatAgeMs), v.Address)
		}
	}
	headless := 0.0
	if d.HeadlessSince != nil {
		headless = max(c.now().Sub(*d.HeadlessSince), 0).Seconds()
	}
	ch <- gauge(headlessDesc, headless)
	n := d.Counters
	ch <- counter(headlessTotalDesc, ms(n.HeadlessMs))
	e := dpaEventDescs
	ch <- counter(e.headlessEntries, float64(n.HeadlessEntries))
	ch <- counter(e.missed, float64(n.HeartbeatsMissed))
	ch <- counter(e.ignored, float64(n.HeartbeatsIgnored))
	ch <- counter(e.switchRequests, float64(n.SwitchRequestsAccepted), "accepted")
	ch <- counter(e.switchRequests, float64(n.SwitchRequestsIgnored), "ignored")
	ch <- counter(e.configs, float64(n.ConfigsApplied), "applied")
	ch <- counter(e.configs, float64(n.ConfigsRefused), "refused")
	ch <- counter(e.applyErrors, float64(n.ApplyErrors))
	ch <- counter(e.checkpointErrors, float64(n.CheckpointErrors))
	ch <- counter(e.restarts, float64(n.Restarts))
	return nil
}

// ms is milliseconds in seconds.
func ms(v int64) float64 {
	return (time.Duration(v) * time.Millisecond).Seconds()
}
