package main

import (
	"fmt"
	"os"

	"github.com/vem-switch/vem/protocol"
)

// version is this build's version, stamped at link time:
//
//	go build -ldflags "-X main.version=1.2.0" ./cmd/vem-agent
//
// A build without it is "dev".
var version = "dev"

// upgradeCommand runs `vem-agent --version` and `vem-agent upgrade-check`.
func upgradeCommand(args []string) error {
	if args[0] != "upgrade-check" {
		printVersion()
		return nil
	}
	return upgradeCheck(args[1:])
}

// printVersion prints the build's version and the control protocol it
// speaks, the line an upgrade bundle's manifest is checked against:
//
//	vem-agent 1.2.0 protocol 1.0
func printVersion() {
	v := protocol.CurrentVersion()
	fmt.Fprintf(os.Stdout, "vem-agent %s protocol %d.%d\n", version, v.GetMajor(), v.GetMinor())
}

// upgradeCheck is `vem-agent upgrade-check`.
func upgradeCheck(args []string) error {
	return fmt.Errorf("upgrade-check: not built yet (%d arguments)", len(args))
}
