package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

func newShowDPACmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "dpa",
		Short: "Show the Data Path Agent: mode, state (attached, headless), module and the VSMs it hears",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel := o.client(cmd)
			defer cancel()
			d, err := c.DPA(ctx)
			if err != nil {
				return err
			}
			return o.render(cmd.OutOrStdout(), d, func(w io.Writer) error { return writeDPA(w, d) })
		},
	}
}

// writeDPA prints the DPA as a one-row table, then its VSMs (in VSM mode)
// as another.
func writeDPA(w io.Writer, d api.DPA) error {
	module, headless := "", ""
	if d.Module != 0 {
		module = strconv.FormatUint(uint64(d.Module), 10)
	}
	if d.HeadlessSince != nil {
		headless = d.HeadlessSince.UTC().Format(time.RFC3339)
	}
	t := newTable("Mode", "State", "Attached VSM", "Module", "Epoch", "Generation", "Headless since", "Queued port events")
	t.Row(d.Mode, d.State, d.AttachedVSM, module, strconv.FormatUint(d.Epoch, 10), strconv.FormatUint(d.Generation, 10),
		headless, strconv.Itoa(d.QueuedPortEvents))
	if err := t.Write(w); err != nil {
		return err
	}
	if d.Mode != "vsm" {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write DPA: %w", err)
	}
	v := newTable("VSM", "Address", "Role", "State", "Last heartbeat", "Epoch")
	for _, s := range d.VSMs {
		age := ""
		if s.LastHeartbeatAgeMs >= 0 {
			age = (time.Duration(s.LastHeartbeatAgeMs) * time.Millisecond).String() + " ago"
		}
		v.Row(s.Name, s.Address, s.Role, s.State, age, strconv.FormatUint(s.Epoch, 10))
	}
	return v.Write(w)
}
