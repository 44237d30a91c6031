package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowMACTableCmd(o *options) *cobra.Command {
	var segment string
	cmd := &cobra.Command{
		Use:   "mac-table",
		Short: "Show the learned MAC addresses",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			es, err := c.MACTable(ctx, segment)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), es, func(w io.Writer) error { return writeMACTable(w, es) })
		},
	}
	cmd.Flags().StringVar(&segment, "segment", "", "only the MACs of this segment")
	return cmd
}

// writeMACTable prints the entries sorted by segment and MAC (the agent
// lists them in hash-map order) and their count. A remote MAC's port is
// the uplink it came in on; behind a VXLAN tunnel its VTEP says which
// host it is on. A static entry (a port-secured vEth's own MAC) has no age.
func writeMACTable(w io.Writer, es []api.MACEntry) error {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b api.MACEntry) int {
		return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.MAC, b.MAC))
	})
	t := newTable("Segment", "MAC Address", "Type", "Age", "Port", "VTEP")
	for _, e := range es {
		// Whole seconds, as NX-OS prints the age.
		typ, age := "local", strconv.FormatUint(uint64(max(e.AgeSeconds, 0)), 10)
		switch {
		case e.Static:
			typ, age = "static", ""
		case e.Remote:
			typ = "remote"
		}
		t.Row(e.Segment, e.MAC, typ, age, e.Port, e.VTEP)
	}
	if err := t.Write(w); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "Total MAC Addresses: %d\n", len(es)); err != nil {
		return fmt.Errorf("write MAC table: %w", err)
	}
	return nil
}
