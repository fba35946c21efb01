package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/pipeline"
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
	NoReport        bool          `mapstructure:"no-report"`
	storeOptions    `mapstructure:",squash"`
}

// Validate checks the held-state budget and the store's bounds.
func (c *analyzeConfig) Validate() error {
	if _, err := heldMemory(c.HeldMemory); err != nil {
		return err
	}
	return c.storeOptions.Validate()
}

// pipeline are the measurement's settings.
func (c *analyzeConfig) pipeline() pipelineOptions {
	return pipelineOptions{Mode: c.Mode.Mode, TZ: c.TZ, RejectLog: c.RejectLog, P0fDB: c.P0fDB, SpamWindow: c.SpamWindow,
		Window: c.Window, Horizon: c.Horizon, MinScore: c.MinScore, Margin: c.Margin, DisableEvidence: c.DisableEvidence,
		ASNTable: c.ASNTable, PTRTable: c.PTRTable, HeldMemory: c.HeldMemory}
}

// pipelineOptions are the settings of the measurement pipeline that
// analyze and run share.
type pipelineOptions struct {
	Mode                        associate.Mode
	TZ                          string
	RejectLog                   []string
	P0fDB                       string
	SpamWindow, Window, Horizon time.Duration
	MinScore, Margin            float64
	DisableEvidence             []string
	ASNTable, PTRTable          string
	HeldMemory                  config.Size
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
			log, err := newLogger(g, cmd.ErrOrStderr())
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
			st, err := openStore(c.storeOptions)
			if err != nil {
				return err
			}
			if st != nil {
				defer st.Close()
			}
			pl, rw, err := buildPipeline(cmd, log, c.pipeline(), out, st)
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
			mode := c.Mode.Mode
			dp := dataplane.DefaultConfig()
			dp.Mode = dataplane.ModeObserve
			dp.RateLimit = 0 // offline: record every SYN whatever the live limiter would have done
			dp.Ports = nil
			for _, p := range c.Ports {
				dp.Ports = append(dp.Ports, uint16(p))
			}
			if err := dp.Validate(); err != nil {
				closeOutputs()
				return err
			}
			progress := newProgress(cmd.ErrOrStderr(), log, g.LogFormat != "json", pcaps)
			for _, path := range pcaps {
				if err := analyzeCapture(ctx, path, dp, pl, progress); err != nil {
					closeOutputs()
					return err
				}
			}
			if fromDB != "" {
				if err := analyzeStored(ctx, fromDB, pl, log); err != nil {
					closeOutputs()
					return err
				}
			}
			if err := closeOutputs(); err != nil {
				return err
			}
			if st != nil {
				if err := st.Close(); err != nil {
					return err
				}
			}
			progress.done()
			log.Info("analysis done", zap.Stringer("mode", mode), zap.Inline(pl.Stats()))
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
	f.StringSlice("pcap", nil, "capture file(s) of the sensor's SYNs (pcap/pcapng, gzip allowed), in time order")
	f.String("from-db", "", "or: the SYN events a sensor's store kept (run --db-sample-syns 1 keeps them all)")
	f.StringSlice("reject-log", nil, "the production MTA's log(s) with DNSBL rejections (files or directories)")
	f.String("out", "", "output directory for attempts.jsonl and associations.jsonl")
	config.TextVar(f, "mode", assocMode{associate.ModeFull}, "association rule: full (evidence scoring) or naive (the NANOG 62 prototype)")
	addHeldMemoryFlag(cmd)
	f.Duration("window", 25*time.Second, "SYNs of one connect() attempt: same source address and port within this window")
	f.Duration("horizon", 30*time.Second, "largest time between the IPv6 and IPv4 attempts of one delivery")
	f.Float64("min-score", 0.5, "least score of an association (full mode)")
	f.Float64("margin", 1, "full mode: leave an IPv6 attempt unassociated (or associated with the IPv4 address only, when they share it) if two candidates' evidence is this close; 0 = always take the best")
	f.StringSlice("disable-evidence", nil, "switch evidence families off: "+strings.Join(associate.Families, ", "))
	f.Duration("spam-window", 24*time.Hour, "an IPv4 address is blocklisted when rejected within this time of its attempt")
	f.String("tz", "", "time zone of reject-log timestamps without one (default: local)")
	f.String("p0f-db", "/etc/p0f/p0f.fp", "p0f v3 database (our built-in signatures are added)")
	f.UintSlice("ports", []uint{25}, "TCP destination ports of the sensor")
	f.String("asn-table", "", "origin AS per prefix (TSV: prefix, asn, name): the asn evidence (full mode)")
	f.String("ptr-table", "", `reverse names ("address name" lines): the ptr evidence (full mode)`)
	f.String("cpuprofile", "", "write a Go CPU profile of the analysis to this file")
	f.Bool("no-report", false, "do not write DIR/report.{txt,json,html}")
	addStoreFlags(cmd, "")
	return cmd
}

