package main

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowBridgeDomainsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "bridge-domains",
		Short: "Show the VXLAN bridge domains, their VTEPs and ports",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			bds, err := c.BridgeDomains(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), bds, func(w io.Writer) error { return writeBridgeDomains(w, bds) })
		},
	}
}

// writeBridgeDomains prints a bridge domain per row, sorted by VNI, with
// the remote VTEPs it replicates floods to and its local ports.
func writeBridgeDomains(w io.Writer, bds []api.BridgeDomain) error {
	bds = slices.Clone(bds)
	slices.SortFunc(bds, func(a, b api.BridgeDomain) int { return cmp.Compare(a.VNI, b.VNI) })
	t := newTable("VNI", "Segment", "Mode", "MTU", "VTEPs", "Ports")
	for _, bd := range bds {
		mtu := ""
		if bd.MTU != 0 {
			mtu = strconv.Itoa(bd.MTU)
		}
		vteps := slices.Clone(bd.VTEPs)
		slices.SortFunc(vteps, compareAddr)
		t.Row(strconv.Itoa(bd.VNI), bd.Segment, bd.Mode, mtu, strings.Join(vteps, ","), strings.Join(bd.Ports, ","))
	}
	return t.Write(w)
}
