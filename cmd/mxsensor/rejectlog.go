package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

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
				return followRejectLog(ctx, cmd, g, f, c.Out, c.State, opts)
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
				err := rejectlog.ScanFiles(ctx, set, p, warnDamaged(cmd.ErrOrStderr()), func(r rejectlog.Rejection) error {
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
			printRejectSummary(cmd.ErrOrStderr(), total)
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

func printRejectSummary(w io.Writer, c rejectlog.Counters) {
	fmt.Fprintf(w, "%d lines read, %d DNSBL rejections, %d other lines, %d skipped as garbage", c.Lines, c.Matched, c.NotMatching, c.Garbage)
	if c.Garbage > 0 {
		fmt.Fprintf(w, " (too long %d, invalid UTF-8 %d, control characters %d, bad timestamp %d, NUL runs %d)",
			c.TooLong, c.InvalidUTF8, c.ControlChars, c.BadTimestamp, c.NULRuns)
	}
	if c.DamagedFiles > 0 {
		fmt.Fprintf(w, "; %d damaged compressed files read up to the damage", c.DamagedFiles)
	}
	fmt.Fprintln(w)
}

// warnDamaged returns the ScanFiles callback that prints a warning for a
// damaged compressed log (the scan goes on with the next file).
func warnDamaged(w io.Writer) func(*rejectlog.DamageError) {
	return func(d *rejectlog.DamageError) {
		fmt.Fprintf(w, "warning: %v; the lines before the damage were read, the rest is lost\n", d)
	}
}

func followRejectLog(ctx context.Context, cmd *cobra.Command, g globalConfig, path, out, state string, opts rejectlog.Options) error {
	log, err := newLogger(g)
	if err != nil {
		return err
	}
	p := rejectlog.NewParser(opts)
	defer func() { printRejectSummary(cmd.ErrOrStderr(), p.Counters()) }()
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
