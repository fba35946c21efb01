package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/metrics"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// The store keeps the followers' positions.
var _ rejectlog.PositionStore = (*store.Store)(nil)

// metricsPart serves /metrics, /healthz and /livez.
type metricsPart struct {
	life
	cfg          MetricsConfig
	reg          *prometheus.Registry
	health, live metrics.HealthFunc
	log          *zap.Logger
	srv          *metrics.Server
}

func newMetricsPart(cfg MetricsConfig, reg *prometheus.Registry, health, live metrics.HealthFunc, log *zap.Logger) *metricsPart {
	if cfg.StopWithin <= 0 {
		cfg.StopWithin = 5 * time.Second
	}
	return &metricsPart{life: life{name: "metrics"}, cfg: cfg, reg: reg, health: health, live: live, log: log}
}

func (m *metricsPart) Start() (err error) {
	if err := m.begin(); err != nil {
		return err
	}
	defer func() { m.started(err) }()
	if m.cfg.Listen == "" {
		return nil
	}
	srv := metrics.NewServer(m.reg, m.health, m.live, m.log)
	if err := srv.Start(m.cfg.Listen); err != nil {
		return err
	}
	m.srv = srv
	return nil
}

func (m *metricsPart) Stop() error {
	if !m.end() || m.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopWithin)
	defer cancel()
	// Not fatal: the agent has stopped cleanly all the same.
	if err := m.srv.Stop(ctx); err != nil {
		m.log.Warn("stopping the metrics server", zap.Error(err))
	}
	return nil
}

// storePart is the results store: a sink (the journal) and where the
// pipeline, the enricher and the followers keep what they found.
type storePart struct {
	life
	path   string
	cfg    store.Config
	log    *zap.Logger
	st     atomic.Pointer[store.Store]
	replay bool // opened at start: its journal is replayed
}

func newStorePart(cfg StoreConfig, log *zap.Logger) *storePart {
	c := cfg.Config
	// A file system too full to open the database on does not stop the
	// start: the store opens once space returns, and meanwhile counts what
	// it drops.
	c.CreateDir, c.RetryOpen = true, true
	c.Log = log.Named("store")
	return &storePart{life: life{name: "store"}, path: cfg.Path, cfg: c, log: log}
}

// get is the store, nil before Start.
func (s *storePart) get() *store.Store { return s.st.Load() }

func (s *storePart) Start() (err error) {
	if err := s.begin(); err != nil {
		return err
	}
	defer func() { s.started(err) }()
	st, err := store.Open(s.path, s.cfg)
	if err != nil {
		return err
	}
	s.st.Store(st)
	if err := st.OpenError(); err != nil {
		// Unopened, it reads as empty, and its journal is not replayed
		// even if it opens before the replay: the results files would not
		// be read back for it.
		s.log.Warn("store not open: the file system is full; running without it (journal replay, stored enrichments and "+
			"reject-log positions read as empty), counting the rows dropped, and trying again", zap.String("path", s.path),
			zap.Duration("retry", s.cfg.OpenRetry), zap.Error(err))
	} else {
		s.replay = true
		s.log.Info("store open", zap.String("path", s.path), zap.Duration("flush", s.cfg.FlushInterval), zap.Duration("journal", s.cfg.Journal))
	}
	return nil
}

func (s *storePart) Stop() error {
	if !s.end() {
		return nil
	}
	return s.get().Close()
}

// Write implements sensor.Sink.
func (s *storePart) Write(ev *synevent.Event) error {
	if err := s.use(); err != nil {
		return err
	}
	return s.get().Write(ev)
}

// Flush implements sensor.Sink.
func (s *storePart) Flush() error {
	if err := s.use(); err != nil {
		return err
	}
	return s.get().Flush()
}

// Stats implements metrics.StoreSource (zero before Start).
func (s *storePart) Stats() store.Stats {
	if st := s.get(); st != nil {
		return st.Stats()
	}
	return store.Stats{}
}