// measurement are the settings of the measurement shared by analyze and
// run.
type measurement struct {
	cfg    pipeline.Config // Attempt, Associate, HeldMemory
	db     *fingerprint.DB
	names  enrich.StaticNames
	loc    *time.Location // of reject-log timestamps without a zone
	window time.Duration  // spam window
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
	if m.db, err = loadFingerprintDB(o.P0fDB, cmd.Flags().Changed("p0f-db"), true, log); err != nil {
		return m, err
	}
	acfg := associate.DefaultConfig()
	acfg.Mode = o.Mode
	acfg.Horizon, acfg.Threshold, acfg.Margin = o.Horizon, o.MinScore, o.Margin
	acfg.Disable = map[string]bool{}
	for _, f := range o.DisableEvidence {
		acfg.Disable[f] = true
	}
	if m.names, err = loadNames(o.ASNTable, o.PTRTable, log); err != nil {
		return m, err
	}
	gcfg := attempt.DefaultConfig()
	gcfg.Window = o.Window
	held, err := heldMemory(o.HeldMemory)
	if err != nil {
		return m, err
	}
	m.cfg = pipeline.Config{Attempt: gcfg, Associate: acfg, HeldMemory: held}
	return m, nil
}

// buildPipeline reads the reject logs and sets up analyze's measurement
// pipeline and its sinks: the store st (if not nil) and the results files
// in out (returned: the caller closes them after the pipeline).
func buildPipeline(cmd *cobra.Command, log *zap.Logger, o pipelineOptions, out string, st *store.Store) (*pipeline.Pipeline, *results.Writer, error) {
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
		total, err := rejectlog.ScanArgs(ctx, logs, rejectlog.Options{Location: m.loc}, warnDamaged(log), func(r rejectlog.Rejection) error {
			set.Add(r)
			if st != nil {
				// The store keeps the rejections too.
				return st.RecordRejection(r.IP, r.Time, r.Zone)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		logRejectSummary(log, total, zap.Int("addresses", set.Len()))
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

// loadNames loads the --asn-table and --ptr-table files (zero when neither
// is given).
func loadNames(asnPath, ptrPath string, log *zap.Logger) (enrich.StaticNames, error) {
	var names enrich.StaticNames
	if asnPath != "" {
		t, err := enrich.LoadASNTable(asnPath)
		if err != nil {
			return names, fmt.Errorf("--asn-table: %w", err)
		}
		if t.BadLines() > 0 {
			log.Warn("bad lines skipped", zap.String("file", asnPath), zap.Int("bad_lines", t.BadLines()), zap.NamedError("first", t.LineErrors()[0]))
		}
		names.ASNs = t
	}
	if ptrPath != "" {
		t, err := enrich.LoadPTRTable(ptrPath)
		if err != nil {
			return names, fmt.Errorf("--ptr-table: %w", err)
		}
		if t.BadLines() > 0 {
			log.Warn("bad lines skipped", zap.String("file", ptrPath), zap.Int("bad_lines", t.BadLines()), zap.NamedError("first", t.LineErrors()[0]))
		}
		names.PTRs = t
	}
	return names, nil
}

// analyzeStored feeds the SYN events a store kept through the pipeline.
func analyzeStored(ctx context.Context, path string, pl *pipeline.Pipeline, log *zap.Logger) error {
	st, err := store.OpenReadOnly(path)
	if err != nil {
		return fmt.Errorf("--from-db: %w", err)
	}
	defer st.Close()
	n := 0
	skipped, err := st.SYNEvents(func(ev *synevent.Event) error {
		n++
		if n&8191 == 0 && ctx.Err() != nil {
			return fmt.Errorf("%s: interrupted after %d SYNs (results so far are written)", path, n)
		}
		return pl.Write(ev)
	})
	if skipped > 0 {
		log.Warn("stored SYN events that do not parse were skipped", zap.String("file", path), zap.Int("skipped", skipped))
	}
	return err
}

func analyzeCapture(ctx context.Context, path string, dp dataplane.Config, pl *pipeline.Pipeline, pr *progress) error {
	r, err := capture.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	er := capture.NewEventReader(r, dp)
	for n := 0; ; n++ {
		ev, err := er.Next()
		if errors.Is(err, io.EOF) {
			pr.fileDone(size, n)
			return nil
		}
		// A cut-off file or one whose next block claims more than a limit:
		// what came before is kept, the rest of this file is lost.
		if errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrLimit) {
			pr.done()
			pr.log.Warn("capture cut short: the SYNs before were kept, the rest of the file is lost", zap.String("file", path), zap.Error(err))
			pr.fileDone(size, n)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := pl.Write(ev); err != nil {
			return err
		}
		if n&8191 == 0 {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: interrupted after %d SYNs (results so far are written)", path, n)
			}
			pr.update(path, r.Offset(), n)
		}
	}
}

// progress shows how far the analysis is: the share of the capture files
// read (by bytes), SYNs so far, their rate and the time left. On a terminal
// in the console log format it is a live line on stderr; otherwise (json,
// or stderr not a terminal) a log record every progressEvery.
type progress struct {
	w          io.Writer
	log        *zap.Logger
	tty        bool
	start      time.Time
	last       time.Time
	totalBytes int64 // of all the capture files
	doneBytes  int64 // of the files finished
	syns       int
}

// progressEvery is how often progress is logged when it is not drawn.
const progressEvery = 10 * time.Second

// newProgress shows progress on w (stderr) when console is set and w is a
// terminal, through log otherwise.
func newProgress(w io.Writer, log *zap.Logger, console bool, paths []string) *progress {
	p := &progress{w: w, log: log, start: time.Now()}
	if f, ok := w.(*os.File); ok && console {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if !p.tty {
		p.last = p.start // the first record after progressEvery
	}
	for _, path := range paths {
		if st, err := os.Stat(path); err == nil {
			p.totalBytes += st.Size()
		}
	}
	return p
}

// update reports that the current file has been read up to off bytes and
// syns SYNs of it handled.
func (p *progress) update(path string, off int64, syns int) {
	now := time.Now()
	if !p.tty {
		if now.Sub(p.last) >= progressEvery {
			p.last = now
			frac, eta := p.fraction(off, now.Sub(p.start))
			p.log.Info("analyze progress", zap.String("file", path), zap.Float64("percent", math.Round(1000*frac)/10),
				zap.Int("syns", p.syns+syns), zap.Duration("left", eta))
		}
		return
	}
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+p.line(path, off, p.syns+syns, now.Sub(p.start))+"\033[K")
}

// fraction is the share of the files read, and the time left at this pace
// (negative while too little is read to tell).
func (p *progress) fraction(off int64, elapsed time.Duration) (float64, time.Duration) {
	frac := 0.0
	if p.totalBytes > 0 && off >= 0 {
		frac = min(1, float64(p.doneBytes+off)/float64(p.totalBytes))
	}
	if frac <= 0.01 {
		return frac, -1
	}
	return frac, (time.Duration(float64(elapsed)/frac) - elapsed).Round(time.Second)
}

// line formats the progress bar.
func (p *progress) line(path string, off int64, syns int, elapsed time.Duration) string {
	const width = 30
	frac, left := p.fraction(off, elapsed)
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	rate := float64(syns) / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if left >= 0 {
		eta = left.String()
	}
	return fmt.Sprintf("%s [%s] %3.0f%%  %d SYNs  %.0f SYN/s  left %s", filepath.Base(path), bar, 100*frac, syns, rate, eta)
}

// fileDone records that a file of size bytes and syns SYNs was read.
func (p *progress) fileDone(size int64, syns int) {
	p.doneBytes += size
	p.syns += syns
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
