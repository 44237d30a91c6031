package main

import "github.com/vem-switch/vem/internal/cli"

// The shared command-line pieces, under the names this command uses.
type usageError = cli.UsageError

var (
	newTable    = cli.NewTable
	usageErrorf = cli.UsageErrorf
	noArgs      = cli.NoArgs
)
