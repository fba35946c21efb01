// Package collector is `mxsensor collect`, the collector of a network of
// sensors: it consumes every sensor's records from the fleet's JetStream
// stream into its own store, labels them with the rejections of every
// sensor, and writes the shared spammer list to the fleet's KV bucket. It
// is assembled from components (metrics server, store, embedded NATS
// server, connection, list writer, consumer), started in that order and
// stopped in reverse.
package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/metrics"
	"github.com/mxsensor/mxsensor/internal/store"
)

// Config is the collector's configuration.
type Config struct {
	// DB is the collector's store (created if absent).
	DB    string
	Store store.Config
	// Embedded, if set, runs a JetStream server in the collector (a small
	// fleet: nothing else to install); Conn.URLs are then its own.
	Embedded *fleet.EmbeddedConfig
	// Conn is the connection to an external server or cluster (its URLs
	// and the collector's credentials).
	Conn fleet.ConnConfig
	// Stream are the limits the fleet's stream is created with if absent.
	Stream fleet.StreamConfig
	// List are the limits of the spammer list's bucket (Expire: how long
	// an entry lives after it was last written).
	List fleet.ListConfig
	// ListOptions select the listed prefixes, as `mxsensor blocklist`.
	ListOptions blocklist.Options
	// ListInterval is how often the list is rebuilt and its changed
	// entries written (and once more at stop). 0 is 1 minute.
	ListInterval time.Duration
	// Durable is the name of the collector's durable consumer: a
	// restarted collector resumes where it stopped.
	Durable string
	// SpamWindow: an IPv4 address rejected within it of an attempt is
	// blocklisted (0: at any time), as a sensor's --spam-window.
	SpamWindow time.Duration
	// ExitIdle, if positive, stops the collector once no message came for
	// that long (batch use, tests); Done is then closed.
	ExitIdle time.Duration
	// Batch is the most messages fetched, committed and acknowledged at
	// once. 0 is 500.
	Batch int
	// MetricsListen serves /metrics and /healthz ("" = off).
	MetricsListen string
	// Version is for mxsensor_build_info.
	Version string
}

// DefaultDurable is the default name of the collector's consumer.
const DefaultDurable = "mxsensor-collector"

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DB == "" {
		return errors.New("collector: no store (--db)")
	}
	if c.Embedded == nil {
		if err := c.Conn.Validate(); err != nil {
			return fmt.Errorf("collector: %w", err)
		}
	} else if c.Embedded.StoreDir == "" {
		return errors.New("collector: the embedded server needs a store directory (--nats-store)")
	}
	if c.List.Expire <= 0 {
		return errors.New("collector: the list's expiry must be positive")
	}
	if c.SpamWindow < 0 || c.ExitIdle < 0 || c.ListInterval < 0 || c.Batch < 0 {
		return errors.New("collector: negative durations or batch")
	}
	if c.Durable != "" && fleet.ValidSensorID(c.Durable) != nil {
		return fmt.Errorf("collector: consumer name %q: only letters, digits, '_' and '-'", c.Durable)
	}
	return c.ListOptions.Validate()
}

// component is one part of the collector.
type component struct {
	name        string
	start, stop func() error
}

// Collector is the assembled collector.
type Collector struct {
	cfg   Config
	log   *zap.Logger
	reg   *prometheus.Registry
	parts []component
	up    int // parts started

	st   *store.Store
	emb  *fleet.Embedded
	nc   *nats.Conn
	ncp  atomic.Pointer[nats.Conn] // nc, for the health check
	js   jetstream.JetStream
	cons *consumer
	list *listWriter
	srv  *metrics.Server

	stats Stats

	done     chan struct{}
	doneOnce sync.Once
}

// New builds the collector; nothing is opened or started yet.
func New(cfg Config, log *zap.Logger) (*Collector, error) {
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if cfg.Batch == 0 {
		cfg.Batch = 500
	}
	if cfg.ListInterval == 0 {
		cfg.ListInterval = time.Minute
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	reg, err := metrics.NewRegistry(cfg.Version)
	if err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, log: log, reg: reg, done: make(chan struct{})}
	c.stats.init()
	if err := reg.Register(newMetricsCollector(c)); err != nil {
		return nil, err
	}
	c.cons = newConsumer(c)
	c.list = newListWriter(c)
	c.parts = []component{
		{"metrics", c.startMetrics, c.stopMetrics},
		{"store", c.openStore, c.closeStore},
		{"embedded server", c.startEmbedded, c.stopEmbedded},
		{"connection", c.connect, c.disconnect},
		{"list writer", c.list.Start, c.list.Stop},
		{"consumer", c.cons.Start, c.cons.Stop},
	}
	return c, nil
}

// Start starts the parts in order; if one fails, those started are
// stopped in reverse and its error returned.
func (c *Collector) Start() error {
	if c.up > 0 {
		return errors.New("collector started twice")
	}
	for _, p := range c.parts {
		if err := p.start(); err != nil {
			err = fmt.Errorf("starting the %s: %w", p.name, err)
			return errors.Join(err, c.Stop())
		}
		c.up++
	}
	c.log.Info("collector started", zap.String("db", c.cfg.DB), zap.Strings("nats", c.cfg.Conn.URLs),
		zap.String("consumer", c.cfg.Durable))
	return nil
}

