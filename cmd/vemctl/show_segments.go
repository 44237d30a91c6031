package main

import (
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowSegmentsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "segments",
		Short: "Show the network segments and their ports",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			ss, err := c.Segments(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), ss, func(w io.Writer) error { return writeSegments(w, ss) })
		},
	}
}

// writeSegments prints a segment per row; the ID column is the VLAN of a
// vlan segment and the VNI of a vxlan one.
func writeSegments(w io.Writer, ss []api.Segment) error {
	t := newTable("Segment", "Type", "VLAN/VNI", "Ports")
	for _, s := range ss {
		id := ""
		switch {
		case s.VLAN != 0:
			id = strconv.Itoa(s.VLAN)
		case s.VNI != 0:
			id = strconv.Itoa(s.VNI)
		}
		t.Row(s.Name, s.Type, id, strings.Join(s.Ports, ","))
	}
	return t.Write(w)
}
