package issu

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUpgradePhases drives the phase machine over a fake agent pair:
// success, and a failure, a timeout and a cancel at each phase, each
// leaving what an operator must find: before the switch the old agent
// untouched (its successor stopped), after it the old agent resumed.
func TestUpgradePhases(t *testing.T) {
	type want struct {
		outcome Outcome
		failed  Phase  // the phase reported failed ("" none)
		errHas  string // in Result.Err
		ops     string // the session's operations
		serving int    // who serves the socket at the end
		old     string // the old agent's state
		succ    string // the successor's state
	}
	pre := func(p Phase, ops, succ, errHas string) want {
		return want{Unchanged, p, errHas, ops, oldPID, "running", succ}
	}
	post := func(p Phase, ops, errHas string) want {
		return want{RolledBack, p, errHas, ops, oldPID, "running", "stopped"}
	}
	tests := []struct {
		name   string
		setup  func(h *fakeHost, b *fakeBundle, o *Options)
		cancel Phase // cancel the upgrade as this phase starts
		want   want
	}{
		{name: "upgraded", want: want{Upgraded, "", "", "spawn prepare switch commit", newPID, "exited", "alone"}},
		{name: "upgraded in VSM mode", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.vsm = true },
			want: want{Upgraded, "", "", "spawn prepare switch commit", newPID, "exited", "alone"}},

		{name: "validate fails", setup: func(_ *fakeHost, b *fakeBundle, _ *Options) { b.err = errors.New("checksum mismatch") },
			want: pre(PhaseValidate, "", "", "checksum mismatch")},
		{name: "validate times out", setup: func(_ *fakeHost, b *fakeBundle, _ *Options) { b.block = true },
			want: pre(PhaseValidate, "", "", "timed out")},
		{name: "validate cancelled", cancel: PhaseValidate, want: pre(PhaseValidate, "", "", "cancelled")},
		{name: "validate: agent not serving", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.serving = 0 },
			want: want{Unchanged, PhaseValidate, "cannot hand over", "", 0, "running", ""}},

		{name: "spawn fails", setup: failOp("spawn"), want: pre(PhaseSpawn, "spawn abort", "", "it failed")},
		{name: "spawn session refused", setup: failOp("open"), want: pre(PhaseSpawn, "", "", "refused")},
		{name: "spawn times out", setup: blockOp("spawn"), want: pre(PhaseSpawn, "spawn abort", "", "timed out")},
		{name: "spawn cancelled", cancel: PhaseSpawn, want: pre(PhaseSpawn, "", "", "cancelled")},

		{name: "prepare fails", setup: failOp("prepare"), want: pre(PhasePrepare, "spawn prepare abort", "stopped", "it failed")},
		{name: "prepare times out", setup: blockOp("prepare"), want: pre(PhasePrepare, "spawn prepare abort", "stopped", "timed out")},
		{name: "prepare cancelled", cancel: PhasePrepare, want: pre(PhasePrepare, "spawn prepare abort", "stopped", "cancelled")},

		{name: "switch fails", setup: failOp("switch"), want: post(PhaseSwitch, "spawn prepare switch abort", "it failed")},
		{name: "switch times out", setup: blockOp("switch"), want: post(PhaseSwitch, "spawn prepare switch abort", "timed out")},
		{name: "switch cancelled", cancel: PhaseSwitch, want: post(PhaseSwitch, "spawn prepare switch abort", "cancelled")},

		{name: "verify: engine not current", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.unhealthyAfter = 0 },
			want: post(PhaseVerify, "spawn prepare switch abort", "engine retrying")},
		{name: "verify: bundle renegotiated", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.partnerAfter = "00:00:5e:00:53:99" },
			want: post(PhaseVerify, "spawn prepare switch abort", "po1/e1 partner 00:00:5e:00:53:99")},
		{name: "verify: DPA not attached", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.vsm, h.dpaAfter = true, "headless" },
			want: post(PhaseVerify, "spawn prepare switch abort", "DPA headless")},
		{name: "verify: successor died", setup: func(h *fakeHost, _ *fakeBundle, o *Options) {
			o.Report = func(r PhaseReport) {
				if r.Phase == PhaseSwitch {
					h.mu.Lock()
					h.serving = 0
					h.mu.Unlock()
				}
			}
		}, want: post(PhaseVerify, "spawn prepare switch abort", "not running")},
		{name: "verify cancelled", cancel: PhaseVerify, want: post(PhaseVerify, "spawn prepare switch abort", "cancelled")},

		{name: "stable: unhealthy later", setup: func(h *fakeHost, _ *fakeBundle, _ *Options) { h.unhealthyAfter = 2 },
			want: post(PhaseStable, "spawn prepare switch abort", "engine retrying")},
		{name: "stable cancelled", cancel: PhaseStable, want: post(PhaseStable, "spawn prepare switch abort", "cancelled")},

		{name: "commit fails", setup: failOp("commit"), want: post(PhaseCommit, "spawn prepare switch commit abort", "it failed")},
		{name: "commit cancelled", cancel: PhaseCommit, want: post(PhaseCommit, "spawn prepare switch commit abort", "cancelled")},
		{name: "promote fails", setup: func(_ *fakeHost, _ *fakeBundle, o *Options) {
			o.Promote = func(string) error { return errors.New("read-only file system") }
		}, want: want{NotPromoted, PhaseCommit, "read-only", "spawn prepare switch commit", newPID, "exited", "alone"}},

		{name: "rollback fails", setup: func(h *fakeHost, b *fakeBundle, o *Options) { h.fail["switch"], h.fail["abort"] = true, true },
			want: want{Unknown, PhaseSwitch, "rollback failed", "spawn prepare switch abort", oldPID, "running", "prepared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newFakeHost(), &fakeBundle{}
			var promoted []string
			o := Options{Bundle: b, Agent: h, PhaseTimeout: 300 * time.Millisecond, Stable: 600 * time.Millisecond,
				Promote: func(v string) error { promoted = append(promoted, v); return nil }}
			if tt.setup != nil {
				tt.setup(h, b, &o)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var reports []PhaseReport
			report := o.Report
			order := []Phase{PhaseValidate, PhaseSpawn, PhasePrepare, PhaseSwitch, PhaseVerify, PhaseStable, PhaseCommit}
			if tt.cancel == PhaseValidate {
				cancel()
			}
			o.Report = func(r PhaseReport) {
				reports = append(reports, r)
				if report != nil {
					report(r)
				}
				if i := slices.Index(order, r.Phase); tt.cancel != "" && i >= 0 && i+1 < len(order) && order[i+1] == tt.cancel {
					cancel()
				}
			}
			res := Upgrade(ctx, o)

			for _, r := range reports {
				t.Log(r)
			}
			w := tt.want
			if res.Outcome != w.outcome {
				t.Errorf("outcome %v, want %v (err %v)", res.Outcome, w.outcome, res.Err)
			}
			if (res.Err == nil) != (w.outcome == Upgraded) || (res.Err != nil && !strings.Contains(res.Err.Error(), w.errHas)) {
				t.Errorf("error %v, want one saying %q", res.Err, w.errHas)
			}
			var failed []Phase
			for _, r := range reports {
				if r.Err != nil && r.Phase != PhaseRollback {
					failed = append(failed, r.Phase)
				}
			}
			if w.failed == "" && len(failed) > 0 || w.failed != "" && !slices.Equal(failed, []Phase{w.failed}) {
				t.Errorf("failed phases %v, want %q", failed, w.failed)
			}
			rolledBack := slices.ContainsFunc(reports, func(r PhaseReport) bool { return r.Phase == PhaseRollback })
			if rolledBack != strings.Contains(w.ops, "abort") {
				t.Errorf("rollback phase reported %v, want %v", rolledBack, strings.Contains(w.ops, "abort"))
			}
			if got := strings.Join(h.ops, " "); got != w.ops {
				t.Errorf("session operations %q, want %q", got, w.ops)
			}
			if h.serving != w.serving || h.oldState != w.old || h.successor != w.succ {
				t.Errorf("serving %d, old %s, successor %q; want %d, %s, %q", h.serving, h.oldState, h.successor, w.serving, w.old, w.succ)
			}
			if wantPromoted := w.outcome == Upgraded; (len(promoted) == 1) != wantPromoted {
				t.Errorf("promoted %v, want promoted: %v", promoted, wantPromoted)
			}
			if strings.Contains(w.ops, "spawn") && !h.closed {
				t.Error("session left open")
			}
			if w.outcome == Upgraded && (res.OldPID != oldPID || res.NewPID != newPID) {
				t.Errorf("PIDs %d -> %d, want %d -> %d", res.OldPID, res.NewPID, oldPID, newPID)
			}
		})
	}
}

func failOp(op string) func(*fakeHost, *fakeBundle, *Options) {
	return func(h *fakeHost, _ *fakeBundle, _ *Options) { h.fail[op] = true }
}

func blockOp(op string) func(*fakeHost, *fakeBundle, *Options) {
	return func(h *fakeHost, _ *fakeBundle, _ *Options) { h.block[op] = true }
}

// TestPhaseReportLine is the one line per phase the command prints.
func TestPhaseReportLine(t *testing.T) {
	ok := PhaseReport{Phase: PhaseSwitch, Took: 1234567 * time.Microsecond, Detail: "successor PID 7 running"}
	if got := ok.String(); !strings.HasPrefix(got, "switch   ok") || !strings.Contains(got, "1.235s") || !strings.HasSuffix(got, "successor PID 7 running") {
		t.Errorf("ok line %q", got)
	}
	bad := PhaseReport{Phase: PhaseVerify, Took: time.Second, Err: errors.New("engine retrying")}
	if got := bad.String(); !strings.Contains(got, "FAILED") || !strings.Contains(got, "engine retrying") {
		t.Errorf("failed line %q", got)
	}
}
