package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/offline"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// analyzeConfig is analyze's section.
type analyzeConfig struct {
	Pcap            []string      `mapstructure:"pcap"`
	FromDB          string        `mapstructure:"from-db"`
	RejectLog       []string      `mapstructure:"reject-log"`
	RejectPattern   []string      `mapstructure:"reject-pattern"`
	RejectLogEnd    string        `mapstructure:"reject-log-end"`
	Out             string        `mapstructure:"out"`
	Mode            assocMode     `mapstructure:"mode"`
	HeldMemory      config.Size   `mapstructure:"held-memory"`
	Window          time.Duration `mapstructure:"window"`
	Horizon         time.Duration `mapstructure:"horizon"`
	MinScore        float64       `mapstructure:"min-score"`
	Margin          float64       `mapstructure:"margin"`
	DisableEvidence []string      `mapstructure:"disable-evidence"`
	SpamWindow      time.Duration `mapstructure:"spam-window"`
	TZ              string        `mapstructure:"tz"`
	P0fDB           string        `mapstructure:"p0f-db"`
	Ports           []uint        `mapstructure:"ports"`
	ASNTable        string        `mapstructure:"asn-table"`
	PTRTable        string        `mapstructure:"ptr-table"`
	CPUProfile      string        `mapstructure:"cpuprofile"`
	Shards          int           `mapstructure:"shards"`
	NoReport        bool          `mapstructure:"no-report"`
	Quiet           bool          `mapstructure:"quiet"`
	storeOptions    `mapstructure:",squash"`
	publishOptions  `mapstructure:",squash"`
	PublishTimeout  time.Duration `mapstructure:"publish-timeout"`
}

// Validate checks the held-state budget and the store's bounds.
func (c *analyzeConfig) Validate() error {
	if _, err := heldMemory(c.HeldMemory); err != nil {
		return err
	}
	if _, err := rejectPatterns(c.RejectPattern); err != nil {
		return err
	}
	if _, err := results.ParseTime(c.RejectLogEnd); err != nil {
		return fmt.Errorf("--reject-log-end: %w", err)
	}
	if c.Shards < 0 || c.Shards > maxShards {
		return fmt.Errorf("--shards %d: want 0 (one per core) to %d", c.Shards, maxShards)
	}
	if err := checkAssociation(c.MinScore, c.Margin, c.DisableEvidence); err != nil {
		return err
	}
	if err := c.publishOptions.Validate(); err != nil {
		return err
	}
	if c.PublishTimeout <= 0 && len(c.Publish) > 0 {
		return errors.New("--publish-timeout must be > 0")
	}
	return c.storeOptions.Validate()
}

// minScoreHelp is --min-score's help, analyze's and run's.
const minScoreHelp = "least score of an association (full mode); 0.5 adds the pairs of timing and a common stack alone, right about 3 times in 4"

// checkAssociation checks the association's settings: a threshold no score
// can be on the wrong side of (NaN, or outside [0, 1]) would make every
// attempt associated or none, and an unknown family would switch the
// calibration off while switching nothing else.
func checkAssociation(minScore, margin float64, disable []string) error {
	if !(minScore >= 0 && minScore <= 1) {
		return fmt.Errorf("--min-score %v: want a score from 0 to 1", minScore)
	}
	if !(margin >= 0) || math.IsInf(margin, 0) {
		return fmt.Errorf("--margin %v: want a number of 0 or more", margin)
	}
	for _, f := range disable {
		if !slices.Contains(associate.Families, f) {
			return fmt.Errorf("--disable-evidence %q: not an evidence family (%s)", f, strings.Join(associate.Families, ", "))
		}
	}
	return nil
}

// maxShards bounds --shards: each shard holds about 200 KiB of buffers
// and a goroutine, and more than the cores gain nothing.
const maxShards = 256

// pipeline are the measurement's settings.
func (c *analyzeConfig) pipeline() pipelineOptions {
	shards := c.Shards
	if shards == 0 {
		shards = runtime.GOMAXPROCS(0)
	}
	return pipelineOptions{Mode: c.Mode.Mode, TZ: c.TZ, RejectLog: c.RejectLog, RejectPattern: c.RejectPattern, P0fDB: c.P0fDB, SpamWindow: c.SpamWindow,
		Window: c.Window, Horizon: c.Horizon, MinScore: c.MinScore, Margin: c.Margin, DisableEvidence: c.DisableEvidence,
		ASNTable: c.ASNTable, PTRTable: c.PTRTable, HeldMemory: c.HeldMemory, Shards: shards}
}

