package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowPortSecurityCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "port-security [PORT]",
		Short: "Show the port security of every vEth or of PORT",
		Long: `Show the port-security policy of every vEth, or of PORT (an interface or a
Vethernet name): whether it holds the port to its MAC and addresses, the
link-local frames it may send, its MAC limit and storm-control rates, its
addresses and allowed address pairs, and the frames port security dropped.`,
		Args: maxArgs(1, "port"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var port string
			if len(args) == 1 {
				port = args[0]
			}
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			ps, err := c.PortSecurity(ctx, port)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), ps, func(w io.Writer) error { return writePortSecurity(w, ps) })
		},
	}
}

// writePortSecurity prints a row of policy per vEth, a row of its limits,
// then, when there are any, a row per address it is bound to and a row
// per port and non-zero drop reason.
func writePortSecurity(w io.Writer, ps []api.PortSecurity) error {
	policy := newTable("Port", "Interface", "Profile", "Security", "Trusted", "Bound", "Link-Local", "Drops")
	limits := newTable("Port", "Learned MACs", "MAC Limit", "Broadcast pps", "Multicast pps", "Unknown Unicast pps")
	addrs := newTable("Port", "Address", "MAC", "Source")
	drops := newTable("Port", "Drop Reason", "Packets")
	for _, p := range ps {
		var total uint64
		for _, reason := range slices.SortedFunc(maps.Keys(p.Drops), cmp.Compare) {
			if n := p.Drops[reason]; n != 0 {
				total += n
				drops.Row(p.Name, reason, strconv.FormatUint(n, 10))
			}
		}
		linkLocal := strings.Join(p.AllowLinkLocal, ",")
		if linkLocal == "" {
			linkLocal = "none"
		}
		policy.Row(p.Name, p.Interface, p.Profile, onOff(p.PortSecurity), yesNo(p.Trusted), yesNo(p.Bound),
			linkLocal, strconv.FormatUint(total, 10))

		learned, limit := "", ""
		if p.MACLimit != nil {
			learned, limit = strconv.Itoa(p.MACLimit.Learned), rate(uint64(max(p.MACLimit.Max, 0)))
		}
		s := p.StormControl
		limits.Row(p.Name, learned, limit, rate(uint64(s.Broadcast)), rate(uint64(s.Multicast)), rate(uint64(s.UnknownUnicast)))

		for _, a := range p.Addresses {
			addrs.Row(p.Name, a, p.MAC, "ip")
		}
		for _, pair := range p.AllowedAddressPairs {
			addrs.Row(p.Name, pair.IP, cmp.Or(pair.MAC, p.MAC), "pair")
		}
	}
	for i, t := range []*table{policy, limits, addrs, drops} {
		if i >= 2 && t.Len() == 0 {
			continue // no addresses, no drops
		}
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return fmt.Errorf("write port security: %w", err)
			}
		}
		if err := t.Write(w); err != nil {
			return err
		}
	}
	return nil
}

// rate prints a limit, of which 0 is none.
func rate(n uint64) string {
	if n == 0 {
		return "none"
	}
	return strconv.FormatUint(n, 10)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
