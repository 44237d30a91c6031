package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowCountersCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "counters [PORT]",
		Short: "Show packet, byte and drop counters of every port or of PORT",
		Long: `Show the receive and transmit packet and byte counters of every port, or of
PORT (an interface or a Vethernet name), and the packets dropped by reason.`,
		Args: maxArgs(1, "port"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var port string
			if len(args) == 1 {
				port = args[0]
			}
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			cs, err := c.Counters(ctx, port)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), cs, func(w io.Writer) error { return writeCounters(w, cs) })
		},
	}
}

// writeCounters prints a row of traffic counters per port with its total
// drops, then, when any port dropped packets, a row per port and non-zero
// drop reason.
func writeCounters(w io.Writer, cs []api.Counters) error {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	traffic := newTable("Port", "Rx Packets", "Rx Bytes", "Tx Packets", "Tx Bytes", "Drops")
	drops := newTable("Port", "Drop Reason", "Packets")
	anyDrops := false
	for _, c := range cs {
		var total uint64
		for _, reason := range slices.SortedFunc(maps.Keys(c.Drops), cmp.Compare) {
			n := c.Drops[reason]
			if n == 0 {
				continue
			}
			total += n
			anyDrops = true
			drops.Row(c.Port, reason, u(n))
		}
		traffic.Row(c.Port, u(c.RxPackets), u(c.RxBytes), u(c.TxPackets), u(c.TxBytes), u(total))
	}
	if err := traffic.Write(w); err != nil {
		return err
	}
	if !anyDrops {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	return drops.Write(w)
}
