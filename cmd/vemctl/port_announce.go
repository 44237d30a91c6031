package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newPortAnnounceCmd(o *options) *cobra.Command {
	var iface string
	var pendingOnly bool
	cmd := &cobra.Command{
		Use:   "announce --interface IF [--pending-only]",
		Short: "Announce a vEth's MAC now (RARP and gratuitous ARP into its segment)",
		Long: `Announce the MAC of a vEth port into its segment now, as the agent does when
a port comes up: switches and the other hosts move the MAC to this host.
vem-libvirt asks for it when a domain that migrated in resumes here (the
port of an incoming domain is not announced before); an operator may, for
a domain resumed without vem-libvirt. With --pending-only, only a port whose
announcement is still held is announced.`,
		Example: `  vemctl port announce --interface vnet3`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iface == "" {
				return usageErrorf("missing required flag: --interface")
			}
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			rep, err := c.Announce(ctx, iface, api.AnnounceRequest{PendingOnly: pendingOnly})
			if err != nil {
				return err
			}
			if o.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			switch {
			case !rep.Announced:
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Nothing announced for %s: %s.\n", iface, rep.Reason)
			case rep.WasDeferred:
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Announcing %s (its announcement was held for an incoming domain).\n", iface)
			default:
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Announcing %s.\n", iface)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&iface, "interface", "", "the interface whose port to announce, required")
	cmd.Flags().BoolVar(&pendingOnly, "pending-only", false, "announce only if the port's announcement is held (an incoming domain)")
	return cmd
}