// Outputs implements metrics.OutputReporter.
func (s *storePart) Outputs(fn func(name string, dropped uint64, failing bool)) {
	if st := s.get(); st != nil {
		st.Outputs(fn)
	}
}

// outputsPart writes the SYN events as JSON lines and the matched SYNs as
// a pcap file.
type outputsPart struct {
	life
	events string
	pcap   PcapConfig
	log    *zap.Logger
	ev     atomic.Pointer[sensor.JSONLines]
	pc     atomic.Pointer[sensor.PcapSink]
}

func newOutputsPart(events string, pcap PcapConfig, log *zap.Logger) *outputsPart {
	return &outputsPart{life: life{name: "outputs"}, events: events, pcap: pcap, log: log}
}

func (o *outputsPart) Start() (err error) {
	if err := o.begin(); err != nil {
		return err
	}
	defer func() { o.started(err) }()
	if o.events != "" {
		j, err := sensor.OpenEvents(o.events, o.log)
		if err != nil {
			return err
		}
		o.ev.Store(j)
	}
	if o.pcap.Path != "" {
		p, err := sensor.NewPcapSink(o.pcap.Path, o.pcap.RotateSize, o.pcap.Keep, o.log)
		if err != nil {
			return errors.Join(err, o.close())
		}
		o.pc.Store(p)
	}
	return nil
}

func (o *outputsPart) Stop() error {
	if !o.end() {
		return nil
	}
	return o.close()
}

// close closes what Start opened.
func (o *outputsPart) close() error {
	var err error
	if j := o.ev.Load(); j != nil {
		err = j.Close()
	}
	if p := o.pc.Load(); p != nil {
		err = errors.Join(err, p.Close())
	}
	return err
}

// Write implements sensor.Sink. A full disk is not an error: the outputs
// drop and count.
func (o *outputsPart) Write(ev *synevent.Event) error {
	if err := o.use(); err != nil {
		return err
	}
	var err error
	if j := o.ev.Load(); j != nil {
		err = j.Write(ev)
	}
	if p := o.pc.Load(); p != nil {
		err = errors.Join(err, p.Write(ev))
	}
	return err
}

// Flush implements sensor.Sink.
func (o *outputsPart) Flush() error {
	if err := o.use(); err != nil {
		return err
	}
	var err error
	if j := o.ev.Load(); j != nil {
		err = j.Flush()
	}
	if p := o.pc.Load(); p != nil {
		err = errors.Join(err, p.Flush())
	}
	return err
}

// Outputs implements metrics.OutputReporter.
func (o *outputsPart) Outputs(fn func(name string, dropped uint64, failing bool)) {
	if j := o.ev.Load(); j != nil {
		j.Outputs(fn)
	}
	if p := o.pc.Load(); p != nil {
		p.Outputs(fn)
	}
}

// enricherPart looks up every new source in the background (DNSBL, PTR,
// origin AS) and appends the answers to a file, the store and the names
// the association engine uses.
type enricherPart struct {
	life
	cfg   EnrichConfig
	names *enrich.NameCache
	store *storePart // nil without a store
	log   *zap.Logger
	es    atomic.Pointer[sensor.EnrichSink]
}

func newEnricherPart(cfg EnrichConfig, names *enrich.NameCache, st *storePart, log *zap.Logger) *enricherPart {
	return &enricherPart{life: life{name: "enricher"}, cfg: cfg, names: names, store: st, log: log}
}

func (e *enricherPart) Start() (err error) {
	if err := e.begin(); err != nil {
		return err
	}
	defer func() { e.started(err) }()
	en, err := enrich.New(e.cfg.Config, e.log)
	if err != nil {
		return err
	}
	es, err := sensor.NewEnrichSink(en, e.cfg.Out, e.log, e.names)
	if err != nil {
		return err
	}
	e.es.Store(es)
	if e.store == nil {
		return nil
	}
	st := e.store.get()
	// What earlier agents found: not asked again for an hour, and its
	// names still count as evidence.
	n := 0
	if err := st.Enrichments(time.Now().Add(-24*time.Hour), func(line []byte) {
		if es.Preload(line) {
			n++
		}
	}); err != nil {
		return errors.Join(err, es.Close())
	}
	e.log.Info("enrichment results restored from the store", zap.Int("addresses", n))
	es.Persist(st.RecordEnrichment)
	return nil
}

