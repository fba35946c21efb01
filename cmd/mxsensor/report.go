package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/report"
	"github.com/mxsensor/mxsensor/internal/results"
)

// reportCmdConfig is report's section.
type reportCmdConfig struct {
	In            string                       `mapstructure:"in"`
	DB            string                       `mapstructure:"db"`
	Format        config.Choice[reportFormats] `mapstructure:"format"`
	Out           string                       `mapstructure:"out"`
	Table         string                       `mapstructure:"table"`
	reportOptions `mapstructure:",squash"`
}

// reportOptions are the settings of addReportFlags.
type reportOptions struct {
	Since    string        `mapstructure:"since"`
	Until    string        `mapstructure:"until"`
	Bucket   time.Duration `mapstructure:"bucket"`
	Top      int           `mapstructure:"top"`
	Compare  string        `mapstructure:"compare"`
	ASNTable string        `mapstructure:"asn-table"`
	Enrich   []string      `mapstructure:"enrich"`
}

// Validate checks the time settings.
func (o reportOptions) Validate() error {
	_, err := o.base()
	return err
}

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report (--in DIR | --db FILE) [--format text|json|csv|html] [--since T --until T]",
		Short: "Tables and figures from a measurement: IPv6 spammers by OS and address type, over time, SYNs, port distance, busy /64s, evidence",
		Long: `report reads DIR/attempts.jsonl and DIR/associations.jsonl (written by analyze or run --out)
and prints the NANOG 62 talk's tables and figures computed from them, plus the busiest /64s
(misbehaving MTAs), the top /48s and origin ASes of IPv6 spammers, the evidence behind the
associations, and, with --compare, a comparison with another run over the same SYNs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c reportCmdConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			src, closeSrc, err := resultsSource(c.In, c.DB)
			if err != nil {
				return err
			}
			defer closeSrc()
			cfg, err := reportConfig(c.reportOptions, log)
			if err != nil {
				return err
			}
			r, err := report.BuildFrom(src, cfg)
			if err != nil {
				return err
			}
			if r.Input.BadLines > 0 {
				log.Warn("bad lines skipped", zap.Int("bad_lines", r.Input.BadLines), zap.Int("too_long", r.Input.TooLongLines),
					zap.Int("max_line", record.MaxLine), zap.String("first", r.Input.FirstBad))
			}
			w := cmd.OutOrStdout()
			if out := c.Out; out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			format := string(c.Format)
			if t := c.Table; t != "" {
				if format != "csv" {
					return errors.New("--table goes with --format csv")
				}
				return report.WriteCSV(w, r, t)
			}
			return report.Write(w, r, format)
		},
	}
	f := cmd.Flags()
	f.String("in", "", "results directory (attempts.jsonl and associations.jsonl)")
	f.String("db", "", "or: the store of run/analyze --db")
	config.ChoiceVar[reportFormats](f, "format", "text", "output format: "+strings.Join(report.Formats, ", "))
	f.String("out", "", "write the report to this file instead of stdout")
	f.String("table", "", "with --format csv: only this table (summary, os, address_types, over_time, syns, port_cdf, busy_64s, spammer_48s, spammer_asns, evidence, scores, comparison)")
	addReportFlags(cmd)
	return cmd
}

// addReportFlags adds the flags that shape a report (shared with analyze).
func addReportFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("since", "", "only attempts from this time on (RFC 3339, or a date 2006-01-02 in UTC)")
	f.String("until", "", "only attempts before this time (RFC 3339, or a date)")
	f.Duration("bucket", 0, "time bucket of the over-time table (default: the finest of 1m, 5m, 15m, 1h, 6h, 1d, 7d giving at most 100 rows)")
	f.Int("top", 10, "rows of the ranked tables")
	f.String("compare", "", "another results directory over the same SYNs (e.g. --mode naive) to compare with")
	if cmd.Flags().Lookup("asn-table") == nil {
		f.String("asn-table", "", "origin AS per prefix (TSV: prefix, asn, name), to name spammers' ASes")
	}
	f.StringSlice("enrich", nil, "enrichment output(s) of run --enrich-out: origin ASes of the addresses looked up")
}

// base is the report's configuration but for the AS names.
func (o reportOptions) base() (report.Config, error) {
	var cfg report.Config
	var err error
	if cfg.Window.Since, err = results.ParseTime(o.Since); err != nil {
		return cfg, fmt.Errorf("--since: %w", err)
	}
	if cfg.Window.Until, err = results.ParseTime(o.Until); err != nil {
		return cfg, fmt.Errorf("--until: %w", err)
	}
	if !cfg.Window.Since.IsZero() && !cfg.Window.Until.IsZero() && !cfg.Window.Until.After(cfg.Window.Since) {
		return cfg, errors.New("--until must be after --since")
	}
	cfg.Bucket = o.Bucket
	if cfg.Bucket < 0 || (cfg.Bucket > 0 && cfg.Bucket < time.Minute) {
		return cfg, errors.New("--bucket must be at least 1m")
	}
	cfg.Top = o.Top
	cfg.Compare = o.Compare
	return cfg, nil
}

// reportConfig is the report's configuration: o's, with the AS names of
// --asn-table and --enrich.
func reportConfig(o reportOptions, log *zap.Logger) (report.Config, error) {
	cfg, err := o.base()
	if err != nil {
		return cfg, err
	}
	var table *enrich.ASNTable
	if p := o.ASNTable; p != "" {
		if table, err = enrich.LoadASNTable(p); err != nil {
			return cfg, fmt.Errorf("--asn-table: %w", err)
		}
	}
	found, err := report.EnrichedASNs(log, o.Enrich...)
	if err != nil {
		return cfg, fmt.Errorf("--enrich: %w", err)
	}
	cfg.ASN = report.ASNFrom(table, found)
	return cfg, nil
}

// writeReports writes the report files into dir.
func writeReports(dir string, cfg report.Config, log *zap.Logger) error {
	files, err := report.WriteFiles(dir, cfg)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	log.Info("report written", zap.String("dir", dir), zap.Strings("files", files))
	return nil
}