// Stop stops the parts started, last first: the consumer finishes its
// batch, the list writer writes the list once more, the connection
// flushes the acknowledgements, then the server, the store and the
// metrics server stop.
func (c *Collector) Stop() error {
	var errs []error
	for i := c.up - 1; i >= 0; i-- {
		if err := c.parts[i].stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the %s: %w", c.parts[i].name, err))
		}
	}
	if c.up > 0 {
		c.log.Info("collector stopped", c.stats.fields()...)
	}
	c.up = 0
	return errors.Join(errs...)
}

// Run starts the collector, runs until ctx is done, the consumer fails or
// it was idle for Config.ExitIdle, and stops it.
func (c *Collector) Run(ctx context.Context) error {
	if err := c.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-c.done:
	}
	err := c.cons.Err()
	return errors.Join(err, c.Stop())
}

// Done is closed when the collector has been idle for Config.ExitIdle or
// its consumer failed.
func (c *Collector) Done() <-chan struct{} { return c.done }

func (c *Collector) finish() { c.doneOnce.Do(func() { close(c.done) }) }

// Gatherer gives the collector's metrics, as /metrics serves them.
func (c *Collector) Gatherer() prometheus.Gatherer { return c.reg }

// Stats are the collector's counters so far.
func (c *Collector) Stats() StatsSnapshot { return c.stats.snapshot() }

// URLs are the servers the collector connects to (the embedded one's
// once started).
func (c *Collector) URLs() []string { return c.cfg.Conn.URLs }

func (c *Collector) startMetrics() error {
	if c.cfg.MetricsListen == "" {
		return nil
	}
	srv := metrics.NewServer(c.reg, c.healthy, c.healthy, c.log.Named("metrics"))
	if err := srv.Start(c.cfg.MetricsListen); err != nil {
		return err
	}
	c.srv = srv
	return nil
}

func (c *Collector) stopMetrics() error {
	if c.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.srv.Stop(ctx); err != nil {
		c.log.Warn("stopping the metrics server", zap.Error(err))
	}
	c.srv = nil
	return nil
}

// healthy: connected to a server, and the last ingest committed.
func (c *Collector) healthy() (bool, string) {
	if nc := c.ncp.Load(); nc == nil || !nc.IsConnected() {
		return false, "not connected to a NATS server"
	}
	if err := c.cons.Err(); err != nil {
		return false, err.Error()
	}
	if c.stats.ingestFailing.Load() {
		return false, "the store fails to commit"
	}
	return true, ""
}

func (c *Collector) openStore() error {
	cfg := c.cfg.Store
	cfg.Journal = 0 // no SYN journal: the collector replays from its consumer
	cfg.CreateDir = true
	cfg.Log = c.log.Named("store")
	st, err := store.Open(c.cfg.DB, cfg)
	if err != nil {
		return err
	}
	c.st = st
	ids, err := st.Sensors()
	if err != nil {
		st.Close()
		return err
	}
	for _, id := range ids {
		if id != "" {
			c.stats.sawSensor(id)
		}
	}
	return nil
}

func (c *Collector) closeStore() error {
	if c.st == nil {
		return nil
	}
	err := c.st.Close()
	c.st = nil
	return err
}

func (c *Collector) startEmbedded() error {
	if c.cfg.Embedded == nil {
		return nil
	}
	e, err := fleet.StartEmbedded(*c.cfg.Embedded)
	if err != nil {
		return err
	}
	c.emb = e
	c.cfg.Conn.URLs = []string{e.URL()}
	c.log.Info("embedded NATS server started", zap.String("url", e.URL()), zap.String("store", c.cfg.Embedded.StoreDir))
	if c.cfg.Embedded.ConfigFile == "" && !loopback(c.cfg.Embedded.Listen) {
		// Any client could publish as any sensor, or read the stream.
		c.log.Warn("the embedded NATS server accepts any client: give it --nats-config with per-sensor credentials (packaging/nats/), or keep it on a private network",
			zap.String("listen", c.cfg.Embedded.Listen))
	}
	return nil
}

func (c *Collector) stopEmbedded() error {
	if c.emb != nil {
		c.emb.Stop()
		c.emb = nil
	}
	return nil
}

// connect connects and makes sure the stream and the list's bucket exist.
func (c *Collector) connect() error {
	cc := c.cfg.Conn
	if cc.Name == "" {
		cc.Name = "mxsensor-collector"
	}
	nc, err := fleet.Connect(cc, c.log.Named("nats"))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fleet.RetryAPI(ctx, apiTry, func(ctx context.Context) error {
		_, err := fleet.EnsureStream(ctx, js, c.cfg.Stream)
		return err
	}); err != nil {
		nc.Close()
		return err
	}
	c.nc, c.js = nc, js
	c.ncp.Store(nc)
	return nil
}

func (c *Collector) disconnect() error {
	if c.nc == nil {
		return nil
	}
	// The acknowledgements sent last reach the server (a lost one only
	// means a redelivery, which changes nothing).
	if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
		c.log.Warn("flushing the acknowledgements", zap.Error(err))
	}
	c.ncp.Store(nil)
	c.nc.Close()
	c.nc = nil
	return nil
}

// loopback reports whether a listen address is on the loopback interface.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// apiTry is how long one JetStream API request at start may go
// unanswered before it is sent again (fleet.RetryAPI), within the start's
// 30 s.
const apiTry = 5 * time.Second
