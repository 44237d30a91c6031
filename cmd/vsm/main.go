// Command vsm is the Virtual Supervisor Module: `vsm run` serves the
// supervisor's state through its northbound API; the other commands talk
// to that API, found in the VSM file (--config, default
// /etc/vsm/vsm.yaml).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
