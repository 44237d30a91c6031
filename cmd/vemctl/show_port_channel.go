package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowPortChannelCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "port-channel",
		Short: "Show the port-channels and the state of every member",
		Long: `Show every port-channel: its mode, whether it is up, its LACP identity and
partner, and per member the priority, whether it carries traffic, its status,
the vEths pinned to it (mac-pinning) and why an LACP member is not bundled.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			pcs, err := c.PortChannels(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), pcs, func(w io.Writer) error { return writePortChannels(w, pcs) })
		},
	}
	cmd.AddCommand(newShowPortChannelSummaryCmd(o))
	return cmd
}

func newShowPortChannelSummaryCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "summary",
		Short: "Show a line per port-channel with its members' flags",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			pcs, err := c.PortChannels(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), pcs, func(w io.Writer) error { return writePortChannelSummary(w, pcs) })
		},
	}
}

// portChannelFlags is the legend of the summary's flags, as NX-OS prints
// it above `show port-channel summary`.
const portChannelFlags = `Flags: D - Down          P - Up in port-channel (bundled)
       I - Individual    H - Hot-standby (LACP only)
       s - Suspended     U - Up (port-channel)

`

// writePortChannelSummary prints the flag legend, then a row per
// port-channel, sorted by name and numbered from 1, with its members and
// their flags.
func writePortChannelSummary(w io.Writer, pcs []api.PortChannel) error {
	if _, err := io.WriteString(w, portChannelFlags); err != nil {
		return fmt.Errorf("write port-channel summary: %w", err)
	}
	t := newTable("Group", "Port-Channel", "Type", "Protocol", "Member Ports")
	for i, pc := range sortedPortChannels(pcs) {
		state := "D"
		if pc.Up {
			state = "U"
		}
		members := make([]string, len(pc.Members))
		for j, m := range pc.Members {
			members[j] = m.Interface + "(" + memberFlag(m.Status) + ")"
		}
		t.Row(strconv.Itoa(i+1), pc.Name+"("+state+")", "Eth", protocol(pc.Mode), strings.Join(members, " "))
	}
	return t.Write(w)
}

// memberFlag maps a member's status to its summary flag: the LACP port
// states, and the Operational / Link Down of static and mac-pinning
// members. A status this vemctl does not know shows as "?", rather than
// as a flag that could mislead.
func memberFlag(status string) string {
	switch strings.ToLower(status) {
	case "bundled", "operational":
		return "P"
	case "standby":
		return "H"
	case "individual":
		return "I"
	case "down", "link down":
		return "D"
	case "waiting":
		return "s"
	}
	return "?"
}

// protocol is the summary's Protocol column: LACP in the LACP modes,
// NONE in static and mac-pinning.
func protocol(mode string) string {
	if isLACPMode(mode) {
		return "LACP"
	}
	return "NONE"
}

func isLACPMode(mode string) bool { return strings.HasPrefix(mode, "lacp") }

// writePortChannels prints, per port-channel sorted by name, a header
// line and a table of its members in the agent's (configuration) order,
// as IBM's lsvnic lists a vNIC's backing devices.
func writePortChannels(w io.Writer, pcs []api.PortChannel) error {
	if len(pcs) == 0 {
		if _, err := io.WriteString(w, "No port-channels.\n"); err != nil {
			return fmt.Errorf("write port-channels: %w", err)
		}
		return nil
	}
	for i, pc := range sortedPortChannels(pcs) {
		sep := ""
		if i > 0 {
			sep = "\n"
		}
		if _, err := fmt.Fprintf(w, "%s%s\n\n", sep, portChannelHeader(pc)); err != nil {
			return fmt.Errorf("write port-channels: %w", err)
		}
		priority := "Priority"
		switch {
		case pc.Mode == "mac-pinning":
			priority = "Failover Priority"
		case isLACPMode(pc.Mode):
			priority = "LACP Priority"
		}
		t := newTable("Interface", priority, "Active", "Status", "VEths", "Reason")
		for _, m := range pc.Members {
			active := "0"
			if m.Active {
				active = "1"
			}
			t.Row(m.Interface, strconv.Itoa(m.Priority), active, m.Status, strings.Join(m.VEths, ","), m.Reason)
		}
		if err := t.Write(w); err != nil {
			return err
		}
	}
	return nil
}

// portChannelHeader is the line above a port-channel's members: its
// name, mode, state and settings, and its LACP identity and partner
// when it has them.
func portChannelHeader(pc api.PortChannel) string {
	state := "down"
	if pc.Up {
		state = "up"
	}
	parts := []string{"mode " + pc.Mode, state, "min-links " + strconv.Itoa(pc.MinLinks)}
	if pc.Mode == "mac-pinning" {
		apf := "off"
		if pc.AutoPriorityFailover {
			apf = "on"
		}
		parts = append(parts, "auto-priority-failover "+apf)
	}
	if pc.System != "" {
		parts = append(parts, fmt.Sprintf("LACP system %s key %d", pc.System, pc.Key))
	}
	if pc.PartnerSystem != "" {
		parts = append(parts, fmt.Sprintf("partner system %s key %d", pc.PartnerSystem, pc.PartnerKey))
	}
	return pc.Name + ": " + strings.Join(parts, ", ")
}

// sortedPortChannels returns a copy of pcs sorted by name.
func sortedPortChannels(pcs []api.PortChannel) []api.PortChannel {
	pcs = slices.Clone(pcs)
	slices.SortStableFunc(pcs, func(a, b api.PortChannel) int { return compareNames(a.Name, b.Name) })
	return pcs
}

// compareNames orders interface names by their text, but a trailing
// number numerically: po2 before po10.
func compareNames(a, b string) int {
	pa, na, okA := splitNumber(a)
	pb, nb, okB := splitNumber(b)
	if okA && okB && pa == pb {
		return cmp.Compare(na, nb)
	}
	return cmp.Compare(a, b)
}

// splitNumber splits s into a prefix and the number it ends with.
func splitNumber(s string) (string, int, bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}
