// Command vem-libvirt keeps vem-agent's ports in step with the VMs libvirt
// runs on this host (package agent/libvirtwatch):
//
//	vem-libvirt [run] [-uri qemu:///system] [-socket /run/vem/default.sock] [-status FILE]
//	vem-libvirt status [-status FILE] [-json]
//
// run connects read-only to libvirt, attaches the vem ports of every
// running domain the agent lacks (hooks missed while the agent was down)
// and detaches those of domains no longer running, then follows libvirt's
// lifecycle, device and metadata events, reconnecting with backoff when
// libvirtd restarts. Each port's state (online, offline, faulted,
// intentional-offline, unknown) is logged on every transition and written
// to the status file, which status prints. When a domain that migrated in
// resumes here (or one is restored), it asks the agent to announce the
// domain's MACs: the ports of an incoming domain are attached while the
// guest still runs on the source, and are not announced before.
//
// It is a daemon of its own, not part of vem-agent, because libvirt's Go
// binding needs cgo and libvirt's library: vem-agent stays a static,
// cgo-free binary that runs on hosts without libvirt.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/agent/libvirtwatch/libvirtconn"
)

// DefaultStatusFile is where run writes the ports' states.
const DefaultStatusFile = "/run/vem/libvirt-status.json"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "vem-libvirt:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return status(args[1:], out)
	}
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("vem-libvirt", flag.ContinueOnError)
	uri := fs.String("uri", libvirtwatch.DefaultURI, "libvirt connection `URI`")
	socket := fs.String("socket", api.DefaultSocket, "vem-agent's API `socket`")
	statusFile := fs.String("status", DefaultStatusFile, "the ports' status `file` (JSON)")
	resync := fs.Duration("resync-interval", 0, "period of the full reconciliation (default 1m)")
	level := zapcore.InfoLevel
	fs.Var(&level, "log-level", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, err := newLogger(level)
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	w, err := libvirtwatch.New(libvirtwatch.Config{
		URI: *uri, Dial: libvirtconn.Dial, Agent: api.NewClient(*socket), Log: log,
		StatusPath: *statusFile, Resync: *resync,
	})
	if err != nil {
		return err
	}
	log.Info("vem-libvirt starting", zap.String("uri", *uri), zap.String("socket", *socket), zap.String("status", *statusFile))
	return w.Run(ctx)
}

func status(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vem-libvirt status", flag.ContinueOnError)
	statusFile := fs.String("status", DefaultStatusFile, "the ports' status `file` written by vem-libvirt run")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := libvirtwatch.ReadStatus(*statusFile)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return libvirtwatch.PrintStatus(out, st)
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
