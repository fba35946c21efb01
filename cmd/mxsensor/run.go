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

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

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
			v, err := newViper(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			if prof := v.GetString("cpuprofile"); prof != "" {
				stopProfile, err := startCPUProfile(prof)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			cfg := sensor.DefaultConfig()
			cfg.Iface = v.GetString("iface")
			if cfg.XDPMode, err = dataplane.ParseAttachMode(v.GetString("xdp-mode")); err != nil {
				return err
			}
			cfg.PinRoot = v.GetString("pin-dir")
			cfg.ReadyFile = v.GetString("ready-file")
			cfg.FlushInterval = v.GetDuration("flush-interval")
			cfg.DegradedHold = v.GetDuration("degraded-hold")
			if cfg.Dataplane, err = dataplaneConfig(v, true); err != nil {
				return err
			}
			if cfg.Iface == "" {
				// Before any output is opened (the store creates its file).
				return errors.New("no interface given (--iface)")
			}
			var sinks []sensor.Sink
			if p := v.GetString("events"); p != "" {
				j, err := sensor.OpenEvents(p, log.Named("output"))
				if err != nil {
					return err
				}
				sinks = append(sinks, j)
			}
			if p := v.GetString("pcap-out"); p != "" {
				size, err := sizeFlag(v, "pcap-rotate-size")
				if err != nil {
					return err
				}
				ps, err := sensor.NewPcapSink(p, int64(size), v.GetInt("pcap-keep"), log.Named("output"))
				if err != nil {
					return err
				}
				sinks = append(sinks, ps)
			}
			// The store: results survive restarts, and a journal of the
			// last minutes of SYNs is replayed after a crash.
			st, err := openStore(v, log, true)
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
			if p := v.GetString("enrich-out"); p != "" {
				ecfg := enrich.DefaultConfig()
				ecfg.Resolver = v.GetString("resolver")
				ecfg.DNSBLZones = v.GetStringSlice("dnsbl")
				ecfg.ASNTable = v.GetString("asn-table")
				if v.GetBool("no-cymru") {
					ecfg.CymruOriginZone, ecfg.CymruOrigin6Zone, ecfg.CymruASNZone = "", "", ""
				}
				e, err := enrich.New(ecfg, log.Named("enrich"))
				if err != nil {
					return err
				}
				if v.GetString("out") != "" || st != nil {
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
			if logs := v.GetStringSlice("reject-log"); len(logs) > 0 {
				live, err := liveLogs(logs)
				if err != nil {
					return fmt.Errorf("--reject-log: %w", err)
				}
				starts = followStarts(live, st, log)
			}
			var livePipeline *pipeline.Pipeline
			if dir := v.GetString("out"); dir != "" || st != nil {
				var from time.Time
				if replay {
					if from, err = replayFrom(st); err != nil {
						st.Close()
						return err
					}
				}
				pl, rw, err := newLivePipeline(cmd, log, v, dir, names, st, set, results.WriterConfig{ReplayFrom: from, Log: log.Named("output")})
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
				if rw != nil {
					sinks = append(sinks, resultsFiles{rw})
				}
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
			stopMetrics, err := startMetrics(v, log, s, sinks)
			if err != nil {
				return err
			}
			defer stopMetrics()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if len(starts) > 0 {
				loc := time.Local
				if tz := v.GetString("tz"); tz != "" {
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
			if dir := v.GetString("out"); dir != "" && !v.GetBool("no-report") {
				rcfg, err := reportConfig(v, log)
				if err != nil {
					return err
				}
				return writeReports(dir, rcfg, log)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("iface", "", "network interface to attach to (required)")
	f.String("xdp-mode", "auto", "XDP attach mode: native, generic or auto (native, falling back to generic)")
	f.String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory for the pinned maps and link (one subdirectory per interface)")
	f.String("events", "-", `write SYN events as JSON lines to this file ("-" = stdout, "" = nowhere)`)
	f.String("pcap-out", "", "also write matched SYNs (rebuilt from their records) to this pcap file")
	f.Var(newSizeValue("100MiB"), "pcap-rotate-size", "rotate --pcap-out when it reaches this size (0 = never; KiB, MiB, GiB or KB, MB, GB)")
	f.Int("pcap-keep", 10, "rotated --pcap-out generations to keep")
	f.Duration("flush-interval", 200*time.Millisecond, "longest time an event waits in an output buffer")
	f.String("out", "", "also run the measurement live: write DIR/attempts.jsonl and DIR/associations.jsonl as `mxsensor analyze` does")
	f.StringSlice("reject-log", nil, "the production MTA's DNSBL reject log(s) (files or directories): read at start, then followed")
	f.String("assoc-mode", "full", "with --out: association rule, full or naive")
	f.String("p0f-db", "/etc/p0f/p0f.fp", "with --out: p0f v3 database (our built-in signatures are added)")
	f.String("tz", "", "with --out: time zone of reject-log timestamps without one")
	f.String("enrich-out", "", "look up every new source (DNSBL, PTR, origin ASN) in the background and append the answers here as JSON lines")
	f.String("resolver", "", "DNS resolver for --enrich-out (host:port; default: /etc/resolv.conf)")
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
