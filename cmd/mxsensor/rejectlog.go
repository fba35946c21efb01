package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// rejectlogConfig is rejectlog's section.
type rejectlogConfig struct {
	TZ     string `mapstructure:"tz"`
	Follow string `mapstructure:"follow"`
	Out    string `mapstructure:"out"`
	State  string `mapstructure:"state"`
}

func newRejectlogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rejectlog FILE|DIR...",
		Short: "Extract DNSBL rejections from Postfix, postscreen, Exim and Sendmail logs as JSON lines",
		Long: `Reads MTA logs (plain or gzip; a directory means every rotation set in it,
oldest generation first) and prints one JSON line per DNSBL rejection with
the keys ts, ip, zone and mta (plus rank and reason when present). A summary
of lines read, matched and skipped goes to stderr.

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
			opts := rejectlog.Options{Location: loc}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f := c.Follow; f != "" {
				if len(args) > 0 {
					return errors.New("--follow takes the live log itself; give no other files")
				}
				return followRejectLog(ctx, cmd, log, f, c.Out, c.State, opts)
			}
			if len(args) == 0 {
				return errors.New("give log files or directories, or --follow FILE")
			}
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			var buf []byte
			total, err := rejectlog.ScanArgs(ctx, args, opts, warnDamaged(log), func(r rejectlog.Rejection) error {
				buf = r.AppendJSON(buf[:0])
				_, err := w.Write(buf)
				return err
			})
			if err != nil {
				w.Flush()
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			logRejectSummary(log, total)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("tz", "", "time zone of timestamps without one (classic syslog, Exim mainlog); default: local")
	f.String("follow", "", "follow this live log file across rotation until interrupted")
	f.String("out", "", "with --follow: append rejections to this file (exactly once, with --state)")
	f.String("state", "", "with --follow --out: state file holding the read position and output length")
	return cmd
}

// logRejectSummary logs what reading the reject logs found.
func logRejectSummary(log *zap.Logger, c rejectlog.Counters, more ...zap.Field) {
	log.Info("reject logs read", append([]zap.Field{zap.Uint64("lines", c.Lines), zap.Uint64("rejections", c.Matched),
		zap.Uint64("other_lines", c.NotMatching), zap.Uint64("garbage", c.Garbage), zap.Uint64("too_long", c.TooLong),
		zap.Uint64("invalid_utf8", c.InvalidUTF8), zap.Uint64("control_chars", c.ControlChars),
		zap.Uint64("bad_timestamp", c.BadTimestamp), zap.Uint64("nul_runs", c.NULRuns),
		zap.Uint64("damaged_files", c.DamagedFiles)}, more...)...)
}

// warnDamaged returns the ScanFiles callback that warns of a damaged
// compressed log (the scan goes on with the next file).
func warnDamaged(log *zap.Logger) func(*rejectlog.DamageError) {
	return func(d *rejectlog.DamageError) {
		log.Warn("compressed log damaged: the lines before the damage were read, the rest is lost",
			zap.String("file", d.Path), zap.Int64("offset", d.Offset), zap.Error(d.Err))
	}
}

func followRejectLog(ctx context.Context, cmd *cobra.Command, log *zap.Logger, path, out, state string, opts rejectlog.Options) error {
	p := rejectlog.NewParser(opts)
	defer func() { logRejectSummary(log, p.Counters()) }()
	if out != "" {
		if state == "" {
			state = out + ".state"
		}
		return rejectlog.FollowToFile(ctx, rejectlog.FileSinkOptions{LogPath: path, OutPath: out, StatePath: state, Parser: p, Logger: log})
	}
	if state != "" {
		return errors.New("--state needs --out (exactly-once delivery writes the output and the position together)")
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	var buf []byte
	f, err := rejectlog.NewFollower(rejectlog.FollowerConfig{Path: path, FromStart: true, Parser: p, Log: log,
		Handle: func(rs []rejectlog.Rejection) error {
			for _, r := range rs {
				buf = r.AppendJSON(buf[:0])
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return w.Flush()
		}})
	if err != nil {
		return err
	}
	return f.Run(ctx)
}
