package main

import (
	"errors"
	"flag"
)

// upgradeOptions are the flags of -upgrade.
type upgradeOptions struct {
	enabled bool
	ports   int
}

func addUpgradeFlags(fs *flag.FlagSet) *upgradeOptions {
	o := &upgradeOptions{}
	fs.BoolVar(&o.enabled, "upgrade", false, "measure an agent upgrade by restart (map migration into the fixture build and back) beside a restart into the same build")
	fs.IntVar(&o.ports, "upgrade-ports", 4000, "vEth `count` of the -upgrade topology")
	return o
}

// runUpgrade measures the upgrade at o.ports ports.
func runUpgrade(agentBin string, o *upgradeOptions) error {
	return errors.New("-upgrade: not built yet")
}
