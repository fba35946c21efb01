// Package agent is the live agent of `mxsensor run`, assembled from
// components (metrics server, store, outputs, enricher, pipeline, reject-log
// followers, sensor), each with Start and Stop, started in dependency order
// and stopped in reverse.
package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/metrics"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
)

// Config is the agent's configuration: the components' own settings.
type Config struct {
	// Sensor is the XDP sensor's; its Prepare is the agent's (the journal
	// replay).
	Sensor sensor.Config
	// Events receives one JSON line per SYN ("-" = standard output, "" =
	// nowhere).
	Events string
	Pcap   PcapConfig
	Store  StoreConfig
	// OutDir receives attempts.jsonl and associations.jsonl. The
	// measurement pipeline runs when OutDir or Store.Path is set.
	OutDir string
	// Pipeline holds the measurement's settings (Attempt, Associate,
	// HeldMemory); where its results go is the agent's to set.
	Pipeline     pipeline.Config
	Fingerprints *fingerprint.DB
	// Names are the offline ASN and PTR tables (the asn and ptr evidence).
	Names     enrich.StaticNames
	RejectLog RejectLogConfig
	Enrich    EnrichConfig
	Metrics   MetricsConfig
	// Publish, if set, sends the records to the network of sensors; it
	// needs the store (its outbox).
	Publish *PublishConfig
}

// PcapConfig is the capture of the matched SYNs, rebuilt from their records.
type PcapConfig struct {
	Path       string // "" = none
	RotateSize int64  // 0 = never
	Keep       int
}

// StoreConfig is the results store.
type StoreConfig struct {
	Path string // "" = none
	store.Config
}

// RejectLogConfig are the production MTA's reject logs: read at start,
// then followed.
type RejectLogConfig struct {
	Paths    []string // files or directories
	Location *time.Location
	// Window: an IPv4 address is a spammer when rejected within it of its
	// attempt.
	Window time.Duration
	// Patterns are the operator's patterns (--reject-pattern).
	Patterns []*rejectlog.Pattern
}

// EnrichConfig is the background enrichment of every new source.
type EnrichConfig struct {
	Out string // "" = none
	enrich.Config
}

// MetricsConfig is the metrics server.
type MetricsConfig struct {
	Listen  string // "" = off
	Version string // for mxsensor_build_info
	// StopWithin bounds the wait for scrapes in flight at stop; 0 is 5s.
	StopWithin time.Duration
}

// Component is one long-lived part of the agent. Start starts its
// goroutines and returns once it works (or with why it does not); Stop
// stops them and waits. Stop of a component never started does nothing; a
// component used after its Stop refuses with an error wrapping ErrStopped.
type Component interface {
	Start() error
	Stop() error
}

// part is a component and the name it is logged by.
type part struct {
	name string
	c    Component
}

// Agent is the assembled agent.
type Agent struct {
	log     *zap.Logger
	parts   []part // in start order
	started []part // the parts started, in start order
	sensor  *sensor.Sensor
	reg     *prometheus.Registry
	pl      *pipelinePart // nil without the measurement
	st      *storePart    // nil without the store
}

// counters are the components' counters a published status carries.
func (a *Agent) counters() map[string]uint64 {
	m := map[string]uint64{}
	if a.sensor != nil {
		s := a.sensor.Stats()
		m["sensor_events"], m["sensor_written"], m["sensor_sink_errors"] = s.Events, s.Written, s.SinkErrors
	}
	if a.pl != nil {
		s := a.pl.Stats()
		m["pipeline_syns"], m["pipeline_attempts"], m["pipeline_ipv4"], m["pipeline_ipv6"] = s.SYNs, s.Attempts, s.IPv4, s.IPv6
		m["pipeline_associated"], m["pipeline_spammers"] = s.Associated, s.Spammers
		m["pipeline_forced_attempts"], m["pipeline_dropped_ipv4"] = s.ForcedAttempts, s.DroppedIPv4
	}
	if a.st != nil {
		s := a.st.Stats()
		m["store_rows"], m["store_dropped"], m["store_errors"] = s.Rows, s.Dropped, s.Errors
	}
	return m
}

