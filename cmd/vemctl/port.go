package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

func newPortCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "port",
		Short: "Attach, detach or announce vEth ports",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPortAttachCmd(o), newPortDetachCmd(o), newPortAnnounceCmd(o))
	return cmd
}

func newPortAttachCmd(o *options) *cobra.Command {
	var p spec.Port
	cmd := &cobra.Command{
		Use:   "attach --interface IF --mac MAC --segment SEGMENT [--profile PROFILE] [--ip ADDRESS]...",
		Short: "Attach a VM interface to a segment as a vEth port",
		Example: `  vemctl port attach --interface tap-a --mac 52:54:00:00:00:0a --segment web --profile default
  vemctl port attach --interface tap-b --mac 52:54:00:00:00:0b --segment web --ip 192.0.2.11 --ip 2001:db8::11`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAttach(p); err != nil {
				return err
			}
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			if err := c.Attach(ctx, p); err != nil {
				return err
			}
			if o.output == outputJSON {
				return nil // nothing to report; the exit status says it worked
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "Attached %s to segment %s.\n", p.Interface, p.Segment)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Interface, "interface", "", "the VM's host-side interface (tap), required")
	f.StringVar(&p.MAC, "mac", "", "the VM NIC's MAC address, colon-separated, required")
	f.StringVar(&p.Segment, "segment", "", "the segment to attach to, required")
	f.StringVar(&p.Profile, "profile", "", "the port profile (default: none, admin up without port security)")
	f.StringArrayVar(&p.IPs, "ip", nil, "an IPv4 or IPv6 address of the VM NIC, which port security then allows as a source; repeat for several")
	return cmd
}

// checkAttach names the flags that are missing or malformed before the
// agent is asked, which would name the request's fields instead.
func checkAttach(p spec.Port) error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"--interface", p.Interface}, {"--mac", p.MAC}, {"--segment", p.Segment},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usageErrorf("missing required flag(s): %s", strings.Join(missing, ", "))
	}
	if _, err := spec.ParseMAC(p.MAC); err != nil {
		return usageErrorf("--mac: %w", err)
	}
	for _, ip := range p.IPs {
		if err := api.CheckPortIP(ip); err != nil {
			return usageErrorf("--ip: %w", err)
		}
	}
	return nil
}

func newPortDetachCmd(o *options) *cobra.Command {
	var iface string
	cmd := &cobra.Command{
		Use:   "detach --interface IF",
		Short: "Detach the vEth port of a VM interface",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iface == "" {
				return usageErrorf("missing required flag: --interface")
			}
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			if err := c.Detach(ctx, iface); err != nil {
				return err
			}
			if o.output == outputJSON {
				return nil
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "Detached %s.\n", iface)
			return err
		},
	}
	cmd.Flags().StringVar(&iface, "interface", "", "the interface whose port to detach, required")
	return cmd
}
