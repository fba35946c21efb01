package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

// readConfig is read's section.
type readConfig struct {
	Events           string `mapstructure:"events"`
	Counters         bool   `mapstructure:"counters"`
	Strict           bool   `mapstructure:"strict"`
	dataplaneOptions `mapstructure:",squash"`
}

func newReadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "read FILE...",
		Short: "Turn pcap/pcapng captures (gzip too) into the same SYN events the live sensor writes",
		Long: `Runs every frame of the captures through the Go mirror of the XDP program
and writes the SYN events as JSON lines, exactly as 'mxsensor run' would have
recorded them. A summary of frames and counters goes to stderr.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var c readConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			dp, err := c.config()
			if err != nil {
				return err
			}
			out := sensor.NewJSONLinesWriter(cmd.OutOrStdout())
			if p := c.Events; p != "-" {
				if out, err = sensor.NewJSONLines(p); err != nil {
					return err
				}
			}
			defer out.Close()
			var total dataplane.Counters
			var truncated int
			for _, path := range files {
				r, err := capture.Open(path)
				if err != nil {
					return err
				}
				er := capture.NewEventReader(r, dp)
				var n uint64
				for {
					ev, err := er.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if errors.Is(err, capture.ErrTruncated) {
						truncated++
						log.Warn("capture cut short: the whole frames before were kept", zap.String("file", path), zap.Uint64("frames_kept", er.Stats().Frames), zap.Error(err))
						break
					}
					if err != nil {
						r.Close()
						return fmt.Errorf("%s: %w", path, err)
					}
					if err := out.Write(ev); err != nil {
						r.Close()
						return err
					}
					n++
				}
				st := er.Stats()
				log.Info("capture read", append([]zap.Field{zap.String("file", path), zap.Uint64("frames", st.Frames), zap.Uint64("syn_events", n),
					zap.Uint64("skipped", st.Skipped.Total())}, skippedFields(st.Skipped)...)...)
				total.Add(&er.Counters)
				r.Close()
			}
			if c.Counters {
				var fields []zap.Field
				for c := 0; c < dataplane.NumCounters; c++ {
					if total[c] != 0 {
						fields = append(fields, zap.Uint64(dataplane.Counter(c).String(), total[c]))
					}
				}
				log.Info("data plane counters", fields...)
			}
			if truncated > 0 && c.Strict {
				return fmt.Errorf("%d truncated capture(s)", truncated)
			}
			return out.Flush()
		},
	}
	f := cmd.Flags()
	f.String("events", "-", `write events to this file ("-" = stdout)`)
	f.Bool("counters", true, "print the data plane counters the captures would have produced")
	f.Bool("strict", false, "exit with an error when a capture is truncated")
	addDataplaneFlags(cmd, false)
	return cmd
}

// skippedFields are the non-zero counts of frames skipped, by reason.
func skippedFields(s capture.Skipped) []zap.Field {
	var fields []zap.Field
	for _, r := range []struct {
		name string
		n    uint64
	}{{"skipped_empty", s.Empty}, {"skipped_short", s.Short}, {"skipped_unknown_protocol", s.UnknownProtocol},
		{"skipped_unsupported_link_type", s.UnsupportedLinkType}, {"skipped_oversized", s.Oversized}} {
		if r.n > 0 {
			fields = append(fields, zap.Uint64(r.name, r.n))
		}
	}
	return fields
}
