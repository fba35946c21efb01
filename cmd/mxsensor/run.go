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
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

// runConfig is run's section: the agent's settings.
type runConfig struct {
	Iface                string          `mapstructure:"iface"`
	XDPMode              xdpMode         `mapstructure:"xdp-mode"`
	PinDir               string          `mapstructure:"pin-dir"`
	Events               string          `mapstructure:"events"`
	PcapOut              string          `mapstructure:"pcap-out"`
	PcapRotateSize       config.Size     `mapstructure:"pcap-rotate-size"`
	PcapKeep             int             `mapstructure:"pcap-keep"`
	FlushInterval        time.Duration   `mapstructure:"flush-interval"`
	Out                  string          `mapstructure:"out"`
	RejectLog            []string        `mapstructure:"reject-log"`
	AssocMode            assocMode       `mapstructure:"assoc-mode"`
	P0fDB                string          `mapstructure:"p0f-db"`
	TZ                   string          `mapstructure:"tz"`
	EnrichOut            string          `mapstructure:"enrich-out"`
	Resolver             config.HostPort `mapstructure:"resolver"`
	DNSBL                []string        `mapstructure:"dnsbl"`
	ASNTable             string          `mapstructure:"asn-table"`
	PTRTable             string          `mapstructure:"ptr-table"`
	NoCymru              bool            `mapstructure:"no-cymru"`
	NoReport             bool            `mapstructure:"no-report"`
	HeldMemory           config.Size     `mapstructure:"held-memory"`
	storeOptions         `mapstructure:",squash"`
	CPUProfile           string        `mapstructure:"cpuprofile"`
	ReadyFile            string        `mapstructure:"ready-file"`
	DegradedHold         time.Duration `mapstructure:"degraded-hold"`
	Window               time.Duration `mapstructure:"window"`
	Horizon              time.Duration `mapstructure:"horizon"`
	liveDataplaneOptions `mapstructure:",squash"`
	MetricsListen        config.HostPort `mapstructure:"metrics-listen"`
}

// Validate checks what the agent would refuse at start, but the interface.
func (c *runConfig) Validate() error {
	if _, err := c.sensor(); err != nil {
		return err
	}
	if _, err := heldMemory(c.HeldMemory); err != nil {
		return err
	}
	return c.storeOptions.Validate()
}

// sensor is the sensor's configuration (without Prepare).
func (c *runConfig) sensor() (sensor.Config, error) {
	cfg := sensor.DefaultConfig()
	cfg.Iface = c.Iface
	cfg.XDPMode = c.XDPMode.AttachMode
	cfg.PinRoot = c.PinDir
	cfg.ReadyFile = c.ReadyFile
	cfg.FlushInterval = c.FlushInterval
	cfg.DegradedHold = c.DegradedHold
	var err error
	cfg.Dataplane, err = c.liveDataplaneOptions.config()
	return cfg, err
}

// enrich is the enricher's configuration (--enrich-out).
func (c *runConfig) enrich() enrich.Config {
	ecfg := enrich.DefaultConfig()
	ecfg.Resolver = string(c.Resolver)
	ecfg.DNSBLZones = c.DNSBL
	ecfg.ASNTable = c.ASNTable
	if c.NoCymru {
		ecfg.CymruOriginZone, ecfg.CymruOrigin6Zone, ecfg.CymruASNZone = "", "", ""
	}
	return ecfg
}

