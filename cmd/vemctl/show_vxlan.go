package main

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowVXLANCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vxlan",
		Short: "Show the VXLAN state: tunnel endpoints",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newShowVTEPsCmd(o))
	return cmd
}

func newShowVTEPsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "vteps",
		Short: "Show the local VTEP and the remote VTEPs it tunnels to",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			v, err := c.VTEPs(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), v, func(w io.Writer) error { return writeVTEPs(w, v) })
		},
	}
}

// writeVTEPs prints the local VTEP on a header line, then a remote VTEP
// per row, sorted by address, with the VNIs that flood to it.
func writeVTEPs(w io.Writer, v api.VTEPs) error {
	local := "none configured"
	if v.Local != "" {
		local = v.Local
		if v.Port != 0 {
			local += " UDP port " + strconv.Itoa(v.Port)
		}
	}
	if _, err := fmt.Fprintf(w, "Local VTEP: %s\n\n", local); err != nil {
		return fmt.Errorf("write VTEPs: %w", err)
	}
	rs := slices.Clone(v.Remote)
	slices.SortFunc(rs, func(a, b api.RemoteVTEP) int { return compareAddr(a.Address, b.Address) })
	t := newTable("Remote VTEP", "Bridge Domains", "Next Hop", "Interface", "MACs")
	for _, r := range rs {
		t.Row(r.Address, joinInts(r.BridgeDomains), r.NextHop, r.Interface, strconv.Itoa(r.MACs))
	}
	return t.Write(w)
}

// compareAddr orders IP addresses numerically (198.51.100.10 after
// 198.51.100.9), and anything that does not parse after them by text.
func compareAddr(a, b string) int {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return pa.Compare(pb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// joinInts lists ns comma-separated, ascending.
func joinInts(ns []int) string {
	ns = slices.Clone(ns)
	slices.Sort(ns)
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
