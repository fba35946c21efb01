package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// rotationSuffix matches what logrotate appends to a log's name.
var rotationSuffix = regexp.MustCompile(`(\.\d+(\.gz)?|-\d{8}(\.gz)?|\.gz)$`)

// expandLogArgs turns files and directories into rotation sets: each file
// alone, and each directory as the rotation sets of the logs in it (oldest
// generation first).
func expandLogArgs(args []string) ([][]string, error) {
	var sets [][]string
	err := eachLog(args, func(path string, inDir bool) error {
		if !inDir {
			sets = append(sets, []string{path})
			return nil
		}
		gens, err := rejectlog.Generations(path)
		if err != nil {
			return err
		}
		if len(gens) > 0 {
			sets = append(sets, gens)
		}
		return nil
	})
	return sets, err
}

// eachLog calls fn with every log the --reject-log arguments name: a file
// itself (inDir false), and for a directory the base path of each rotation
// set in it (inDir true), sorted.
func eachLog(args []string, fn func(path string, inDir bool) error) error {
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			if err := fn(a, false); err != nil {
				return err
			}
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return err
		}
		bases := map[string]bool{}
		for _, e := range ents {
			if e.Type().IsRegular() {
				bases[rotationSuffix.ReplaceAllString(e.Name(), "")] = true
			}
		}
		names := make([]string, 0, len(bases))
		for b := range bases {
			names = append(names, b)
		}
		sort.Strings(names)
		for _, b := range names {
			if err := fn(filepath.Join(a, b), true); err != nil {
				return err
			}
		}
	}
	return nil
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
			v, err := newViper(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			loc := time.Local
			if tz := v.GetString("tz"); tz != "" {
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
			if f := v.GetString("follow"); f != "" {
				if len(args) > 0 {
					return errors.New("--follow takes the live log itself; give no other files")
				}
				return followRejectLog(ctx, cmd, log, f, v.GetString("out"), v.GetString("state"), opts)
			}
			if len(args) == 0 {
				return errors.New("give log files or directories, or --follow FILE")
			}
			sets, err := expandLogArgs(args)
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			var total rejectlog.Counters
			var buf []byte
			for _, set := range sets {
				p := rejectlog.NewParser(opts)
				err := rejectlog.ScanFiles(ctx, set, p, warnDamaged(log), func(r rejectlog.Rejection) error {
					buf = append(rejectlog.AppendJSON(buf[:0], r), '\n')
					_, err := w.Write(buf)
					return err
				})
				total.Add(p.Counters())
				if err != nil {
					w.Flush()
					return err
				}
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
	return rejectlog.Follow(ctx, rejectlog.FollowOptions{Path: path, Logger: log}, func(b rejectlog.Batch) error {
		if b.Damage != nil {
			p.CountDamaged()
		}
		for _, line := range b.Lines {
			if r, ok, _ := p.Parse(line); ok {
				buf = append(rejectlog.AppendJSON(buf[:0], r), '\n')
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
		}
		return w.Flush()
	})
}