// logEnd is when an analysis' measurement ended, for the reject logs'
// classic timestamps, which carry no year: the log's first such line takes
// the latest year that puts it at most a week after it
// (rejectlog.Options.End), so that the mail log of a capture taken years
// ago gets the capture's year. It reads the captures once more, the first
// time the parser asks (a log with years in its timestamps never does).
type logEnd struct {
	given time.Time // --reject-log-end: the captures are not read
	ctx   context.Context
	cfg   offline.Config
	log   *zap.Logger
	once  sync.Once
	t     time.Time
	err   error
}

func newLogEnd(ctx context.Context, given time.Time, cfg offline.Config, log *zap.Logger) *logEnd {
	cfg.Log = log
	return &logEnd{given: given, ctx: ctx, cfg: cfg, log: log}
}

// end is the measurement's end, or now when it has no frame (a warning
// says so).
func (e *logEnd) end() time.Time {
	e.once.Do(func() {
		if !e.given.IsZero() {
			e.t = e.given
			e.log.Info("reject logs: yearless timestamps take their year from --reject-log-end", zap.Time("reject_log_end", e.given))
			return
		}
		t0 := time.Now()
		e.log.Info("reject logs: reading the captures to their end for the year of yearless timestamps")
		end, ok, err := offline.End(e.ctx, e.cfg)
		switch {
		case err != nil && e.ctx.Err() != nil:
			e.t, e.err = time.Now(), fmt.Errorf("interrupted while reading the capture's end for the reject logs' years: %w", e.ctx.Err())
		case err != nil:
			e.t, e.err = time.Now(), fmt.Errorf("reading the capture's end for the reject logs' years: %w", err)
		case !ok:
			e.t = time.Now()
			e.log.Warn("reject logs: the captures read hold no frame; yearless timestamps take their year from now (--reject-log-end sets another time)")
		default:
			e.t = end
			e.log.Info("reject logs: yearless timestamps take their year from the end of the capture",
				zap.Time("capture_end", end), zap.Duration("took", time.Since(t0)))
		}
	})
	return e.t
}

// failed is the error of reading the end, if it was read and failed: the
// analysis stops before a rejection dated from a wrong year is stored.
func (e *logEnd) failed() error {
	if e == nil {
		return nil
	}
	return e.err
}

// pipelineOptions are the settings of the measurement pipeline that
// analyze and run share.
type pipelineOptions struct {
	Mode                        associate.Mode
	TZ                          string
	RejectLog                   []string
	RejectPattern               []string
	P0fDB                       string
	SpamWindow, Window, Horizon time.Duration
	MinScore, Margin            float64
	DisableEvidence             []string
	ASNTable, PTRTable          string
	HeldMemory                  config.Size
	// Shards is pipeline.Config.Shards (run leaves it at 0: the live
	// pipeline groups on its own goroutine).
	Shards int
	// LogEnd is when the reject logs end, for their classic timestamps,
	// which carry no year (nil: now, run's live logs).
	LogEnd *logEnd
}

func newAnalyzeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze --pcap FILE... --reject-log FILE... --out DIR [--mode naive|full]",
		Short: "Group captured SYNs into connect() attempts, associate IPv6 with IPv4 attempts, label IPv6 spammers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c analyzeConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			bar := newProgress(cmd, g, c.Quiet, false, "analyze", c.Pcap)
			log, err := newLogger(g, bar.Writer(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer log.Sync()
			pcaps := c.Pcap
			out := c.Out
			fromDB := c.FromDB
			if (len(pcaps) == 0) == (fromDB == "") || out == "" {
				return errors.New("--out, and --pcap or --from-db (not both), are required")
			}
			// Ctrl-C stops the analysis cleanly: the results so far are flushed.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cmd.SetContext(ctx)
			if prof := c.CPUProfile; prof != "" {
				stopProfile, err := startCPUProfile(prof)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			var ports []uint16
			for _, p := range c.Ports {
				ports = append(ports, uint16(p))
			}
			dp, err := offline.Dataplane(ports)
			if err != nil {
				return err
			}
			st, err := openStore(c.storeOptions)
			if err != nil {
				return err
			}
			if st != nil {
				defer st.Close()
			}
			pub, outbox, err := startPublisher(c, st, log)
			if err != nil {
				return err
			}
			if pub != nil {
				defer outbox.Close()
				defer pub.Stop()
			}
			po := c.pipeline()
			given, _ := results.ParseTime(c.RejectLogEnd) // checked by Validate
			po.LogEnd = newLogEnd(ctx, given, offline.Config{Captures: pcaps, Store: fromDB}, log)
			pl, rw, err := buildPipeline(cmd, log, po, out, st, pub)
			if err != nil {
				return err
			}
			// The results files close after the pipeline has emitted its
			// last records; the first error stops the analysis.
			closeOutputs := func() error {
				if err := pl.Close(); err != nil {
					rw.Close()
					return err
				}
				return rw.Close()
			}
			var sink offline.Sink = pl
			if pub != nil && c.PublishSyns {
				sink = offline.SinkFunc(func(ev *synevent.Event) error {
					return errors.Join(pl.Write(ev), pub.Write(ev))
				})
			}
			bar.Start()
			defer bar.Stop() // also on an error or Ctrl-C: the bar's line ends
			err = offline.Feed(ctx, offline.Config{Captures: pcaps, Merge: true, Dataplane: dp, Store: fromDB, Read: bar.Counter(), Log: log}, sink)
			bar.Stop()
			if err != nil {
				closeOutputs()
				return err
			}
			if err := closeOutputs(); err != nil {
				return err
			}
			if pub != nil {
				if err := awaitPublished(ctx, c, pub, outbox, log); err != nil {
					return err
				}
				pub.Stop() // before the store closes
			}
			if st != nil {
				if err := st.Close(); err != nil {
					return err
				}
			}
			log.Info("analysis done", zap.Stringer("mode", c.Mode.Mode), zap.Inline(pl.Stats()))
			if c.NoReport {
				return nil
			}
			rcfg, err := reportConfig(reportOptions{ASNTable: c.ASNTable}, log)
			if err != nil {
				return err
			}
			return writeReports(out, rcfg, log)
		},
	}
	f := cmd.Flags()
	f.StringSlice("pcap", nil, "capture file(s) of the sensor's SYNs (pcap/pcapng, gzip allowed), read at once and merged by time")
	f.String("from-db", "", "or: the SYN events a sensor's store kept (run --db-sample-syns 1 keeps them all)")
	f.StringSlice("reject-log", nil, "the production MTA's log(s) with DNSBL rejections (files or directories)")
	f.String("reject-log-end", "", "when the reject logs end, for their yearless (classic syslog) timestamps: the first such line takes the latest year that puts it at most a week after this time (RFC 3339, or a date 2006-01-02 in UTC; default: the capture's latest frame)")
	addRejectPatternFlag(cmd)
	f.String("out", "", "output directory for attempts.jsonl and associations.jsonl")
	config.TextVar(f, "mode", assocMode{associate.ModeFull}, "association rule: full (evidence scoring) or naive (the NANOG 62 prototype)")
	addHeldMemoryFlag(cmd)
	f.Duration("window", 25*time.Second, "SYNs of one connect() attempt: same source address and port within this window")
	f.Duration("horizon", 30*time.Second, "largest time between the IPv6 and IPv4 attempts of one delivery")
	f.Float64("min-score", associate.DefaultThreshold, minScoreHelp)
	f.Float64("margin", 1, "full mode: leave an IPv6 attempt unassociated (or associated with the IPv4 address only, when they share it) if two candidates' evidence is this close; 0 = always take the best")
	f.StringSlice("disable-evidence", nil, "switch evidence families off (the score is then the evidence sum's, uncalibrated, and --min-score defaults to 0.5): "+strings.Join(associate.Families, ", "))
	f.Duration("spam-window", 24*time.Hour, "an IPv4 address is blocklisted when rejected within this time of its attempt")
	f.String("tz", "", "time zone of reject-log timestamps without one (default: local)")
	f.String("p0f-db", "/etc/p0f/p0f.fp", "p0f v3 database (our built-in signatures are added)")
	f.UintSlice("ports", []uint{25}, "TCP destination ports of the sensor")
	f.String("asn-table", "", "origin AS per prefix (TSV: prefix, asn, name): the asn evidence (full mode)")
	f.String("ptr-table", "", `reverse names ("address name" lines): the ptr evidence (full mode)`)
	f.String("cpuprofile", "", "write a Go CPU profile of the analysis to this file")
	f.Int("shards", 1, "goroutines grouping and fingerprinting the SYNs, split by source address (1: none apart; 0: one per core); the results are the same")
	f.Bool("no-report", false, "do not write DIR/report.{txt,json,html}")
	addQuietFlag(cmd)
	addStoreFlags(cmd, "")
	addPublishFlags(cmd)
	f.Duration("publish-timeout", 5*time.Minute, "with --publish: how long to wait at the end for the servers to acknowledge every record (else exit non-zero)")
	return cmd
}

