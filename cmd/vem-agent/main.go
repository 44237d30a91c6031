// Command vem-agent is the per-host virtual Ethernet module: it switches
// VM ports with eBPF on the configuration in a local YAML file.
//
//	vem-agent --config /etc/vem/vem.yaml
//	vem-agent check [--config FILE]     # can this host run the agent? (exits 1 if not)
//	vem-agent upgrade --bundle DIR      # in-service upgrade (or downgrade) of the running agent
//
// SIGHUP, or a change of the file, reconciles to the file's new content; a
// file with errors is reported and changes nothing. SIGTERM and SIGINT stop
// the agent and leave the datapath forwarding; the next agent adopts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vem-switch/vem/agent"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/spec"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "vem-agent:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "check" {
		return checkHost(args[1:])
	}
	if len(args) > 0 && args[0] == "upgrade" {
		return upgradeCmd(args[1:])
	}
	if len(args) > 0 && (args[0] == "upgrade-check" || args[0] == "--version" || args[0] == "-version") {
		return upgradeCommand(args)
	}
	fs := flag.NewFlagSet("vem-agent", flag.ContinueOnError)
	cfgFile := fs.String("config", "/etc/vem/vem.yaml", "standalone configuration `file` (YAML)")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "`directory` for state kept across restarts")
	check := fs.Bool("check", false, "validate the configuration file and exit")
	uninstall := fs.Bool("uninstall", false, "detach the instance's programs, delete its pins and exit (forwarding stops)")
	instance := fs.String("instance", "", "with --uninstall: the `name` of the instance to remove (default: the configuration file's)")
	noPeer := fs.Bool("no-redirect-peer", false, "deliver to veth ports through their host end instead of bpf_redirect_peer (for comparison)")
	steer := fs.Bool("steer-veth-flows", false, "enable RPS on veth vEths: no TCP reordering on the VM's veth hop, at some throughput cost")
	resync := fs.Duration("resync-interval", agent.DefaultResyncInterval, "how often the datapath is compared with the configuration and drift repaired")
	metricsAddr := fs.String("metrics-address", "", "serve Prometheus metrics at http://`host:port`/metrics (default: the file's metrics.address; none if neither)")
	takeover := fs.Bool("takeover", false, "run as the successor of the running agent (started by its handover only: vem-agent upgrade)")
	level := zapcore.InfoLevel
	fs.Var(&level, "log-level", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *metricsAddr != "" {
		if err := spec.CheckListenAddress(*metricsAddr); err != nil {
			return fmt.Errorf("--metrics-address: %w", err)
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}

	if *check {
		// The checks the agent applies on this host: limits, interface
		// kinds, the VTEP on the uplink, MTUs. Nothing is written.
		res, err := agent.Check(*cfgFile)
		if err != nil {
			return err
		}
		for _, iface := range res.Absent {
			fmt.Printf("%s: port %s: interface not present; the port waits for it\n", *cfgFile, iface)
		}
		fmt.Printf("%s: ok\n", *cfgFile)
		return nil
	}
	if *uninstall {
		name := *instance
		if name == "" {
			cfg, err := agent.LoadFile(*cfgFile)
			if err != nil {
				return fmt.Errorf("%w (name the instance with --instance)", err)
			}
			name = cfg.Instance
		}
		if err := spec.ValidInstance(name); err != nil {
			return err
		}
		if err := bpf.Remove(name); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(*stateDir, name)); err != nil {
			return err
		}
		fmt.Printf("instance %s removed\n", name)
		return nil
	}

	log, err := newLogger(level)
	if err != nil {
		return err
	}
	defer log.Sync()

	// Signals first: a SIGHUP while the agent starts must not kill it
	// (the default action); it reloads once the agent runs.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	// The host runs the agent, and hands it over to a successor when
	// `vem-agent upgrade` asks; the successor gets these flags.
	h := agent.NewHost(agent.Options{ConfigFile: *cfgFile, StateDir: *stateDir, Log: log, NoPeerRedirect: *noPeer,
		SteerVEthFlows: *steer, ResyncInterval: *resync, MetricsAddress: *metricsAddr}, successorArgs(args))
	go func() {
		for range hup {
			log.Info("SIGHUP: reloading configuration")
			h.Reload()
		}
	}()
	runAgent := h.Run
	if *takeover {
		runAgent = h.Takeover
	}
	if err := runAgent(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("agent stopped; the datapath keeps forwarding")
	return nil
}

// successorArgs are the agent's flags without --takeover: what a
// successor is started with (and --takeover).
func successorArgs(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "takeover" {
			continue
		}
		out = append(out, a)
	}
	return out
}

func newLogger(level zapcore.Level) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	cfg.DisableStacktrace = true
	return cfg.Build()
}
