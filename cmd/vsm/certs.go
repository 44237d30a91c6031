package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/protocol"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make credentials for VSMs and VEMs",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCertsInitCmd())
	return cmd
}

func newCertsInitCmd() *cobra.Command {
	var dir string
	var vsms, hosts []string
	cmd := &cobra.Command{
		Use:   "init --dir D --vsm NAME... --host NAME...",
		Short: "Write a development CA and certificates for VSMs and hosts",
		Long: `init writes a development certificate authority and a certificate for
every VSM and host into --dir: D/ca.pem, and D/NAME.pem with D/NAME-key.pem
for every name. A VSM's certificate names it as a VSM (it serves VEM
sessions and dials its peer), a host's as a VEM. Existing files are never
overwritten, and the CA's key is not kept: make the whole set again when
hosts change. For development and tests; production uses the site's CA.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf("--dir is required")
			}
			if len(vsms) == 0 {
				return usageErrorf("--vsm is required: name at least one VSM")
			}
			if err := protocol.GenerateDevPKI(dir, vsms, hosts); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\n", filepath.Join(dir, "ca.pem"))
			for _, n := range append(append([]string{}, vsms...), hosts...) {
				fmt.Fprintf(out, "%s %s\n", filepath.Join(dir, n+".pem"), filepath.Join(dir, n+"-key.pem"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "the directory to write into (created if need be)")
	f.StringSliceVar(&vsms, "vsm", nil, "a VSM's name (repeat, or comma-separated)")
	f.StringSliceVar(&hosts, "host", nil, "a host's name, as its agent file's host (repeat, or comma-separated)")
	return cmd
}
