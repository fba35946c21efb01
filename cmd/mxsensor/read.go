package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

// readConfig is read's section.
type readConfig struct {
	Events           string `mapstructure:"events"`
	Counters         bool   `mapstructure:"counters"`
	Strict           bool   `mapstructure:"strict"`
	Quiet            bool   `mapstructure:"quiet"`
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
			bar := newProgress(cmd, g, c.Quiet, c.Events == "-", "read", files)
			log, err := newLogger(g, bar.Writer(cmd.ErrOrStderr()))
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
			bar.Start()
			defer bar.Stop()
			release := stopOnInterrupt(bar)
			total, truncated, err := capture.ReadFiles(files, dp, bar.Counter(), log, out.Write)
			release()
			bar.Stop() // before the summary
			if err != nil {
				return err
			}
			if c.Counters {
				log.Info("data plane counters", zap.Inline(&total))
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
	addQuietFlag(cmd)
	addDataplaneFlags(cmd, false)
	return cmd
}
