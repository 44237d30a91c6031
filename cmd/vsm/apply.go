package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

func newApplyCmd(o *options) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or replace the segments, profiles and ports of a network definition",
		Long: `apply sends a network definition to the VSM: segments and profiles in the
agent file's shape, and ports pre-created Neutron-style ({id: UUID, mac,
segment, profile}). The objects it names are created or replaced; the
others stay. Host facts (uplink, vtep, portChannels...) belong to each
host's agent file and are refused. A file ending in .json is JSON, any
other YAML; - reads standard input.`,
		Example: `  vsm apply -f network.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, f, err := readDefinition(cmd, file)
			if err != nil {
				return err
			}
			c, ctx, cancel, err := o.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := c.Apply(ctx, data, f)
			if err != nil {
				return inFile(file, err)
			}
			return o.printResult(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the network definition (YAML or JSON; - for standard input)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func newSyncCmd(o *options) *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "sync -f FILE",
		Short: "Make a network definition the VSM's whole one (a full sync)",
		Long: `sync sends the whole desired network definition, as an orchestrator's
periodic full sync does: what it lacks is deleted, what differs created or
replaced, and the difference is reported. It is all or nothing: a
definition that is invalid, or that would delete what a bound port uses,
changes nothing. --dry-run reports the difference without making it.`,
		Example: `  vsm sync -f network.yaml --dry-run`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, f, err := readDefinition(cmd, file)
			if err != nil {
				return err
			}
			c, ctx, cancel, err := o.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := c.Sync(ctx, data, f, store.SyncOptions{DryRun: dryRun})
			if err != nil {
				return inFile(file, err)
			}
			return o.printResult(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the network definition (YAML or JSON; - for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report the difference without making it")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// readDefinition reads a network definition file, or standard input.
func readDefinition(cmd *cobra.Command, file string) ([]byte, netdef.Format, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read network definition: %w", err)
	}
	if strings.EqualFold(filepath.Ext(file), ".json") {
		return data, netdef.JSON, nil
	}
	return data, netdef.YAML, nil
}

// inFile places the problems of a refused definition in its file, as
// compilers do: "network.yaml:7: segments[1].vlan: ...".
func inFile(file string, err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) || len(ae.Problems) == 0 {
		return err
	}
	if file == "-" {
		file = "<stdin>"
	}
	lines := []string{fmt.Sprintf("%s refused (%d problems):", file, len(ae.Problems))}
	if len(ae.Problems) == 1 {
		lines[0] = file + " refused:"
	}
	for _, p := range ae.Problems {
		loc := file
		if p.Line > 0 {
			loc = fmt.Sprintf("%s:%d", file, p.Line)
		}
		if p.Field != "" {
			loc += ": " + p.Field
		}
		lines = append(lines, fmt.Sprintf("  %s: %s", loc, p.Message))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// printResult prints what a change did.
func (o *options) printResult(w io.Writer, res store.Result) error {
	if o.output == outputJSON {
		return printJSON(w, res)
	}
	verb := "generation"
	if res.DryRun {
		verb = "dry run at generation"
	}
	if !res.Changed() {
		_, err := fmt.Fprintf(w, "%s %d: no change\n", verb, res.Generation)
		return err
	}
	if _, err := fmt.Fprintf(w, "%s %d\n", verb, res.Generation); err != nil {
		return err
	}
	t := newTable("CHANGE", "KIND", "NAME")
	for _, group := range []struct {
		what string
		refs []store.ObjectRef
	}{{"created", res.Created}, {"updated", res.Updated}, {"deleted", res.Deleted}} {
		for _, r := range group.refs {
			t.Row(group.what, string(r.Kind), r.Name)
		}
	}
	return t.Write(w)
}
