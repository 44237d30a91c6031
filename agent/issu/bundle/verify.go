package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/vem-switch/vem/protocol"
)

// VerifyOptions say what the bundle is verified against: the running
// agent's instance, file and state, as it was started.
type VerifyOptions struct {
	// Instance is the instance the new agent takes over; empty: the
	// file's.
	Instance string
	// ConfigFile is the running agent's configuration file; empty: the
	// agent's default (/etc/vem/vem.yaml).
	ConfigFile string
	// StateDir is the running agent's state directory; empty: the agent's
	// default (/var/lib/vem).
	StateDir string
	// Running is the manifest of the version that runs now (its bundle
	// under the install root), nil if unknown. Its protocol and the
	// version floors of both manifests are checked against the bundle's;
	// without it the protocol is checked against this build's and the
	// floors are not.
	Running *Manifest
	// NetNS, if set, is a network namespace file (/run/netns/NAME) the new
	// agent's checks run in (through nsenter --net, the mount namespace
	// kept), for an agent that runs in that namespace.
	NetNS string
	// Report, if set, receives upgrade-check's report (a line per item:
	// the file, the state, each map adopted or migrated and how, the
	// programs the verifier accepted), whatever its verdict.
	Report io.Writer
}

// versionTimeout bounds `vem-agent --version`, which does nothing else.
const versionTimeout = 10 * time.Second

// Verify checks the bundle on this host before anything is touched, and
// writes nothing: the checksum of every file; that its agent runs and
// says the manifest's version and protocol; that the protocol and the
// version floors allow going from o.Running to it; and the new agent's
// dry run against this host (`vem-agent upgrade-check`: the file parsed by
// the new version's rules, the state files read, the migration of every
// pinned map of the instance planned, its programs loaded by the kernel's
// verifier without being attached). The first failure is returned, naming
// the problem; the running agent, its pins and links are untouched.
func (b *Bundle) Verify(ctx context.Context, o VerifyOptions) error {
	if err := b.checkFiles(); err != nil {
		return fmt.Errorf("bundle %s: %w", b.m.Version, err)
	}
	if err := b.checkSums(); err != nil {
		return fmt.Errorf("bundle %s: %w", b.m.Version, err)
	}
	if err := b.checkVersion(ctx, o); err != nil {
		return fmt.Errorf("bundle %s: %w", b.m.Version, err)
	}
	running := o.Running
	if running == nil {
		v := protocol.CurrentVersion()
		running = &Manifest{Protocol: fmt.Sprintf("%d.%d", v.GetMajor(), v.GetMinor())}
	}
	if err := Compatible(running, &b.m); err != nil {
		return fmt.Errorf("bundle %s: %w", b.m.Version, err)
	}
	if err := b.upgradeCheck(ctx, o); err != nil {
		return fmt.Errorf("bundle %s: %w", b.m.Version, err)
	}
	return nil
}

// command is the bundle's agent with args, in o.NetNS if set.
func (b *Bundle) command(ctx context.Context, o VerifyOptions, args ...string) *exec.Cmd {
	if o.NetNS != "" {
		return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + o.NetNS, "--", b.Agent()}, args...)...)
	}
	return exec.CommandContext(ctx, b.Agent(), args...)
}

// checkVersion runs `vem-agent --version` and compares what it says with
// the manifest.
func (b *Bundle) checkVersion(ctx context.Context, o VerifyOptions) error {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := b.command(ctx, VerifyOptions{}, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s --version: %w%s", AgentFile, err, tail(stderr.String()))
	}
	line := strings.TrimSpace(stdout.String())
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "vem-agent" || f[2] != "protocol" {
		return fmt.Errorf("%s --version: %q is not \"vem-agent VERSION protocol MAJOR.MINOR\"", AgentFile, line)
	}
	if f[1] != b.m.Version {
		return fmt.Errorf("%s --version says version %s, the manifest %s", AgentFile, f[1], b.m.Version)
	}
	if f[3] != b.m.Protocol {
		return fmt.Errorf("%s --version says protocol %s, the manifest %s", AgentFile, f[3], b.m.Protocol)
	}
	return nil
}

// Compatible reports whether the version of next may take over from the
// one of running: the same protocol major, minors at most one apart (the
// VSM speaks with both during the window); and where both versions are
// ordered, an upgrade from no older than next's upgradesFrom, a downgrade
// to no older than running's downgradesTo.
func Compatible(running, next *Manifest) error {
	rMaj, rMin, err := ParseProtocol(running.Protocol)
	if err != nil {
		return fmt.Errorf("running version's protocol: %w", err)
	}
	nMaj, nMin, err := ParseProtocol(next.Protocol)
	if err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	if rMaj != nMaj || max(rMin, nMin)-min(rMin, nMin) > 1 {
		return fmt.Errorf("protocol %s cannot run beside the running agent's %s (same major, minors at most one apart)", next.Protocol, running.Protocol)
	}
	c, ordered := Compare(next.Version, running.Version)
	switch {
	case !ordered || c == 0:
	case c > 0 && next.UpgradesFrom != "":
		if below, _ := Compare(running.Version, next.UpgradesFrom); below < 0 {
			return fmt.Errorf("upgrades from %s or later; the running agent is %s", next.UpgradesFrom, running.Version)
		}
	case c < 0 && running.DowngradesTo != "":
		if below, _ := Compare(next.Version, running.DowngradesTo); below < 0 {
			return fmt.Errorf("the running agent %s can be downgraded to %s or later, not to %s", running.Version, running.DowngradesTo, next.Version)
		}
	}
	return nil
}

// upgradeCheck runs the new agent's dry run against this host.
func (b *Bundle) upgradeCheck(ctx context.Context, o VerifyOptions) error {
	args := []string{"upgrade-check"}
	for _, f := range []struct{ flag, v string }{{"--instance", o.Instance}, {"--config", o.ConfigFile}, {"--state-dir", o.StateDir}} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := b.command(ctx, o, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if o.Report != nil {
		o.Report.Write(stdout.Bytes())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), ctx.Err())
	}
	if err == nil {
		return nil
	}
	var fails []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "FAIL") {
			fails = append(fails, strings.Join(strings.Fields(strings.TrimPrefix(l, "FAIL")), " "))
		}
	}
	if len(fails) == 0 {
		return fmt.Errorf("%s %s: %w%s", AgentFile, strings.Join(args, " "), err, tail(stderr.String()))
	}
	return &CheckError{Failures: fails, Output: stdout.String()}
}

// CheckError is an upgrade-check that refused the bundle: one line per
// item that failed (e.g. "datapath plan the migration of …: map vem_stats
// …: the 8 bytes the new layout drops are in use …").
type CheckError struct {
	Failures []string
	// Output is upgrade-check's whole report.
	Output string
}

func (e *CheckError) Error() string {
	return "upgrade-check refused it: " + strings.Join(e.Failures, "; ")
}

// IsCheckError reports whether err is (or wraps) a refusal by
// upgrade-check.
func IsCheckError(err error) bool {
	var ce *CheckError
	return errors.As(err, &ce)
}

// tail is the last line of a command's stderr, for an error.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return ": " + s
}
