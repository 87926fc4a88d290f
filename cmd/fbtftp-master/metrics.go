package main

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
	"github.com/fbtftp-go/fbtftp/internal/version"
)

// gaugeSource hands the master's gauges to the metrics once the master
// exists: metrics must be the master's Observer before master.New.
type gaugeSource struct{ m atomic.Pointer[master.Master] }

func (g *gaugeSource) Counters() master.Snapshot {
	if m := g.m.Load(); m != nil {
		return m.Counters()
	}
	return master.Snapshot{}
}

// withMetrics makes a Prometheus registry the master's observer when
// --metrics-addr is given; start then serves /metrics and /healthz.
type withMetrics struct {
	reg *prometheus.Registry
	src gaugeSource
}

func newMetrics(cfg *master.Config, addr, cacheDir string) *withMetrics {
	if addr == "" {
		return nil
	}
	w := &withMetrics{reg: prometheus.NewRegistry()}
	cfg.Observer = metrics.New(w.reg, &w.src, version.String())
	if cacheDir != "" {
		metrics.RegisterCache(w.reg, cacheDir)
	}
	return w
}

// start serves the endpoints until ctx ends.
func (w *withMetrics) start(ctx context.Context, addr string, m *master.Master, log *zap.Logger) error {
	if w == nil {
		return nil
	}
	w.src.m.Store(m)
	bound, err := metrics.Serve(ctx, addr, metrics.Handler(w.reg, m.Accepting))
	if err != nil {
		return err
	}
	log.Info("metrics listening", zap.Stringer("address", bound))
	return nil
}
