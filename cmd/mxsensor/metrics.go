package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/metrics"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
)

// addMetricsFlags adds the flags of the agent's metrics server.
func addMetricsFlags(cmd *cobra.Command) {
	config.HostPortVar(cmd.Flags(), "metrics-listen", metrics.DefaultListen,
		`serve Prometheus metrics on /metrics and a health check on /healthz at this address ("" = off; keep it on loopback unless the network is trusted)`)
}

// startMetrics serves the metrics of agent s and of the sinks it writes to
// on --metrics-listen. The returned function stops the server; it is a
// no-op when metrics are off.

func startMetrics(addr string, log *zap.Logger, s *sensor.Sensor, sinks []sensor.Sink) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	reg, err := metrics.NewRegistry(metricsSources(s, sinks))
	if err != nil {
		return nil, err
	}
	srv := metrics.NewServer(reg, s.Health, s.Healthy, log.Named("metrics"))
	if err := srv.Start(addr); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			log.Warn("stopping the metrics server", zap.Error(err))
		}
	}, nil
}

// The sinks metricsSources must recognise.
var (
	_ metrics.PipelineSource = (*pipeline.Pipeline)(nil)
	_ metrics.EnrichSource   = (*sensor.EnrichSink)(nil)
)

// metricsSources are the agent and whichever of its sinks have counters,
// recognised by what they offer: the live pipeline (--out), the enrichment
// sink (--enrich-out) and the store (a metrics.StoreSource).
func metricsSources(s *sensor.Sensor, sinks []sensor.Sink) metrics.Sources {
	cfg := s.Config()
	src := metrics.Sources{Agent: s, Iface: cfg.Iface, ReplyMode: cfg.Dataplane.Mode.String(), Version: version}
	var outs []outputReporter
	for _, sk := range sinks {
		switch x := sk.(type) {
		case metrics.PipelineSource:
			src.Pipeline = x
		case metrics.EnrichSource:
			src.Enricher = x
		}
		if p, ok := sk.(interface{ RejectLogCounters() rejectlog.Counters }); ok {
			src.RejectLog = p.RejectLogCounters
		}
		if st, ok := sk.(metrics.StoreSource); ok {
			src.Store = st
		}
		if o, ok := sk.(outputReporter); ok {
			outs = append(outs, o)
		}
	}
	src.Outputs = func(fn func(name string, dropped uint64, failing bool)) {
		for _, o := range outs {
			o.Outputs(fn)
		}
	}
	return src
}

// outputReporter is a sink whose outputs drop what they cannot write (a
// full disk) and count it: the events and pcap files, the enrichment
// output, the pipeline's results files, the store.
type outputReporter interface {
	Outputs(fn func(name string, dropped uint64, failing bool))
}

// The sinks that must report their outputs.
var (
	_ outputReporter = (*sensor.JSONLines)(nil)
	_ outputReporter = (*sensor.PcapSink)(nil)
	_ outputReporter = (*sensor.EnrichSink)(nil)
	_ outputReporter = (*pipeline.Pipeline)(nil)
	_ outputReporter = (*store.Store)(nil)
)
