package main

import (
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/vsm/api"
)

func newShowModuleCmd(o *options) *cobra.Command {
	fetch := func(c *api.Client, ctx context.Context) ([]api.Module, error) {
		r, err := c.Modules(ctx)
		return r.Modules, err
	}
	cmd := newShow(o, "module", "Show the VSM and its VEMs (modules 1 and 2 are VSMs, VEMs from 3)", fetch, renderModules)
	cmd.Long = `module lists the modules of the switch as the Nexus 1000V does: the VSM
(module 1, or 2 for a secondary) and every VEM it has numbered (3 and up,
a number that stays with the host). A VEM is ok while it is attached and
heartbeating, absent once its session is gone (it forwards headless on
what it had, or it is down). -o json prints
[{"module","host","status","ports","vsm",...}].`
	return cmd
}

// renderModules prints the Nexus 1000V's two tables: the modules, then
// the server (host) of each.
func renderModules(w io.Writer, mods []api.Module) error {
	t := newTable("Mod", "Ports", "Module-Type", "Model", "Status")
	for _, m := range mods {
		status := m.Status
		if m.This {
			status += " *" // the supervisor answering
		}
		t.Row(strconv.Itoa(m.Module), strconv.Itoa(m.Ports), m.Type, m.Model, status)
	}
	if err := t.Write(w); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	s := newTable("Mod", "Server-Name", "VTEP", "VSM", "Config-Generation", "Config-Nack")
	for _, m := range mods {
		var gen string
		if m.Type == api.TypeVEM && m.SentGeneration > 0 {
			gen = strconv.FormatUint(m.Generation, 10) + "/" + strconv.FormatUint(m.SentGeneration, 10)
		}
		s.Row(strconv.Itoa(m.Module), m.Host, m.VTEP, m.VSM, gen, m.Nack)
	}
	if err := s.Write(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n* this terminal session\n")
	return err
}
