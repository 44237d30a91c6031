package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowModuleCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "module",
		Short: "Show the agent: host, instance, mode, uplink and configuration",
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

// writeStatus prints the module as a one-row table, then the
// configuration file and, when the last reload was rejected, why.
func writeStatus(w io.Writer, st api.Status) error {
	t := newTable("Host", "Instance", "Mode", "Uplink", "Last reload")
	t.row(st.Host, st.Instance, st.Mode, st.Uplink, st.LastReload)
	if err := t.write(w); err != nil {
		return err
	}
	var b strings.Builder
	if st.ConfigFile != "" {
		fmt.Fprintf(&b, "\nConfig file: %s\n", st.ConfigFile)
	}
	if st.ConfigError != "" {
		// A validation error lists one problem per line.
		b.WriteString("\nConfig error (running the last good configuration):\n")
		for _, line := range strings.Split(strings.TrimRight(st.ConfigError, "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}