// New builds the agent's components from cfg; nothing is opened or started
// yet.
//
// Start order (Stop is the reverse): the metrics server and the store
// first, then the publisher (its outbox is in the store), the outputs (events, pcap), the enricher and the pipeline
// (which write to the store), the reject logs (read at start, then
// followed; they fill the pipeline's set of spammers and the store), the
// Go heap limit (once those are in memory), and last the sensor: it
// attaches XDP, replays the store's journal through the pipeline and drains
// the ring into the outputs, enricher, pipeline and store. So at stop the
// sensor has drained and flushed before the followers, the pipeline's last
// results reach the store before it closes, and the metrics go last.
func New(cfg Config, log *zap.Logger) (*Agent, error) {
	if log == nil {
		log = zap.NewNop()
	}
	reg, err := metrics.NewRegistry(cfg.Metrics.Version)
	if err != nil {
		return nil, err
	}
	a := &Agent{log: log, reg: reg}
	var pl *pipelinePart
	var st *storePart
	outs := &metrics.Outputs{}
	if err := reg.Register(outs.Collector()); err != nil {
		return nil, err
	}
	var sinks []sensor.Sink
	var parts []part

	if cfg.Store.Path != "" {
		st = newStorePart(cfg.Store, log)
		if err := register(reg, outs, st, metrics.NewStoreCollector(st)); err != nil {
			return nil, err
		}
		parts = append(parts, part{"store", st})
	}
	var pub *publishPart
	if p := cfg.Publish; p != nil {
		if st == nil {
			return nil, errors.New("agent: publishing needs the store (--db): the records wait in its outbox")
		}
		st.cfg.Outbox = store.OutboxConfig{MaxBytes: p.OutboxSize, DropFirst: publish.DropFirst}
		pub = newPublishPart(p.Config, st, a.counters, log.Named("publish"))
		if err := register(reg, nil, nil, metrics.NewPublishCollector(pub)); err != nil {
			return nil, err
		}
		parts = append(parts, part{"publisher", pub})
	}
	if cfg.Events != "" || cfg.Pcap.Path != "" {
		o := newOutputsPart(cfg.Events, cfg.Pcap, log.Named("output"))
		if err := register(reg, outs, o); err != nil {
			return nil, err
		}
		parts = append(parts, part{"outputs", o})
		sinks = append(sinks, o)
	}
	measure := cfg.OutDir != "" || st != nil
	// With enrichment and the pipeline on, the association engine uses
	// what the enricher found (origin AS, confirmed reverse names).
	var names *enrich.NameCache
	if cfg.Enrich.Out != "" {
		if measure {
			names = enrich.NewNameCache(0)
		}
		e := newEnricherPart(cfg.Enrich, names, st, log.Named("enrich"))
		if err := register(reg, outs, e, metrics.NewEnrichCollector(e)); err != nil {
			return nil, err
		}
		parts = append(parts, part{"enricher", e})
		sinks = append(sinks, e)
	}
	if measure {
		if cfg.Fingerprints == nil {
			return nil, errors.New("agent: no fingerprint database")
		}
		rl := newRejectLogsPart(cfg.RejectLog, st, pub, log)
		pl = newPipelinePart(cfg, rl.set, names, st, pub, log)
		if err := register(reg, outs, pl, metrics.NewPipelineCollector(pl)); err != nil {
			return nil, err
		}
		if err := register(reg, nil, nil, metrics.NewRejectLogCollector(rl.Counters)); err != nil {
			return nil, err
		}
		held := cfg.Pipeline.HeldMemory
		parts = append(parts, part{"pipeline", pl}, part{"reject logs", rl},
			part{"heap limit", &step{start: func() { LimitHeap(held) }}})
		sinks = append(sinks, pl)
	}
	if pub != nil && cfg.Publish.SYNs {
		sinks = append(sinks, pub)
	}
	if st != nil {
		// Last: the pipeline's results of an event reach the store in the
		// same pass as the event's journal row.
		sinks = append(sinks, st)
	}
	scfg := cfg.Sensor
	scfg.Prepare = nil
	if pl != nil && st != nil {
		// Replayed once the program is attached, and before any event
		// reaches the sinks: a start that fails writes nothing.
		scfg.Prepare = func() error {
			if !st.replay {
				return nil
			}
			return replayJournal(st.get(), pl.get(), log)
		}
	}
	s, err := sensor.New(scfg, log, sinks...)
	if err != nil {
		return nil, err
	}
	a.sensor = s
	a.pl, a.st = pl, st
	if err := register(reg, nil, nil, metrics.NewAgentCollector(s, scfg.Iface, scfg.Dataplane.Mode.String())); err != nil {
		return nil, err
	}
	m := newMetricsPart(cfg.Metrics, reg, s.Health, s.Healthy, log.Named("metrics"))
	a.parts = append(append([]part{{"metrics", m}}, parts...), part{"sensor", &sensorPart{s: s}})
	return a, nil
}

// register adds a component's collectors and, if it has any, its outputs.
func register(reg prometheus.Registerer, outs *metrics.Outputs, o metrics.OutputReporter, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	if outs != nil && o != nil {
		outs.Add(o)
	}
	return nil
}

// Start starts the components in order. If one fails, those already
// started are stopped, in reverse order, and its error is returned.
func (a *Agent) Start() error {
	if len(a.started) > 0 {
		return errors.New("agent started twice")
	}
	for _, p := range a.parts {
		if err := p.c.Start(); err != nil {
			err = fmt.Errorf("starting the %s: %w", p.name, err)
			return errors.Join(err, a.Stop())
		}
		a.started = append(a.started, p)
	}
	return nil
}

// Stop stops the components started, last first, and logs what each took.
// The sensor's drain is bounded (sensor.Config.StopDrain) and so is the
// metrics server's wait for scrapes (MetricsConfig.StopWithin).
func (a *Agent) Stop() error {
	var errs []error
	times := make([]zap.Field, 0, len(a.started)+1)
	begin := time.Now()
	for i := len(a.started) - 1; i >= 0; i-- {
		p := a.started[i]
		t := time.Now()
		if err := p.c.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the %s: %w", p.name, err))
		}
		times = append(times, zap.Duration(p.name, time.Since(t)))
	}
	if len(a.started) > 0 {
		// Under a flood it must stay well within a supervisor's stop timeout.
		a.log.Info("stop times", append(times, zap.Duration("total", time.Since(begin)))...)
	}
	a.started = nil
	return errors.Join(errs...)
}

// Run starts the agent, runs until ctx is done or the sensor fails, and
// stops it.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(); err != nil {
		return err
	}
	var failed <-chan struct{}
	if a.sensor != nil {
		failed = a.sensor.Done()
	}
	select {
	case <-ctx.Done():
	case <-failed:
	}
	return a.Stop()
}

// Sensor is the agent's XDP sensor (for its health and counters).
func (a *Agent) Sensor() *sensor.Sensor { return a.sensor }

// Gatherer gives the agent's metrics, as /metrics serves them.
func (a *Agent) Gatherer() prometheus.Gatherer { return a.reg }