// pipeline are the live measurement's settings (--out, --db); what run
// has no flag for is the pipeline's default.
func (c *runConfig) pipeline() pipelineOptions {
	a := associate.DefaultConfig()
	return pipelineOptions{Mode: c.AssocMode.Mode, TZ: c.TZ, RejectLog: c.RejectLog, P0fDB: c.P0fDB, SpamWindow: 24 * time.Hour,
		Window: c.Window, Horizon: c.Horizon, MinScore: a.Threshold, Margin: a.Margin,
		ASNTable: c.ASNTable, PTRTable: c.PTRTable, HeldMemory: c.HeldMemory}
}

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run --iface IF",
		Short: "Attach the XDP sensor to an interface and record SYN events until stopped",
		Long: `Loads the XDP program, attaches it to --iface (native mode, falling back to
generic), pins its maps and link under --pin-dir/IF, and writes one JSON line
per SYN to --events until SIGINT or SIGTERM, then detaches.

Needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (and CAP_SYS_ADMIN only if bpffs
must be mounted).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c runConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			if prof := c.CPUProfile; prof != "" {
				stopProfile, err := startCPUProfile(prof)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			cfg, err := c.sensor()
			if err != nil {
				return err
			}
			if cfg.Iface == "" {
				// Before any output is opened (the store creates its file).
				return errors.New("no interface given (--iface)")
			}
			var sinks []sensor.Sink
			if p := c.Events; p != "" {
				j, err := sensor.OpenEvents(p, log.Named("output"))
				if err != nil {
					return err
				}
				sinks = append(sinks, j)
			}
			if p := c.PcapOut; p != "" {
				ps, err := sensor.NewPcapSink(p, int64(c.PcapRotateSize.Bytes()), c.PcapKeep, log.Named("output"))
				if err != nil {
					return err
				}
				sinks = append(sinks, ps)
			}
			// The store: results survive restarts, and a journal of the
			// last minutes of SYNs is replayed after a crash.
			st, err := openStore(c.storeOptions, log, true)
			if err != nil {
				return err
			}
			// A store that a full disk keeps unopened reads as empty, and
			// its journal is not replayed even if it opens before the
			// replay: the results files would not be read back for it.
			replay := st != nil && st.OpenError() == nil
			// With --enrich-out and the pipeline on, the association engine uses
			// what the enricher found (origin AS, confirmed reverse names).
			var names *enrich.NameCache
			if p := c.EnrichOut; p != "" {
				e, err := enrich.New(c.enrich(), log.Named("enrich"))
				if err != nil {
					return err
				}
				if c.Out != "" || st != nil {
					names = enrich.NewNameCache(0)
				}
				es, err := sensor.NewEnrichSink(e, p, log.Named("enrich"), names)
				if err != nil {
					return err
				}
				if st != nil {
					// What earlier agents found: not asked again for an
					// hour, and its names still count as evidence.
					n := 0
					if err := st.Enrichments(time.Now().Add(-24*time.Hour), func(line []byte) {
						if es.Preload(line) {
							n++
						}
					}); err != nil {
						return err
					}
					log.Info("enrichment results restored from the store", zap.Int("addresses", n))
					es.Persist(st.RecordEnrichment)
				}
				sinks = append(sinks, es)
			}
			// The reject logs are read at start, then followed: where to
			// follow them from is settled before the initial read.
			set := rejectlog.NewSet(0)
			var starts map[string]rejectlog.Position
			if logs := c.RejectLog; len(logs) > 0 {
				live, err := liveLogs(logs)
				if err != nil {
					return fmt.Errorf("--reject-log: %w", err)
				}
				starts = followStarts(live, st, log)
			}
			var livePipeline *pipeline.Pipeline
			if dir := c.Out; dir != "" || st != nil {
				var rec pipeline.Recorder
				if st != nil {
					rec = st
				}
				var from time.Time
				if replay {
					if from, err = replayFrom(st); err != nil {
						st.Close()
						return err
					}
				}
				pl, err := newLivePipeline(cmd, c.pipeline(), dir, names, rec, set, func(pc *pipeline.Config) {
					pc.ReplayFrom, pc.Log = from, log.Named("output")
				})
				if err != nil {
					if st != nil {
						st.Close()
					}
					return err
				}
				if replay {
					// Replayed by the sensor once the program is loaded
					// and attached, the metrics listener bound and every
					// file open: a start that fails writes nothing.
					cfg.Prepare = func() error { return replayJournal(st, pl, log) }
				}
				sinks = append(sinks, pl)
				livePipeline = pl
			}
			if st != nil {
				// After the pipeline: closing it flushes its last results
				// into the store, which closes next.
				sinks = append(sinks, st)
			}
			s, err := sensor.New(cfg, log, sinks...)
			if err != nil {
				return err
			}
			stopMetrics, err := startMetrics(string(c.MetricsListen), log, s, sinks)
			if err != nil {
				return err
			}
			defer stopMetrics()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if len(starts) > 0 {
				loc := time.Local
				if tz := c.TZ; tz != "" {
					if loc, err = time.LoadLocation(tz); err != nil {
						return fmt.Errorf("--tz: %w", err)
					}
				}
				// The followers stop before the agent does: their last
				// rejections reach the store before it closes.
				signalled := ctx
				var count func(rejectlog.Counters)
				if livePipeline != nil {
					count = livePipeline.AddRejectLog
				}
				wait := followRejectLogs(signalled, starts, set, st, loc, count, log)
				sctx, scancel := context.WithCancel(context.Background())
				defer scancel()
				go func() {
					<-signalled.Done()
					wait()
					scancel()
				}()
				ctx = sctx
			}
			if err := s.Run(ctx); err != nil {
				return err
			}
			// The live measurement's report, once its files are complete.
			if dir := c.Out; dir != "" && !c.NoReport {
				rcfg, err := reportConfig(reportOptions{ASNTable: c.ASNTable}, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				return writeReports(dir, rcfg, cmd.ErrOrStderr())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("iface", "", "network interface to attach to (required)")
	config.TextVar(f, "xdp-mode", xdpMode{dataplane.AttachAuto}, "XDP attach mode: native, generic or auto (native, falling back to generic)")
	f.String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory for the pinned maps and link (one subdirectory per interface)")
	f.String("events", "-", `write SYN events as JSON lines to this file ("-" = stdout, "" = nowhere)`)
	f.String("pcap-out", "", "also write matched SYNs (rebuilt from their records) to this pcap file")
	config.SizeVar(f, "pcap-rotate-size", "100MiB", "rotate --pcap-out when it reaches this size (0 = never; KiB, MiB, GiB or KB, MB, GB)")
	f.Int("pcap-keep", 10, "rotated --pcap-out generations to keep")
	f.Duration("flush-interval", 200*time.Millisecond, "longest time an event waits in an output buffer")
	f.String("out", "", "also run the measurement live: write DIR/attempts.jsonl and DIR/associations.jsonl as `mxsensor analyze` does")
	f.StringSlice("reject-log", nil, "the production MTA's DNSBL reject log(s) (files or directories): read at start, then followed")
	config.TextVar(f, "assoc-mode", assocMode{associate.ModeFull}, "with --out: association rule, full or naive")
	f.String("p0f-db", "/etc/p0f/p0f.fp", "with --out: p0f v3 database (our built-in signatures are added)")
	f.String("tz", "", "with --out: time zone of reject-log timestamps without one")
	f.String("enrich-out", "", "look up every new source (DNSBL, PTR, origin ASN) in the background and append the answers here as JSON lines")
	config.HostPortVar(f, "resolver", "", "DNS resolver for --enrich-out (host:port; default: /etc/resolv.conf)")
	f.StringSlice("dnsbl", nil, "DNSBL zones to query for --enrich-out")
	f.String("asn-table", "", "offline prefix->ASN TSV table, for --enrich-out and (with --out) the asn evidence")
	f.String("ptr-table", "", `with --out: reverse names ("address name" lines) for the ptr evidence`)
	f.Bool("no-cymru", false, "with --enrich-out, do not query Team Cymru's DNS")
	f.Bool("no-report", false, "with --out: do not write DIR/report.{txt,json,html} at exit")
	addHeldMemoryFlag(cmd)
	addStoreFlags(cmd, "/var/lib/mxsensor/mxsensor.db")
	f.String("cpuprofile", "", "write a Go CPU profile of the agent to this file (for diagnosis)")
	f.String("ready-file", "", "create this file once the program is attached")
	_ = f.MarkHidden("ready-file")
	f.Duration("degraded-hold", 10*time.Second, "report degraded on /healthz this long after the ring last lost records or the pipeline last hit its bound")
	_ = f.MarkHidden("degraded-hold")
	// For tests that must see attempts close within seconds.
	f.Duration("window", 25*time.Second, "with --out: SYNs of one connect() attempt: same source address and port within this window")
	f.Duration("horizon", 30*time.Second, "with --out: largest time between the IPv6 and IPv4 attempts of one delivery")
	_ = f.MarkHidden("window")
	_ = f.MarkHidden("horizon")
	addDataplaneFlags(cmd, true)
	addMetricsFlags(cmd)
	return cmd
}
