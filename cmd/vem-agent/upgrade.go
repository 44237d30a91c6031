package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vem-switch/vem/agent"
	"github.com/vem-switch/vem/agent/issu"
	"github.com/vem-switch/vem/agent/issu/bundle"
)

// exitError ends vem-agent with its code after printing its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// upgradeCmd is `vem-agent upgrade`: the in-service upgrade (or
// downgrade: the same with an older bundle) of the running agent, make
// before break. One line per phase says what happened; the exit status
// says what runs now: 0 the bundle's version (promoted), 1 unchanged (a
// failure or a cancel before the switch: the old agent never stopped),
// 2 rolled back (the old agent resumed after a failure from the switch
// on), 3 the bundle's version runs but could not be promoted, 4 unknown
// (the rollback failed: see the message).
func upgradeCmd(args []string) error {
	fs := flag.NewFlagSet("vem-agent upgrade", flag.ContinueOnError)
	dir := fs.String("bundle", "", "the bundle `directory` to upgrade (or downgrade) to")
	cfgFile := fs.String("config", defaultConfig, "the running agent's configuration `file`")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "the running agent's state `directory`")
	socket := fs.String("socket", "", "the running agent's API `socket` (default: the file's)")
	root := fs.String("root", bundle.DefaultRoot, "the install `root`: versions side by side, current -> the one started next")
	phaseTimeout := fs.Duration("phase-timeout", issu.DefaultPhaseTimeout, "bound of each phase")
	stable := fs.Duration("stable", issu.DefaultStable, "how long the new agent must stay healthy before the old one exits")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vem-agent upgrade --bundle DIR [--config F --state-dir D] [--phase-timeout 30s] [--stable 30s]\n\n"+
			"Hands the running agent over to the bundle's, make before break: validate, spawn,\n"+
			"prepare, switch, verify, stable, commit. A failure or Ctrl-C before the switch\n"+
			"changes nothing; one after it rolls back to the running version. Exit status:\n"+
			"0 upgraded, 1 unchanged, 2 rolled back, 3 upgraded but not promoted, 4 unknown.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("upgrade: unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("upgrade: --bundle DIR is required")
	}
	cfg, err := agent.LoadFile(*cfgFile)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if *socket == "" {
		*socket = cfg.Socket
	}
	b, err := bundle.Load(*dir)
	if err != nil {
		return &exitError{int(issu.Unchanged), fmt.Errorf("upgrade: %w", err)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ib := &installBundle{b: b, root: *root, opts: bundle.VerifyOptions{Instance: cfg.Instance,
		ConfigFile: *cfgFile, StateDir: *stateDir}}
	fmt.Printf("upgrading instance %s (socket %s) to %s\n", cfg.Instance, *socket, b.Version())
	res := issu.Upgrade(ctx, issu.Options{
		Bundle: ib, Agent: issu.AgentAt(*socket), PhaseTimeout: *phaseTimeout, Stable: *stable,
		Promote: func(v string) error { return bundle.Promote(*root, v) },
		Report:  func(r issu.PhaseReport) { fmt.Println(r) },
	})
	return upgradeResult(os.Stdout, res)
}

// upgradeResult prints the outcome's line and turns it into the exit
// status.
func upgradeResult(w io.Writer, res issu.Result) error {
	var took time.Duration
	for _, p := range res.Phases {
		took += p.Took
	}
	switch res.Outcome {
	case issu.Upgraded:
		fmt.Fprintf(w, "upgraded to %s in %v: agent PID %d -> %d\n", res.Version, took.Round(time.Millisecond), res.OldPID, res.NewPID)
		return nil
	case issu.Unchanged:
		fmt.Fprintf(w, "unchanged: agent PID %d runs as before, never stopped\n", res.OldPID)
	case issu.RolledBack:
		fmt.Fprintf(w, "rolled back: successor PID %d stopped, agent PID %d resumed\n", res.NewPID, res.OldPID)
	case issu.NotPromoted:
		fmt.Fprintf(w, "%s runs (PID %d) but is not promoted\n", res.Version, res.NewPID)
	default:
		fmt.Fprintf(w, "outcome unknown: check `vemctl show module` and the agent's log\n")
	}
	return &exitError{int(res.Outcome), fmt.Errorf("upgrade to %s: %w", res.Version, res.Err)}
}

// installBundle is the bundle as the orchestrator uses it: verified
// against the running instance, then installed side by side under the
// root, from where the successor runs.
type installBundle struct {
	b         *bundle.Bundle
	root      string
	opts      bundle.VerifyOptions
	installed *bundle.Bundle
}

func (ib *installBundle) Version() string { return ib.b.Version() }

// Agent is the installed agent once Verify has installed it.
func (ib *installBundle) Agent() string {
	if ib.installed != nil {
		return ib.installed.Agent()
	}
	return ib.b.Agent()
}

// Verify checks the bundle against the running version (the install
// root's current, when there is one) and installs it.
func (ib *installBundle) Verify(ctx context.Context) error {
	o := ib.opts
	if cur, err := bundle.Load(filepath.Join(ib.root, bundle.CurrentLink)); err == nil {
		m := cur.Manifest()
		o.Running = &m
	}
	if err := ib.b.Verify(ctx, o); err != nil {
		return err
	}
	inst, err := ib.b.Install(ib.root)
	if err != nil {
		return err
	}
	ib.installed = inst
	return nil
}