func (e *enricherPart) Stop() error {
	if !e.end() {
		return nil
	}
	return e.es.Load().Close()
}

// Write implements sensor.Sink.
func (e *enricherPart) Write(ev *synevent.Event) error {
	if err := e.use(); err != nil {
		return err
	}
	return e.es.Load().Write(ev)
}

// Flush implements sensor.Sink.
func (e *enricherPart) Flush() error {
	if err := e.use(); err != nil {
		return err
	}
	return e.es.Load().Flush()
}

// Stats implements metrics.EnrichSource (zero before Start).
func (e *enricherPart) Stats() enrich.Stats {
	if es := e.es.Load(); es != nil {
		return es.Stats()
	}
	return enrich.Stats{}
}

// Outputs implements metrics.OutputReporter.
func (e *enricherPart) Outputs(fn func(name string, dropped uint64, failing bool)) {
	if es := e.es.Load(); es != nil {
		es.Outputs(fn)
	}
}

// pipelinePart is the live measurement: attempts, fingerprints,
// associations, written to the results files and the store.
type pipelinePart struct {
	life
	cfg   Config
	set   *rejectlog.Set
	names *enrich.NameCache
	store *storePart
	pub   *publishPart // nil without --publish
	log   *zap.Logger
	pl    atomic.Pointer[pipeline.Pipeline]
	files *results.Writer // the results files (cfg.OutDir), nil without
}

func newPipelinePart(cfg Config, set *rejectlog.Set, names *enrich.NameCache, st *storePart, pub *publishPart, log *zap.Logger) *pipelinePart {
	return &pipelinePart{life: life{name: "pipeline"}, cfg: cfg, set: set, names: names, store: st, pub: pub, log: log}
}

// get is the pipeline, nil before Start.
func (p *pipelinePart) get() *pipeline.Pipeline { return p.pl.Load() }

func (p *pipelinePart) Start() (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func() { p.started(err) }()
	var st *store.Store
	replay := false
	if p.store != nil {
		st, replay = p.store.get(), p.store.replay
	}
	var pub pipeline.ResultSink
	if p.pub != nil {
		pub = p.pub
	}
	pl, rw, err := newPipeline(p.cfg, p.set, p.names, st, replay, pub, p.log)
	if err != nil {
		return err
	}
	p.files = rw
	p.pl.Store(pl)
	return nil
}

// newPipeline builds the live pipeline: the one place that does. Its
// results go to cfg.OutDir's files (if set, returned: closed after the
// pipeline) and to st (if not nil); a store that opened (replay) has its
// journal replayed, so the files' lines of the journal's time are read back
// first and not written twice. pub (if not nil) publishes them.
func newPipeline(cfg Config, set *rejectlog.Set, names *enrich.NameCache, st *store.Store, replay bool, pub pipeline.ResultSink, log *zap.Logger) (*pipeline.Pipeline, *results.Writer, error) {
	pcfg := cfg.Pipeline
	pcfg.Live = true
	switch {
	case names != nil:
		names.Static = cfg.Names
		pcfg.Associate.Names = names
	case cfg.Names != (enrich.StaticNames{}):
		pcfg.Associate.Names = cfg.Names
	}
	var sinks []pipeline.ResultSink
	if st != nil {
		sinks = append(sinks, st)
	}
	if pub != nil {
		sinks = append(sinks, pub)
	}
	var rw *results.Writer
	if cfg.OutDir != "" {
		// With a store, the files are appended to: after a restart the
		// replayed journal adds only what they do not have yet.
		wcfg := results.WriterConfig{Append: st != nil, Live: true, Log: log.Named("output")}
		if replay {
			from, err := replayFrom(st)
			if err != nil {
				return nil, nil, err
			}
			wcfg.ReplayFrom = from
		}
		var err error
		if rw, err = results.OpenWriter(cfg.OutDir, wcfg); err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, rw)
	}
	pl, err := pipeline.New(pcfg, cfg.Fingerprints, set, sinks...)
	if err != nil {
		if rw != nil {
			rw.Close()
		}
		return nil, nil, err
	}
	return pl, rw, nil
}

