package issu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/internal/clock"
)

// Phase is one step of an upgrade.
type Phase string

// The phases, in order; PhaseRollback is what a failure runs.
const (
	PhaseValidate Phase = "validate"
	PhaseSpawn    Phase = "spawn"
	PhasePrepare  Phase = "prepare"
	PhaseSwitch   Phase = "switch"
	PhaseVerify   Phase = "verify"
	PhaseStable   Phase = "stable"
	PhaseCommit   Phase = "commit"
	PhaseRollback Phase = "rollback"
)

// Defaults of Options.
const (
	DefaultPhaseTimeout = 30 * time.Second
	DefaultStable       = 30 * time.Second
	// pollInterval is how often verify and stable read the successor.
	pollInterval = 250 * time.Millisecond
)

// Bundle is the version to run (package bundle's Bundle, behind an
// adapter that supplies its verify options).
type Bundle interface {
	// Version names the bundle's version.
	Version() string
	// Agent is the path of the bundle's vem-agent binary.
	Agent() string
	// Verify checks the bundle on this host without changing anything.
	Verify(ctx context.Context) error
}

// Session is a handover session with the running agent (an
// *api.HandoverClient).
type Session interface {
	Do(ctx context.Context, req api.HandoverRequest) (api.HandoverReply, error)
	Close() error
}

// Agent is the running agent as the orchestrator reaches it through its
// socket: the views health is judged on (the old agent's before the
// switch, the successor's after) and its handover sessions (an
// *api.Client).
type Agent interface {
	Status(ctx context.Context) (api.Status, error)
	LACPNeighbors(ctx context.Context) ([]api.LACPNeighbor, error)
	DPA(ctx context.Context) (api.DPA, error)
	Handover(ctx context.Context) (api.HandoverStatus, error)
	OpenHandover(ctx context.Context) (Session, error)
}

// Options configure an Upgrade.
type Options struct {
	Bundle Bundle
	Agent  Agent
	// Promote makes the bundle's version the one started next (package
	// bundle's Promote with its root); nil promotes nothing.
	Promote func(version string) error
	// PhaseTimeout bounds each phase but stable; DefaultPhaseTimeout if 0.
	PhaseTimeout time.Duration
	// Stable is how long the successor must stay healthy before the
	// commit; DefaultStable if 0, none if negative.
	Stable time.Duration
	// Report receives each phase's outcome as it ends; nil reports none.
	Report func(PhaseReport)
	// Clock times the phases; the system clock if nil.
	Clock clock.Clock
}

// PhaseReport is the outcome of one phase.
type PhaseReport struct {
	Phase  Phase
	Took   time.Duration
	Err    error  // nil when the phase succeeded
	Detail string // what it did or found
}

// String is the phase's line in the orchestrator's output.
func (r PhaseReport) String() string {
	s := fmt.Sprintf("%-8s %-6s %8s", r.Phase, "ok", r.Took.Round(time.Millisecond))
	if r.Err != nil {
		s = fmt.Sprintf("%-8s %-6s %8s  %v", r.Phase, "FAILED", r.Took.Round(time.Millisecond), r.Err)
	}
	if r.Detail != "" {
		s += "  " + r.Detail
	}
	return s
}

// Outcome is what an upgrade left running.
type Outcome int

// The outcomes; each is an exit status of vem-agent upgrade.
const (
	// Upgraded: the successor runs and the bundle is promoted.
	Upgraded Outcome = 0
	// Unchanged: failed or cancelled before the switch; the old agent
	// never stopped.
	Unchanged Outcome = 1
	// RolledBack: failed or cancelled after the switch; the successor was
	// stopped and the old agent resumed.
	RolledBack Outcome = 2
	// NotPromoted: the successor runs alone but the bundle could not be
	// promoted: the next start runs the previous version.
	NotPromoted Outcome = 3
	// Unknown: the rollback (or the commit) failed; see the error.
	Unknown Outcome = 4
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Upgraded:
		return "upgraded"
	case Unchanged:
		return "unchanged"
	case RolledBack:
		return "rolled back"
	case NotPromoted:
		return "upgraded, not promoted"
	}
	return "unknown"
}

// Result is what an upgrade did.
type Result struct {
	Outcome Outcome
	// Version is the bundle's.
	Version string
	// OldPID and NewPID are the agent's process before and the
	// successor's (0 if none was spawned).
	OldPID, NewPID int
	Phases         []PhaseReport
	// Err is the failure, nil when upgraded.
	Err error
}

// ErrUnhealthy marks a successor that failed its health check.
var ErrUnhealthy = errors.New("successor unhealthy")
