package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

// newShowSystemCmd is `show system redundancy status`.
func newShowSystemCmd(o *options) *cobra.Command {
	system := &cobra.Command{Use: "system", Short: "Show the supervisor system", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	red := &cobra.Command{Use: "redundancy", Short: "Show the HA pair", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	status := newShow(o, "status", "Show the redundancy role and state of this VSM and its peer",
		func(c *api.Client, ctx context.Context) (ha.Status, error) { return c.RedundancyStatus(ctx) }, renderRedundancy)
	status.Long = `status shows this supervisor's redundancy role (primary, secondary or
standalone), its state (active or standby) and internal state (Active with
HA standby, Active with no standby, HA standby, ...), its peer as last
heard and the epoch. -o json prints
{"role","state","internalState","peer":{"name","role","state"},"epoch",...}.`
	red.AddCommand(status)
	system.AddCommand(red)
	return system
}

// renderRedundancy prints the guide's shape.
func renderRedundancy(w io.Writer, s ha.Status) error {
	var degraded string
	if s.Degraded {
		degraded = " (degraded: control path silent, heartbeats on the management path)"
	}
	_, err := fmt.Fprintf(w, `Redundancy role
---------------
      administrative:   %s
         operational:   %s

Redundancy mode
---------------
      administrative:   HA
         operational:   %s

This supervisor (sup-%d)
-----------------------
    Redundancy state:   %s
    Supervisor state:   %s
      Internal state:   %s%s
               Epoch:   %d

Other supervisor (%s)
------------------------
    Redundancy state:   %s
    Supervisor state:   %s
      Internal state:   %s
`, s.Role, s.Role, mode(s), s.Module, title(string(s.State)), title(string(s.State)), s.InternalState, degraded, s.Epoch,
		peerName(s), title(s.Peer.State), title(s.Peer.State), orDash(s.Peer.InternalState))
	if err != nil || len(s.Collisions) == 0 {
		return err
	}
	t := newTable("Collision", "Role", "Path", "Last-Seen")
	for _, c := range s.Collisions {
		t.Row(c.Name, string(s.Role), c.Path, c.Latest.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if _, err := io.WriteString(w, "\nRole collisions ("+strconv.Itoa(len(s.Collisions))+")\n"); err != nil {
		return err
	}
	return t.Write(w)
}

func mode(s ha.Status) string {
	if s.Peer.State == string(ha.Standby) || s.State == ha.Standby {
		return "HA"
	}
	return "None"
}

func peerName(s ha.Status) string {
	if s.Peer.Name == "" {
		return "sup-" + strconv.Itoa(3-s.Module)
	}
	return s.Peer.Name
}

func title(s string) string {
	switch s {
	case "":
		return "--"
	case ha.PeerAbsent:
		return "Not present"
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func orDash(s string) string {
	if s == "" {
		return "--"
	}
	return s
}

// newSystemCmd is `system switchover` and `system redundancy role`.
func newSystemCmd(o *options) *cobra.Command {
	system := &cobra.Command{Use: "system", Short: "Act on the supervisor system (HA pair)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	switchover := &cobra.Command{
		Use:   "switchover",
		Short: "Hand the active role to the stable (HA) standby",
		Long: `switchover makes the standby supervisor the active one. It is refused
("Failed to switchover (standby not ready to takeover)") unless the peer
is a stable (HA) standby; a switchover that does not complete within 28 s
resets the supervisors.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := o.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			r, err := c.Switchover(ctx)
			if err != nil {
				return err
			}
			if o.output == outputJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), r.Message)
			return err
		},
	}
	red := &cobra.Command{Use: "redundancy", Short: "Configure the HA pair", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	role := &cobra.Command{
		Use:   "role primary|secondary|standalone",
		Short: "Set this supervisor's redundancy role, from its next boot",
		Long: `role records this supervisor's redundancy role in its dataDir (it
overrides the VSM file's role from then on); it takes effect at the next
boot. A primary or secondary needs a control path and tls in the VSM file.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one role: primary, secondary or standalone")
			}
			switch config.Role(args[0]) {
			case config.RolePrimary, config.RoleSecondary, config.RoleStandalone:
				return nil
			}
			return usageErrorf("invalid role %q: want primary, secondary or standalone", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := o.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			r, err := c.SetRole(ctx, config.Role(args[0]))
			if err != nil {
				return err
			}
			if o.output == outputJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "role %s (now %s): %s\n", r.NextBoot, r.Role, r.Message)
			return err
		},
	}
	red.AddCommand(role)
	system.AddCommand(switchover, red)
	return system
}
