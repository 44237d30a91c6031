package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowModuleCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "module",
		Short: "Show the agent: host, instance, mode, uplink, engine and configuration",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), st, func(w io.Writer) error { return writeStatus(w, st) })
		},
	}
}

// writeStatus prints the module as a one-row table, then the engine's
// state as another (unless the agent reports none) and why its last
// apply failed, then the configuration file and, when the last reload
// was rejected, why.
func writeStatus(w io.Writer, st api.Status) error {
	t := newTable("Host", "Instance", "Mode", "Uplink", "Last reload")
	t.Row(st.Host, st.Instance, st.Mode, st.Uplink, st.LastReload)
	if err := t.Write(w); err != nil {
		return err
	}
	if st.Engine.State != "" {
		if err := writeEngine(w, st.Engine); err != nil {
			return err
		}
	}
	var b strings.Builder
	if a := st.Announcements; a != nil {
		fmt.Fprintf(&b, "\nMAC announcements: %d ports, %d frames sent, %d failed\n", a.Ports, a.FramesSent, a.FramesFailed)
		if a.Deferred > 0 || a.Pending > 0 {
			fmt.Fprintf(&b, "  incoming ports: %d deferred to their resume, %d pending, %d given up\n", a.Deferred, a.Pending, a.Expired)
		}
	}
	if st.ConfigFile != "" {
		fmt.Fprintf(&b, "\nConfig file: %s\n", st.ConfigFile)
	}
	if st.ConfigError != "" {
		b.WriteString("\nConfig error (running the last good configuration):\n")
		writeIndented(&b, st.ConfigError)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// writeEngine prints the engine's state as a one-row table and, when its
// last apply failed, the error under a heading that says what the
// datapath runs meanwhile.
func writeEngine(w io.Writer, e api.EngineStatus) error {
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	attempts := ""
	if e.Attempts > 0 {
		attempts = strconv.Itoa(e.Attempts)
	}
	t := newTable("Engine", "Attempts", "Next retry", "Last applied", "Drift repairs", "Last resync")
	t.Row(e.State, attempts, e.NextRetry, e.LastApplied, strconv.FormatUint(e.DriftRepairs, 10), e.LastResync)
	if err := t.Write(w); err != nil {
		return err
	}
	if e.Error == "" {
		return nil
	}
	var b strings.Builder
	switch e.State {
	case api.EngineRetrying:
		b.WriteString("\nEngine error (retrying):\n")
	case api.EngineRolledBack:
		b.WriteString("\nEngine error (rolled back to the last applied state):\n")
	default:
		b.WriteString("\nEngine error:\n")
	}
	writeIndented(&b, e.Error)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// writeIndented writes msg, which may list one problem per line (as a
// validation error does), indented under a heading.
func writeIndented(b *strings.Builder, msg string) {
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(b, "  %s\n", line)
	}
}