// startPublisher starts analyze's publisher (nil without --publish) and
// returns it and its outbox: the store st (--db), else a temporary one
// the caller closes (it removes itself).
func startPublisher(c analyzeConfig, st *store.Store, log *zap.Logger) (*publish.Publisher, *outboxStore, error) {
	d := c
	d.NATSPassword = ""
	pcfg, err := c.publishOptions.config(configDigest(d))
	if err != nil || pcfg == nil {
		return nil, nil, err
	}
	ob := &outboxStore{Store: st}
	if st == nil {
		// No --db: the outbox lives as long as the analysis.
		dir, err := os.MkdirTemp("", "mxsensor-outbox-")
		if err != nil {
			return nil, nil, fmt.Errorf("--publish: %w", err)
		}
		scfg := store.DefaultConfig()
		scfg.Journal, scfg.Retention = 0, 0
		if ob.Store, err = store.Open(filepath.Join(dir, "outbox.db"), scfg); err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("--publish: %w", err)
		}
		ob.dir = dir
	}
	err = ob.SetOutbox(store.OutboxConfig{MaxBytes: pcfg.OutboxSize, DropFirst: publish.DropFirst})
	var pub *publish.Publisher
	if err == nil {
		pub, err = publish.New(pcfg.Config, publish.Dependencies{Outbox: ob.Store, Log: log.Named("publish")})
	}
	if err == nil {
		err = pub.Start()
	}
	if err != nil {
		ob.Close()
		return nil, nil, err
	}
	return pub, ob, nil
}

// outboxStore is analyze's outbox: --db, or a temporary store (dir).
type outboxStore struct {
	*store.Store
	dir string
}

// Close closes a temporary outbox and removes it; --db is closed by its
// owner.
func (o *outboxStore) Close() error {
	if o.dir == "" {
		return nil
	}
	err := o.Store.Close()
	return errors.Join(err, os.RemoveAll(o.dir))
}

