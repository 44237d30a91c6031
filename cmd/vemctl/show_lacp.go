package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowLACPCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lacp",
		Short: "Show the LACP state of the port-channels' members",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newShowLACPNeighborCmd(o), newShowLACPCountersCmd(o))
	return cmd
}

func newShowLACPNeighborCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "neighbor",
		Short: "Show the LACP partner seen on every port-channel member",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			ns, err := c.LACPNeighbors(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			return o.render(cmd.OutOrStdout(), ns, func(w io.Writer) error { return writeLACPNeighbors(w, ns, now) })
		},
	}
}

func newShowLACPCountersCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "counters",
		Short: "Show the LACPDU and marker counters of every port-channel member",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			cs, err := c.LACPCounters(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), cs, func(w io.Writer) error { return writeLACPCounters(w, cs) })
		},
	}
}

// lacpStateLegend explains the letters of the state columns.
const lacpStateLegend = `State: A - Active, T - Short timeout, G - Aggregatable, S - Synchronized,
       C - Collecting, D - Distributing, F - Defaulted, E - Expired
`

// writeLACPNeighbors prints the state legend, then per port-channel,
// sorted by name, a table of its members in the agent's order with the
// partner each one sees. The last PDU's age is taken at now.
func writeLACPNeighbors(w io.Writer, ns []api.LACPNeighbor, now time.Time) error {
	if _, err := io.WriteString(w, lacpStateLegend); err != nil {
		return fmt.Errorf("write LACP neighbors: %w", err)
	}
	if len(ns) == 0 {
		if _, err := io.WriteString(w, "\nNo LACP neighbors.\n"); err != nil {
			return fmt.Errorf("write LACP neighbors: %w", err)
		}
		return nil
	}
	for _, group := range byPortChannel(ns, func(n api.LACPNeighbor) string { return n.PortChannel }) {
		if _, err := fmt.Fprintf(w, "\n%s neighbors:\n", group[0].PortChannel); err != nil {
			return fmt.Errorf("write LACP neighbors: %w", err)
		}
		t := newTable("Interface", "State", "Partner System", "Partner Key", "Partner Port", "Port Priority", "Partner State", "Actor State", "Last PDU")
		for _, n := range group {
			// Without a partner system there is no partner: its key and
			// port print as --, not as zeros that look like values.
			var key, port, prio string
			if n.PartnerSystem != "" {
				key, port, prio = strconv.Itoa(n.PartnerKey), strconv.Itoa(n.PartnerPort), strconv.Itoa(n.PartnerPortPriority)
			}
			t.Row(n.Interface, n.State, n.PartnerSystem, key, port, prio, n.PartnerState, n.ActorState, pduAge(n.LastPDU, now))
		}
		if err := t.Write(w); err != nil {
			return err
		}
	}
	return nil
}

// pduAge says how long before now the RFC 3339 time last was: tenths of
// a second under a minute ("0.8s ago"), whole seconds beyond. It is ""
// (printed as --) when no LACPDU came, and last itself if it does not
// parse, so that nothing the agent said is hidden.
func pduAge(last string, now time.Time) string {
	if last == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, last)
	if err != nil {
		return last
	}
	d := max(now.Sub(t), 0) // a clock step must not print a negative age
	if d < time.Minute {
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

// writeLACPCounters prints a row of LACP counters per member, grouped by
// port-channel sorted by name, members in the agent's order.
func writeLACPCounters(w io.Writer, cs []api.LACPCounters) error {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	t := newTable("Port-Channel", "Interface", "PDUs Rx", "PDUs Tx", "Malformed Rx", "Markers Rx", "Markers Tx")
	for _, group := range byPortChannel(cs, func(c api.LACPCounters) string { return c.PortChannel }) {
		for _, c := range group {
			t.Row(c.PortChannel, c.Interface, u(c.PDUsRx), u(c.PDUsTx), u(c.MalformedRx), u(c.MarkersRx), u(c.MarkersTx))
		}
	}
	return t.Write(w)
}

// byPortChannel groups rows by their port-channel, the groups sorted by
// its name and each in the order of rows.
func byPortChannel[T any](rows []T, pc func(T) string) [][]T {
	var names []string
	groups := map[string][]T{}
	for _, r := range rows {
		name := pc(r)
		if _, ok := groups[name]; !ok {
			names = append(names, name)
		}
		groups[name] = append(groups[name], r)
	}
	slices.SortFunc(names, compareNames)
	out := make([][]T, len(names))
	for i, name := range names {
		out[i] = groups[name]
	}
	return out
}
