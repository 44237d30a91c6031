package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vem-switch/vem/vsm"
	"github.com/vem-switch/vem/vsm/config"
)

func newRunCmd(o *options) *cobra.Command {
	var debug bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the VSM: its state, northbound API and VEM sessions",
		Long: `run loads the VSM file (--config), opens the VSM's state in its dataDir
(created if need be; another vsm on the same dataDir is refused), serves
the northbound API on its api address and, when the file names tls
credentials, VEM sessions (gRPC over mutual TLS) on its listen address,
until SIGINT or SIGTERM.

Every field of the VSM file is checked (name, domain, role, listen, api,
control, management, heartbeatLossInterval, dataDir, tls). The tls
certificate must be this VSM's (vsm certs init makes a development one).
Without tls no VEM is served. A primary or secondary pairs with its peer:
heartbeats over mutual TLS on the control and management paths, and the
standby replicates the active's state over the control path.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(o.config)
			if err != nil {
				return err
			}
			level := zapcore.InfoLevel
			if debug {
				level = zapcore.DebugLevel
			}
			zc := zap.NewProductionConfig()
			zc.Level = zap.NewAtomicLevelAt(level)
			zc.OutputPaths = []string{"stderr"}
			log, err := zc.Build()
			if err != nil {
				return fmt.Errorf("logger: %w", err)
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runVSM(ctx, cfg, log)
		},
	}
	cmd.Flags().BoolVar(&debug, "debug", false, "log every API request")
	return cmd
}

func runVSM(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	sup, err := vsm.New(cfg, log, vsm.Options{})
	if err != nil {
		return err
	}
	return sup.Run(ctx)
}
