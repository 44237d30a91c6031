package metrics

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReconciles(t *testing.T) {
	r := NewReconciles()
	// Before any operation: zero series per operation, no state yet.
	if n := testutil.CollectAndCount(r, "vem_engine_state"); n != 0 {
		t.Errorf("%d engine state series before any operation", n)
	}
	r.Observe(Reconcile{Operation: OpApply, Took: 20 * time.Millisecond, State: "current"})
	r.Observe(Reconcile{Operation: OpApply, Took: 3 * time.Second, Err: errors.New("refused"), State: "rolled-back"})
	r.Observe(Reconcile{Operation: OpResync, Took: 2 * time.Millisecond, State: "rolled-back", DriftRepairs: 4})
	want := `
# HELP vem_reconcile_errors_total Engine operations that failed or whose desired state was refused.
# TYPE vem_reconcile_errors_total counter
vem_reconcile_errors_total{operation="apply"} 1
vem_reconcile_errors_total{operation="resync"} 0
vem_reconcile_errors_total{operation="retry"} 0
# HELP vem_engine_state The engine's state, 1 for the current one: current (the datapath is the desired state), retrying or rolled-back.
# TYPE vem_engine_state gauge
vem_engine_state{state="current"} 0
vem_engine_state{state="retrying"} 0
vem_engine_state{state="rolled-back"} 1
# HELP vem_engine_drift_repairs_total Datapath entries the engine rewrote because they had changed behind its back.
# TYPE vem_engine_drift_repairs_total counter
vem_engine_drift_repairs_total 4
`
	if err := testutil.CollectAndCompare(r, strings.NewReader(want),
		"vem_reconcile_errors_total", "vem_engine_state", "vem_engine_drift_repairs_total"); err != nil {
		t.Error(err)
	}
	// The histogram: two applies, one in the 25 ms bucket, one above 2.5 s.
	wantHist := `
# HELP vem_reconcile_duration_seconds How long the engine's operations took: apply (a new desired state), retry (after a failure), resync (drift repair).
# TYPE vem_reconcile_duration_seconds histogram
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.001"} 0
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.0025"} 0
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.005"} 0
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.01"} 0
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.025"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.05"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.1"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.25"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="0.5"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="1"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="2.5"} 1
vem_reconcile_duration_seconds_bucket{operation="apply",le="5"} 2
vem_reconcile_duration_seconds_bucket{operation="apply",le="10"} 2
vem_reconcile_duration_seconds_bucket{operation="apply",le="30"} 2
vem_reconcile_duration_seconds_bucket{operation="apply",le="+Inf"} 2
vem_reconcile_duration_seconds_sum{operation="apply"} 3.02
vem_reconcile_duration_seconds_count{operation="apply"} 2
`
	got := testutil.CollectAndCount(r, "vem_reconcile_duration_seconds")
	if got != 3 { // apply, retry, resync
		t.Errorf("%d duration series, want one per operation", got)
	}
	wantHist += histogram("resync", 0.002, 1) + histogram("retry", 0, 0)
	if err := testutil.CollectAndCompare(r, strings.NewReader(wantHist), "vem_reconcile_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// histogram is the text of one operation's histogram series with n
// observations that sum to sum, each of them sum/n.
func histogram(op string, sum float64, n int) string {
	var b strings.Builder
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"} {
		c := 0
		if v, err := strconv.ParseFloat(le, 64); n > 0 && (err != nil || sum/float64(n) <= v) {
			c = n
		}
		fmt.Fprintf(&b, "vem_reconcile_duration_seconds_bucket{operation=%q,le=%q} %d\n", op, le, c)
	}
	fmt.Fprintf(&b, "vem_reconcile_duration_seconds_sum{operation=%q} %g\n", op, sum)
	fmt.Fprintf(&b, "vem_reconcile_duration_seconds_count{operation=%q} %d\n", op, n)
	return b.String()
}
