package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

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
			if _, err := loadConfig(cmd, &c); err != nil {
				return err
			}
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
			errw := cmd.ErrOrStderr()
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
						fmt.Fprintf(errw, "warning: %s: %v (kept the %d whole frames before it)\n", path, err, er.Stats().Frames)
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
				fmt.Fprintf(errw, "%s: %d frames, %d SYN events, %d frames skipped%s\n", path, st.Frames, n, st.Skipped.Total(), skippedDetail(st.Skipped))
				total.Add(&er.Counters)
				r.Close()
			}
			if c.Counters {
				for c := 0; c < dataplane.NumCounters; c++ {
					if total[c] != 0 {
						fmt.Fprintf(errw, "  %-36s %d\n", dataplane.Counter(c), total[c])
					}
				}
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

// skippedDetail lists the non-zero skip reasons, e.g. " (short 2, unsupported link type 1)".
func skippedDetail(s capture.Skipped) string {
	var parts []string
	for _, r := range []struct {
		name string
		n    uint64
	}{{"empty", s.Empty}, {"short", s.Short}, {"unknown protocol", s.UnknownProtocol}, {"unsupported link type", s.UnsupportedLinkType}, {"oversized", s.Oversized}} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
