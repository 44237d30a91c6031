package main

import (
	"github.com/spf13/cobra"
)

func newShowCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the VSM's state",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newShowSegmentsCmd(o), newShowProfilesCmd(o), newShowPortsCmd(o),
		newShowPortProfilesCmd(o), newShowBridgeDomainsCmd(o), newShowModuleCmd(o), newShowSystemCmd(o))
	return cmd
}