// awaitPublished waits until the servers acknowledged every record
// analyze published, at most --publish-timeout.
func awaitPublished(ctx context.Context, c analyzeConfig, pub *publish.Publisher, ob *outboxStore, log *zap.Logger) error {
	if err := ob.Sync(); err != nil {
		return fmt.Errorf("--publish: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.PublishTimeout)
	defer cancel()
	start := time.Now()
	left, err := pub.Wait(ctx)
	st := pub.Stats()
	lost := uint64(0)
	for k, n := range st.Outbox.Dropped {
		if !slices.Contains(publish.DropFirst, k) {
			lost += n
		}
	}
	if err != nil {
		where := "the temporary outbox is discarded: analyze again, or give --db to keep them for a later run"
		if ob.dir == "" {
			where = "they stay in the outbox of " + ob.Path() + " for a later run"
		}
		return fmt.Errorf("--publish: %d records not acknowledged by %s within %s (%s)", left, strings.Join(c.Publish, ","), c.PublishTimeout, where)
	}
	if lost > 0 {
		return fmt.Errorf("--publish: %d records dropped from the full outbox (--outbox-size %s), not published", lost, c.OutboxSize)
	}
	dead := uint64(0)
	for _, n := range st.DeadLetters {
		dead += n
	}
	if dead > 0 {
		return fmt.Errorf("--publish: %d messages refused by the servers for good (permissions, size), not published", dead)
	}
	log.Info("published", zap.Uint64("acknowledged", st.Acknowledged), zap.Uint64("duplicates", st.Duplicates),
		zap.Uint64("retries", st.Retries), zap.Duration("wait", time.Since(start)))
	return nil
}

// measurement are the settings of the measurement shared by analyze and
// run.
type measurement struct {
	cfg      pipeline.Config // Attempt, Associate, HeldMemory
	db       *fingerprint.DB
	names    enrich.StaticNames
	loc      *time.Location // of reject-log timestamps without a zone
	window   time.Duration  // spam window
	patterns []*rejectlog.Pattern
}

// readMeasurement reads the flags of the measurement shared by analyze and
// run, and loads the fingerprint database and the ASN and PTR tables.
func readMeasurement(cmd *cobra.Command, log *zap.Logger, o pipelineOptions) (measurement, error) {
	var m measurement
	var err error
	m.loc = time.Local
	if tz := o.TZ; tz != "" {
		if m.loc, err = time.LoadLocation(tz); err != nil {
			return m, fmt.Errorf("--tz: %w", err)
		}
	}
	// Known spammers: the DNSBL rejections of the production MTA.
	m.window = o.SpamWindow
	if m.patterns, err = rejectPatterns(o.RejectPattern); err != nil {
		return m, err
	}
	if m.db, err = fingerprint.LoadDB(fingerprint.DBConfig{Path: o.P0fDB, Required: cmd.Flags().Changed("p0f-db"), Builtin: true}, log); err != nil {
		return m, err
	}
	acfg := associate.DefaultConfig()
	acfg.Mode = o.Mode
	acfg.Horizon, acfg.Threshold, acfg.Margin = o.Horizon, o.MinScore, o.Margin
	acfg.Disable = map[string]bool{}
	for _, f := range o.DisableEvidence {
		acfg.Disable[f] = true
	}
	if len(acfg.Disable) > 0 {
		// With a family off the score is the evidence sum's, uncalibrated
		// (associate.Uncalibrated): 0.5 is its threshold unless one is given.
		if f, err := openConfig(cmd); err == nil && !f.Given(cmd.Name(), localFlags(cmd), "min-score") {
			acfg.Threshold = 0.5
		}
	}
	if m.names, err = enrich.LoadStaticNames(o.ASNTable, o.PTRTable, log); err != nil {
		return m, err
	}
	gcfg := attempt.DefaultConfig()
	gcfg.Window = o.Window
	held, err := heldMemory(o.HeldMemory)
	if err != nil {
		return m, err
	}
	m.cfg = pipeline.Config{Attempt: gcfg, Associate: acfg, HeldMemory: held, Shards: o.Shards}
	return m, nil
}

// buildPipeline reads the reject logs and sets up analyze's measurement
// pipeline and its sinks: the store st (if not nil) and the results files
// in out (returned: the caller closes them after the pipeline).
// pub (if not nil) publishes the rejections and the results.
func buildPipeline(cmd *cobra.Command, log *zap.Logger, o pipelineOptions, out string, st *store.Store, pub *publish.Publisher) (*pipeline.Pipeline, *results.Writer, error) {
	m, err := readMeasurement(cmd, log, o)
	if err != nil {
		return nil, nil, err
	}
	set := rejectlog.NewSet(m.window)
	if logs := o.RejectLog; len(logs) > 0 {
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ropts := rejectlog.Options{Location: m.loc, Patterns: m.patterns}
		if o.LogEnd != nil {
			ropts.End = o.LogEnd.end
		}
		total, err := rejectlog.ScanArgs(ctx, logs, ropts, rejectlog.WarnDamaged(log), func(r rejectlog.Rejection) error {
			if err := o.LogEnd.failed(); err != nil {
				return err
			}
			set.Add(r)
			if st != nil {
				// The store keeps the rejections too.
				if err := st.RecordRejection(r.IP, r.Time, r.Zone); err != nil {
					return err
				}
			}
			if pub != nil {
				return pub.RecordRejection(&r)
			}
			return nil
		})
		if err == nil {
			err = o.LogEnd.failed()
		}
		if err != nil {
			return nil, nil, err
		}
		rejectlog.LogSummary(log, total, zap.Int("addresses", set.Len()))
	}
	if m.names != (enrich.StaticNames{}) {
		m.cfg.Associate.Names = m.names
	}
	agent.LimitHeap(m.cfg.HeldMemory)
	var sinks []pipeline.ResultSink
	if st != nil {
		sinks = append(sinks, st)
	}
	rw, err := results.OpenWriter(out, results.WriterConfig{})
	if err != nil {
		return nil, nil, err
	}
	sinks = append(sinks, rw)
	if pub != nil {
		sinks = append(sinks, pub)
	}
	pl, err := pipeline.New(m.cfg, m.db, set, sinks...)
	if err != nil {
		rw.Close()
		return nil, nil, err
	}
	return pl, rw, nil
}

// heldMemory reads --held-memory: at least 1 MiB (a few hundred attempts).
func heldMemory(s config.Size) (int64, error) {
	held := s.Bytes()
	if held < 1<<20 {
		return 0, fmt.Errorf("--held-memory: %d bytes is less than the least of 1 MiB", held)
	}
	return int64(held), nil
}

// addHeldMemoryFlag adds --held-memory to a command that runs the pipeline.
func addHeldMemoryFlag(cmd *cobra.Command) {
	config.SizeVar(cmd.Flags(), "held-memory", "256MiB",
		"heap the attempt grouper and the association engine may hold together; a flood of new sources beyond it is handled early and counted (degraded), never exhausts memory")
}

// startCPUProfile starts the Go CPU profiler writing to path.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