func (p *pipelinePart) Stop() error {
	if !p.end() {
		return nil
	}
	// Closing emits what is still open and flushes into the files and the
	// store, which stops after; the files close then.
	err := p.get().Close()
	if p.files != nil {
		err = errors.Join(err, p.files.Close())
	}
	return err
}

// Write implements sensor.Sink.
func (p *pipelinePart) Write(ev *synevent.Event) error {
	if err := p.use(); err != nil {
		return err
	}
	return p.get().Write(ev)
}

// Flush implements sensor.Sink.
func (p *pipelinePart) Flush() error {
	if err := p.use(); err != nil {
		return err
	}
	return p.get().Flush()
}

// Pressure implements sensor.Pressured.
func (p *pipelinePart) Pressure() uint64 {
	if pl := p.get(); pl != nil {
		return pl.Pressure()
	}
	return 0
}

// Stats implements metrics.PipelineSource (zero before Start).
func (p *pipelinePart) Stats() pipeline.Stats {
	if pl := p.get(); pl != nil {
		return pl.Stats()
	}
	return pipeline.Stats{}
}

// Outputs implements metrics.OutputReporter.
func (p *pipelinePart) Outputs(fn func(name string, dropped uint64, failing bool)) {
	if p.get() != nil && p.files != nil {
		p.files.Outputs(fn)
	}
}

// rejectLogsPart reads the production MTA's reject logs at start, then
// follows them, so that rejections logged while the agent runs label
// spammers too. The rejections go to the pipeline's set and the store,
// which keeps each follower's position in the same commit.
type rejectLogsPart struct {
	life
	cfg   RejectLogConfig
	set   *rejectlog.Set
	store *storePart
	pub   *publishPart // nil without --publish
	log   *zap.Logger

	mu        sync.Mutex // guards scanned, followers: the metrics read them
	scanned   rejectlog.Counters
	followers []*rejectlog.Follower
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

func newRejectLogsPart(cfg RejectLogConfig, st *storePart, pub *publishPart, log *zap.Logger) *rejectLogsPart {
	window := cfg.Window
	if window <= 0 {
		window = 24 * time.Hour
	}
	set := rejectlog.NewSet(window)
	set.Window = window
	return &rejectLogsPart{life: life{name: "reject logs"}, cfg: cfg, set: set, store: st, pub: pub, log: log}
}

// Counters are the counts of the reject logs read, at start and since.
func (r *rejectLogsPart) Counters() rejectlog.Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.scanned
	for _, f := range r.followers {
		c.Add(f.Counters())
	}
	return c
}

