package main

import "github.com/vem-switch/vem/internal/cli"

// The shared command-line pieces, under the names this command uses.
type (
	table      = cli.Table
	usageError = cli.UsageError
)

var (
	newTable    = cli.NewTable
	usageErrorf = cli.UsageErrorf
	noArgs      = cli.NoArgs
	maxArgs     = cli.MaxArgs
)
