package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// UsageError is a mistake in the command line, as opposed to a failure
// of what the command talks to: a tool follows it with a pointer to the
// command's help.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the mistake.
func (e UsageError) Unwrap() error { return e.Err }

// UsageErrorf formats a UsageError.
func UsageErrorf(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// NoArgs rejects positional arguments. On a command with subcommands the
// argument was meant as one, so it says so: cobra would print the help and
// succeed instead.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return UsageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return UsageErrorf("%s takes no arguments, got %s", cmd.CommandPath(), quoteAll(args))
}

// MaxArgs allows at most n positional arguments, named what in errors.
func MaxArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return UsageErrorf("%s takes at most %d %s, got %s", cmd.CommandPath(), n, what, quoteAll(args))
		}
		return nil
	}
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}
