package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/results"
)

// rejectlogConfig is rejectlog's section.
type rejectlogConfig struct {
	TZ            string   `mapstructure:"tz"`
	End           string   `mapstructure:"end"`
	Follow        string   `mapstructure:"follow"`
	Out           string   `mapstructure:"out"`
	State         string   `mapstructure:"state"`
	RejectPattern []string `mapstructure:"reject-pattern"`
}

// Validate compiles the patterns and checks --end.
func (c *rejectlogConfig) Validate() error {
	if _, err := results.ParseTime(c.End); err != nil {
		return fmt.Errorf("--end: %w", err)
	}
	if c.End != "" && c.Follow != "" {
		return errors.New("--end is for logs read after the fact, not --follow")
	}
	_, err := rejectPatterns(c.RejectPattern)
	return err
}

// addRejectPatternFlag adds --reject-pattern to a command that reads
// reject logs. A pattern may hold commas: the flag is not split at them.
func addRejectPatternFlag(cmd *cobra.Command) {
	cmd.Flags().StringArray("reject-pattern", nil, "your own DNSBL rejection lines: a Go regular expression matched against each line no built-in parser knows, "+
		"with the group (?P<ip>...) and optionally (?P<zone>...) and (?P<ts>...) (repeatable; see docs/rejectlog.md)")
}

// rejectPatterns compiles --reject-pattern; the error names each pattern
// that is wrong.
func rejectPatterns(srcs []string) ([]*rejectlog.Pattern, error) {
	ps, err := rejectlog.CompilePatterns(srcs)
	if err != nil {
		return nil, fmt.Errorf("--reject-pattern: %w", err)
	}
	return ps, nil
}

func newRejectlogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rejectlog FILE|DIR...",
		Short: "Extract DNSBL rejections from Postfix, postscreen, Exim, Sendmail and rspamd logs as JSON lines",
		Long: `Reads MTA logs (plain or gzip; a directory means every rotation set in it,
oldest generation first) and prints one JSON line per DNSBL rejection with
the keys ts, ip, zone and mta (plus zone_kind, rank and reason when
present). zone_kind says the zone is not a DNS zone but what the line names:
a list's name (name), a URL's host (url) or an rspamd symbol (symbol). A
summary of lines read, matched (pattern_rejections: by --reject-pattern) and
skipped goes to stderr.

--reject-pattern adds your own forms of rejection lines, tried after the
built-in ones (see docs/rejectlog.md).

With --follow FILE it keeps following a live log across rotation (rename
and copytruncate). With --out and --state it delivers every rejection
exactly once to --out, also across crashes and restarts.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var c rejectlogConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			loc := time.Local
			if tz := c.TZ; tz != "" {
				if loc, err = time.LoadLocation(tz); err != nil {
					return fmt.Errorf("--tz: %w", err)
				}
			}
			pats, err := rejectPatterns(c.RejectPattern)
			if err != nil {
				return err
			}
			opts := rejectlog.Options{Location: loc, Patterns: pats}
			if end, _ := results.ParseTime(c.End); !end.IsZero() { // checked by Validate
				opts.End = func() time.Time { return end }
			}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if c.Follow != "" {
				if len(args) > 0 {
					return errors.New("--follow takes the live log itself; give no other files")
				}
				return followRejectLog(ctx, cmd.OutOrStdout(), log, c, opts)
			}
			if len(args) == 0 {
				return errors.New("give log files or directories, or --follow FILE")
			}
			total, err := rejectlog.PrintArgs(ctx, cmd.OutOrStdout(), args, opts, log)
			if err != nil {
				return err
			}
			rejectlog.LogSummary(log, total)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("tz", "", "time zone of timestamps without one (classic syslog, Exim mainlog); default: local")
	f.String("end", "", "when the logs end, for their yearless (classic syslog) timestamps: the first such line takes the latest year that puts it at most a week after this time (RFC 3339, or a date 2006-01-02 in UTC; default: now)")
	f.String("follow", "", "follow this live log file across rotation until interrupted")
	f.String("out", "", "with --follow: append rejections to this file (exactly once, with --state)")
	f.String("state", "", "with --follow --out: state file holding the read position and output length")
	addRejectPatternFlag(cmd)
	return cmd
}

// followRejectLog follows --follow: into --out exactly once (with --state),
// or to w.
func followRejectLog(ctx context.Context, w io.Writer, log *zap.Logger, c rejectlogConfig, opts rejectlog.Options) error {
	p := rejectlog.NewParser(opts)
	defer func() { rejectlog.LogSummary(log, p.Counters()) }()
	if c.Out != "" {
		state := c.State
		if state == "" {
			state = c.Out + ".state"
		}
		return rejectlog.FollowToFile(ctx, rejectlog.FileSinkOptions{LogPath: c.Follow, OutPath: c.Out, StatePath: state, Parser: p, Logger: log})
	}
	if c.State != "" {
		return errors.New("--state needs --out (exactly-once delivery writes the output and the position together)")
	}
	return rejectlog.FollowToWriter(ctx, w, c.Follow, p, log)
}
