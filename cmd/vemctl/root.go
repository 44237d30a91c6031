package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/agent/api"
)

// Output formats of --output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// options are the global flags, shared by every command.
type options struct {
	socket  string
	output  string
	timeout time.Duration
}

// client returns a client for the agent and a context that bounds the
// command's calls to --timeout.
func (o *options) client(cmd *cobra.Command) (*api.Client, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	return api.NewClient(o.socket), ctx, cancel
}

// run executes vemctl with args and returns its exit status. An error is
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
	fmt.Fprintf(stderr, "vemctl: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 1
}

func newRootCmd(getenv func(string) string) *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "vemctl",
		Short: "Show and change the state of the vem virtual switch on this host",
		Long: `vemctl talks to the vem-agent on this host through its local API socket.
It shows the module, its ports, segments, bridge domains, VXLAN tunnel
endpoints, port-channels and their LACP state, MAC table, counters and
port security, and attaches or detaches vEth ports.`,
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
		// run prints the error once; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	socket := getenv("VEM_SOCKET")
	if socket == "" {
		socket = api.DefaultSocket
	}
	flags := root.PersistentFlags()
	flags.StringVar(&o.socket, "socket", socket, "the agent's API socket (env VEM_SOCKET)")
	flags.StringVarP(&o.output, "output", "o", outputTable, "output format: table or json")
	flags.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the agent")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{Err: err} })

	root.AddCommand(newShowCmd(o), newPortCmd(o))
	return root
}
