package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/vem-switch/vem/agent"
	"github.com/vem-switch/vem/agent/hostcheck"
)

// errCheckFailed ends `vem-agent check` with status 1 once the report
// has said what is missing.
var errCheckFailed = errors.New("the host is missing what the agent needs (see FAIL above)")

// defaultConfig is the file the check reads when --config is not given;
// its absence is no failure (the host alone is checked).
const defaultConfig = "/etc/vem/vem.yaml"

// checkHost is `vem-agent check`: the host's requirements, and those of
// the configuration file, one line an item.
func checkHost(args []string) error {
	fs := flag.NewFlagSet("vem-agent check", flag.ContinueOnError)
	cfgFile := fs.String("config", defaultConfig, "configuration `file` whose uplink and VSMs to check too")
	timeout := fs.Duration("timeout", 3*time.Second, "how long each network check (VSM, libvirtd) may take")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vem-agent check [--config FILE] [--timeout D]\n\n"+
			"Checks that this host can run the agent: kernel, BTF, tcx, bpffs, and from the file\n"+
			"the uplink and its MTU, libvirtd and the VSMs with the host's certificate.\n"+
			"Exits 1 when something required is missing.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg := hostcheck.Config{Path: *cfgFile}
	if _, err := os.Stat(*cfgFile); err != nil && !explicit && errors.Is(err, os.ErrNotExist) {
		cfg.Path = ""
	} else {
		cfg.Switch, cfg.Err = agent.LoadFile(*cfgFile)
	}
	h := hostcheck.System()
	h.Timeout = *timeout
	rs := h.Run(context.Background(), cfg)
	hostcheck.Print(os.Stdout, rs)
	if hostcheck.Failed(rs) {
		return errCheckFailed
	}
	return nil
}
