package main

import "github.com/spf13/cobra"

func newShowCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the state of the switch on this host",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newShowModuleCmd(o),
		newShowDPACmd(o),
		newShowPortsCmd(o),
		newShowMACTableCmd(o),
		newShowSegmentsCmd(o),
		newShowBridgeDomainsCmd(o),
		newShowVXLANCmd(o),
		newShowPortChannelCmd(o),
		newShowLACPCmd(o),
		newShowCountersCmd(o),
		newShowPortSecurityCmd(o),
	)
	return cmd
}
