package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/config"
)

// Output formats of --output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// options are the global flags, shared by every command.
type options struct {
	config  string
	api     string
	output  string
	timeout time.Duration
}

// client returns a client of the VSM's API, found in the VSM file unless
// --api names it, and a context that bounds the command's calls to
// --timeout.
func (o *options) client(cmd *cobra.Command) (*api.Client, context.Context, context.CancelFunc, error) {
	addr := o.api
	if addr == "" {
		cfg, err := config.Load(o.config)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("find the VSM's API: %w", err)
		}
		addr = cfg.API
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	return api.NewClient(addr), ctx, cancel, nil
}

// printJSON writes v indented, for -o json.
func printJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// run executes vsm with args and returns its exit status. An error is
// printed once, to stderr, followed by a pointer to the help when the
// command line itself was wrong.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRootCmd(getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "vsm: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 1
}

func newRootCmd(getenv func(string) string) *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "vsm",
		Short: "The Virtual Supervisor Module of the vem distributed virtual switch",
		Long: `vsm is the supervisor of the vem switch: it holds the network definition
(segments, bridge domains, policy profiles, pre-created ports), the ports
VEMs bind and their dynamic port profiles (vnn<N>), and serves them through
its northbound HTTP/JSON API.

'vsm run' serves a VSM: its northbound API and its VEM sessions (gRPC over
mutual TLS); 'vsm certs init' makes development credentials; the other
commands talk to its API at the api address of the VSM file (--config).
A VSM file of role primary or secondary runs one VSM of an HA pair
('vsm show system redundancy status', 'vsm system switchover').`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(*cobra.Command, []string) error {
			switch o.output {
			case outputTable, outputJSON:
			default:
				return usageErrorf("invalid --output %q: want %s or %s", o.output, outputTable, outputJSON)
			}
			if o.timeout <= 0 {
				return usageErrorf("invalid --timeout %v: want a positive duration", o.timeout)
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	path := getenv("VSM_CONFIG")
	if path == "" {
		path = config.DefaultPath
	}
	flags := root.PersistentFlags()
	flags.StringVar(&o.config, "config", path, "the VSM file (env VSM_CONFIG)")
	flags.StringVar(&o.api, "api", "", "the VSM's API address (host:port), instead of the VSM file's")
	flags.StringVarP(&o.output, "output", "o", outputTable, "output format: table or json")
	flags.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the VSM")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{Err: err} })

	root.AddCommand(newRunCmd(o), newApplyCmd(o), newSyncCmd(o), newShowCmd(o), newSystemCmd(o), newCertsCmd())
	return root
}
