package agent

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/metrics"
)

// metricsAddress is where the agent serves Prometheus metrics: the
// option, else the file's metrics.address; "" for nowhere.
func (a *Agent) metricsAddress() string {
	if a.opts.MetricsAddress != "" {
		return a.opts.MetricsAddress
	}
	return a.cfg0.MetricsAddress()
}

// serveMetrics serves /metrics until ctx ends, when an address is
// configured. The collector reads the same lock-free views as the local
// API. A serving error is sent on errs.
func (a *Agent) serveMetrics(ctx context.Context, errs chan<- error) error {
	addr := a.metricsAddress()
	if addr == "" {
		return nil
	}
	reg, err := metrics.NewRegistry(metrics.NewCollector(a, a.log), a.reconciles)
	if err != nil {
		return err
	}
	srv, err := metrics.Listen(addr, reg, a.log)
	if err != nil {
		return err
	}
	go func() {
		if err := srv.Serve(); err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	a.log.Info("serving metrics", zap.String("address", srv.Addr().String()))
	return nil
}
