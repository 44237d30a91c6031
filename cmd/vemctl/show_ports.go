package main

import (
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowPortsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "ports",
		Short: "Show the vEth ports and uplink members",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			ps, err := c.Ports(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), ps, func(w io.Writer) error { return writePorts(w, ps) })
		},
	}
}

// writePorts prints ports in the agent's order: vEths by number, then
// the uplink members.
func writePorts(w io.Writer, ps []api.Port) error {
	t := newTable("Port", "Interface", "Ifindex", "Kind", "MAC", "Segment", "Profile", "State", "Source")
	for _, p := range ps {
		ifindex := ""
		if p.Ifindex > 0 {
			ifindex = strconv.Itoa(p.Ifindex)
		}
		t.Row(p.Name, p.Interface, ifindex, p.Kind, p.MAC, p.Segment, p.Profile, p.State, p.Source)
	}
	return t.Write(w)
}
