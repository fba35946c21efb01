package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/collector"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/store"
)

// collectDefaultMetrics is where the collector serves metrics (beside an
// agent's 9725 on the same host).
const collectDefaultMetrics = "127.0.0.1:9726"

// collectConfig is collect's section.
type collectConfig struct {
	DB               string          `mapstructure:"db"`
	EmbeddedNATS     config.HostPort `mapstructure:"embedded-nats"`
	NATSStore        string          `mapstructure:"nats-store"`
	NATSConfig       string          `mapstructure:"nats-config"`
	NATS             []string        `mapstructure:"nats"`
	natsOptions      `mapstructure:",squash"`
	ExitIdle         time.Duration   `mapstructure:"exit-idle"`
	StreamReplicas   int             `mapstructure:"stream-replicas"`
	StreamMaxAge     time.Duration   `mapstructure:"stream-max-age"`
	StreamMaxBytes   config.Size     `mapstructure:"stream-max-bytes"`
	StreamDuplicates time.Duration   `mapstructure:"stream-duplicates"`
	ListExpire       time.Duration   `mapstructure:"list-expire"`
	ListInterval     time.Duration   `mapstructure:"list-interval"`
	Prefix           int             `mapstructure:"prefix"`
	MinScore         float64         `mapstructure:"min-score"`
	SpamWindow       time.Duration   `mapstructure:"spam-window"`
	Consumer         string          `mapstructure:"consumer"`
	Batch            int             `mapstructure:"batch"`
	MetricsListen    config.HostPort `mapstructure:"metrics-listen"`
}

// Validate checks the settings (--db and the server are checked when the
// command runs: the defaults have neither).
func (c *collectConfig) Validate() error {
	if err := c.natsOptions.Validate(); err != nil {
		return err
	}
	if c.StreamReplicas < 1 || c.Batch < 1 {
		return errors.New("--stream-replicas and --batch must be positive")
	}
	if c.StreamMaxAge <= 0 || c.StreamDuplicates <= 0 || c.ListExpire <= 0 || c.ListInterval <= 0 {
		return errors.New("--stream-max-age, --stream-duplicates, --list-expire and --list-interval must be positive")
	}
	if c.ExitIdle < 0 || c.SpamWindow < 0 {
		return errors.New("--exit-idle and --spam-window must not be negative")
	}
	if c.Consumer != "" {
		if err := fleet.ValidSensorID(c.Consumer); err != nil {
			return fmt.Errorf("--consumer: %w", err)
		}
	}
	_, err := c.listOptions()
	return err
}

func (c *collectConfig) listOptions() (blocklist.Options, error) {
	return listOptions{Prefix: c.Prefix, MinScore: c.MinScore}.options()
}

// collector is the collector's configuration.
func (c *collectConfig) collector() (collector.Config, error) {
	var cfg collector.Config
	if c.DB == "" {
		return cfg, errors.New("--db is required: the collector's store")
	}
	switch {
	case c.EmbeddedNATS != "" && len(c.NATS) > 0:
		return cfg, errors.New("give --embedded-nats or --nats, not both")
	case c.EmbeddedNATS != "":
		if c.NATSStore == "" {
			return cfg, errors.New("--embedded-nats needs --nats-store DIR (its streams and the list's bucket)")
		}
		cfg.Embedded = &fleet.EmbeddedConfig{Listen: string(c.EmbeddedNATS), StoreDir: c.NATSStore, ConfigFile: c.NATSConfig}
	case len(c.NATS) > 0:
		if c.NATSStore != "" || c.NATSConfig != "" {
			return cfg, errors.New("--nats-store and --nats-config go with --embedded-nats")
		}
	default:
		return cfg, errors.New("--embedded-nats HOST:PORT (with --nats-store) or --nats URL is required")
	}
	opts, err := c.listOptions()
	if err != nil {
		return cfg, err
	}
	cfg.DB, cfg.Store = c.DB, store.DefaultConfig()
	cfg.Conn = c.conn(c.NATS, "mxsensor-collector")
	cfg.Stream = fleet.StreamConfig{Replicas: c.StreamReplicas, MaxAge: c.StreamMaxAge, MaxBytes: int64(c.StreamMaxBytes.Bytes()),
		Duplicates: c.StreamDuplicates}
	cfg.List = fleet.ListConfig{Replicas: c.StreamReplicas, Expire: c.ListExpire}
	cfg.ListOptions, cfg.ListInterval = opts, c.ListInterval
	cfg.Durable, cfg.SpamWindow, cfg.ExitIdle, cfg.Batch = c.Consumer, c.SpamWindow, c.ExitIdle, c.Batch
	cfg.MetricsListen, cfg.Version = string(c.MetricsListen), version
	return cfg, cfg.Validate()
}

func newCollectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collect --db FILE (--embedded-nats HOST:PORT --nats-store DIR | --nats URL[,URL]) [--exit-idle 20s]",
		Short: "Collect a network of sensors' records from NATS JetStream into one store, label them fleet-wide and write the shared spammer list",
		Long: `collect consumes the fleet's stream (mxsensor.v1.<sensor>.<kind>, created if absent) with a durable
consumer into its own store (--db, the same schema with each row's sensor id), so that report, blocklist
and dnsbl work on it with --db. An IPv4 address rejected at any sensor's domain is known to all: an IPv6
attempt associated at one sensor with an IPv4 listed at another is a spammer attempt, whichever arrives
first. Every --list-interval it writes the changed entries of the fleet's spammer list (as blocklist
builds it, with the sensors that saw each prefix) to the KV bucket mxsensor-spammers; an entry not
written again for --list-expire expires.
--embedded-nats runs a JetStream server in the collector (a small fleet: nothing else to install);
--nats connects to an external server or cluster with the collector's credentials. --exit-idle stops
after that long without a message (batch use).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c collectConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			cfg, err := c.collector()
			if err != nil {
				return err
			}
			col, err := collector.New(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return col.Run(ctx)
		},
	}
	def := fleet.DefaultStreamConfig()
	f := cmd.Flags()
	f.String("db", "", "the collector's store (created if absent; report, blocklist and dnsbl read it with --db)")
	config.HostPortVar(f, "embedded-nats", "", "run a JetStream server in the collector, listening for sensors on HOST:PORT")
	f.String("nats-store", "", "with --embedded-nats: directory of its streams and buckets")
	f.String("nats-config", "", "with --embedded-nats: a nats-server configuration file (accounts, per-sensor permissions, TLS: see packaging/nats/); without one the embedded server accepts any client, so keep it on a private network")
	f.StringSlice("nats", nil, "or: URL(s) of an external NATS server or cluster (nats://HOST:PORT or tls://)")
	addNATSFlags(cmd)
	f.Duration("exit-idle", 0, "stop after this long without a new message (0: run until SIGINT or SIGTERM)")
	f.Int("stream-replicas", def.Replicas, "replicas of the stream and the list's bucket when created (3 on a cluster)")
	f.Duration("stream-max-age", def.MaxAge, "the stream keeps a message this long when created (collectors must read it by then)")
	config.SizeVar(f, "stream-max-bytes", "10GiB", "the stream's storage bound when created (oldest messages go first)")
	f.Duration("stream-duplicates", def.Duplicates, "the stream's duplicate window when created: a message id sent again within it is dropped")
	f.Duration("list-expire", 30*24*time.Hour, "a list entry not rewritten (no new spammer attempt) for this long expires")
	f.Duration("list-interval", time.Minute, "how often the list's changed entries are written (and once at exit)")
	f.Int("prefix", blocklist.DefaultPrefixLen, "length of the listed IPv6 prefixes (32..128)")
	f.Float64("min-score", blocklist.DefaultMinScore, "lowest association score of a spammer attempt that counts for the list")
	f.Duration("spam-window", 24*time.Hour, "an IPv4 address is blocklisted when rejected at any sensor within this time of its attempt")
	f.String("consumer", collector.DefaultDurable, "name of the collector's durable consumer (a restart resumes from it)")
	f.Int("batch", 500, "most messages committed and acknowledged at once")
	config.HostPortVar(f, "metrics-listen", collectDefaultMetrics, "serve /metrics and /healthz on this address (empty: off)")
	return cmd
}
