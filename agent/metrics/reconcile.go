package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The engine's operations, the values of the operation label.
const (
	// OpApply makes a new desired state the datapath's.
	OpApply = "apply"
	// OpRetry applies the last accepted state again after a failure.
	OpRetry = "retry"
	// OpResync compares the datapath with the applied state and repairs
	// drift.
	OpResync = "resync"
)

// engineStates are the values of vem_engine_state's state label.
var engineStates = []string{"current", "retrying", "rolled-back"}

// Reconcile is one engine operation as the engine reports it.
type Reconcile struct {
	Operation string // OpApply, OpRetry or OpResync
	Took      time.Duration
	Err       error
	// State is the engine's state afterwards: current, retrying or
	// rolled-back.
	State string
	// DriftRepairs is the engine's running count of entries it rewrote
	// because the datapath had changed behind its back.
	DriftRepairs uint64
}

var (
	engineStateDesc = prometheus.NewDesc("vem_engine_state",
		"The engine's state, 1 for the current one: current (the datapath is the desired state), "+
			"retrying or rolled-back.", []string{"state"}, nil)
	driftDesc = prometheus.NewDesc("vem_engine_drift_repairs_total",
		"Datapath entries the engine rewrote because they had changed behind its back.", nil, nil)
)

// Reconciles records the engine's operations as they run: their
// durations and errors, which no later read could recover, and the state
// they leave. Observe is cheap (atomic updates) and takes no lock a
// scrape holds, so the engine never waits for a scrape.
type Reconciles struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	state    atomic.Pointer[string]
	drift    atomic.Uint64
}

// NewReconciles returns a recorder; every operation's series exist from
// the start, at zero.
func NewReconciles() *Reconciles {
	r := &Reconciles{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vem_reconcile_duration_seconds",
			Help: "How long the engine's operations took: apply (a new desired state), retry (after a failure), " +
				"resync (drift repair).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vem_reconcile_errors_total",
			Help: "Engine operations that failed or whose desired state was refused.",
		}, []string{"operation"}),
	}
	for _, op := range []string{OpApply, OpRetry, OpResync} {
		r.duration.WithLabelValues(op)
		r.errors.WithLabelValues(op)
	}
	return r
}

// Observe records one operation.
func (r *Reconciles) Observe(ev Reconcile) {
	r.duration.WithLabelValues(ev.Operation).Observe(ev.Took.Seconds())
	if ev.Err != nil {
		r.errors.WithLabelValues(ev.Operation).Inc()
	}
	if ev.State != "" {
		st := ev.State
		r.state.Store(&st)
	}
	r.drift.Store(ev.DriftRepairs)
}

// Describe implements prometheus.Collector.
func (r *Reconciles) Describe(ch chan<- *prometheus.Desc) {
	r.duration.Describe(ch)
	r.errors.Describe(ch)
	ch <- engineStateDesc
	ch <- driftDesc
}

// Collect implements prometheus.Collector. The engine's state is exported
// once an operation has reported it.
func (r *Reconciles) Collect(ch chan<- prometheus.Metric) {
	r.duration.Collect(ch)
	r.errors.Collect(ch)
	if st := r.state.Load(); st != nil {
		stateSet(ch, engineStateDesc, engineStates, *st)
	}
	ch <- counter(driftDesc, float64(r.drift.Load()))
}