func (r *rejectLogsPart) Start() (err error) {
	if err := r.begin(); err != nil {
		return err
	}
	defer func() { r.started(err) }()
	if len(r.cfg.Paths) == 0 {
		return nil
	}
	loc := r.cfg.Location
	if loc == nil {
		loc = time.Local
	}
	var st *store.Store
	if r.store != nil {
		st = r.store.get()
	}
	// Where to follow from is settled before the initial read: where the
	// store says the last agent stopped, or the end of the file now.
	live, err := rejectlog.LiveFiles(r.cfg.Paths)
	if err != nil {
		return fmt.Errorf("reject logs: %w", err)
	}
	var followers []*rejectlog.Follower
	for _, path := range live {
		fcfg := rejectlog.FollowerConfig{Path: path, Options: rejectlog.Options{Location: loc, Patterns: r.cfg.Patterns}, Log: r.log.Named("rejectlog"),
			Handle: r.handler(path, st)}
		if st != nil {
			fcfg.Positions = st
		}
		f, err := rejectlog.NewFollower(fcfg)
		if err != nil {
			r.log.Warn("reject log: cannot follow", zap.String("file", path), zap.Error(err))
			continue
		}
		followers = append(followers, f)
	}
	total, err := rejectlog.ScanArgs(context.Background(), r.cfg.Paths, rejectlog.Options{Location: loc, Patterns: r.cfg.Patterns},
		rejectlog.WarnDamaged(r.log),
		func(rj rejectlog.Rejection) error {
			r.set.Add(rj)
			return recordRejection(st, r.pub, &rj)
		})
	if err != nil {
		return err
	}
	rejectlog.LogSummary(r.log, total, zap.Int("addresses", r.set.Len()))
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.scanned, r.followers, r.cancel = total, followers, cancel
	r.mu.Unlock()
	for _, f := range followers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := f.Run(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("reject log: following stopped", zap.String("file", f.Path()), zap.Error(err))
			}
		}()
	}
	return nil
}

// handler takes a follower's batch of rejections: into the set and the
// store (the follower then records its position there). The set forgets
// what its window can no longer use.
func (r *rejectLogsPart) handler(path string, st *store.Store) func([]rejectlog.Rejection) error {
	lastExpire := time.Now()
	return func(rs []rejectlog.Rejection) error {
		for i := range rs {
			r.set.Add(rs[i])
			if err := recordRejection(st, r.pub, &rs[i]); err != nil {
				return err
			}
		}
		if len(rs) > 0 {
			r.log.Debug("reject log: new rejections", zap.String("file", path), zap.Int("rejections", len(rs)))
		}
		if time.Since(lastExpire) > 10*time.Minute && r.set.Window > 0 {
			r.set.Expire(time.Now().Add(-r.set.Window - time.Hour))
			lastExpire = time.Now()
		}
		return nil
	}
}

func (r *rejectLogsPart) Stop() error {
	if !r.end() {
		return nil
	}
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
	return nil
}

// sensorPart is the XDP sensor: attach, replay, drain.
type sensorPart struct {
	s *sensor.Sensor
}

func (p *sensorPart) Start() error { return p.s.Start() }
func (p *sensorPart) Stop() error  { return p.s.Stop() }

// replayJournal feeds the SYNs the store journaled before a restart back
// through the pipeline: attempts that were still open when the previous
// process died are completed. It is idempotent: the store drops what it
// has already (unique keys), the results files what they hold (the keys
// read back from their ends, see replayFrom), so a kill -9 at any point
// leaves each attempt once in each output.
func replayJournal(st *store.Store, pl *pipeline.Pipeline, log *zap.Logger) error {
	evs, skipped, err := st.Journal(time.Now().Add(-2 * time.Hour))
	if err != nil {
		return err
	}
	if skipped > 0 {
		log.Warn("journal: records that do not parse were skipped", zap.Int("skipped", skipped))
	}
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		if err := pl.Write(&evs[i]); err != nil {
			return fmt.Errorf("replaying the journal: %w", err)
		}
	}
	if err := pl.Flush(); err != nil {
		return fmt.Errorf("replaying the journal: %w", err)
	}
	log.Info("journal replayed", zap.Int("syns", len(evs)), zap.Time("from", evs[0].Time), zap.Time("to", evs[len(evs)-1].Time))
	return nil
}

// replaySlack is how far before the journal's first SYN the results files
// are read back at start: a line's first_seen may precede the lines
// before it by an attempt's length (lines are in closing order).
const replaySlack = 10 * time.Minute

// replayFrom is where the results files are read back from for the replay
// of st's journal (zero when the journal is empty: nothing to replay).
func replayFrom(st *store.Store) (time.Time, error) {
	t, ok, err := st.JournalStart()
	if err != nil || !ok {
		return time.Time{}, err
	}
	return t.Add(-replaySlack), nil
}
