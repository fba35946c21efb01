package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// statsConfig is stats's section.
type statsConfig struct {
	Iface    string                  `mapstructure:"iface"`
	PinDir   string                  `mapstructure:"pin-dir"`
	JSON     bool                    `mapstructure:"json"`
	Watch    bool                    `mapstructure:"watch"`
	Interval config.PositiveDuration `mapstructure:"interval"`
	Count    int                     `mapstructure:"count"`
}

func newStatsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats [--iface IF] [--json] [--watch]",
		Short: "Show the counters and ring of a running sensor (reads pinned maps, consumes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c statsConfig
			_, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			dirs, err := dataplane.StatsDirs(c.PinDir, c.Iface)
			if err != nil {
				return err
			}
			return dataplane.PrintStats(cmd.Context(), cmd.OutOrStdout(), dirs, dataplane.StatsOptions{
				JSON: c.JSON, Watch: c.Watch, Interval: time.Duration(c.Interval), Count: c.Count})
		},
	}
	f := cmd.Flags()
	f.String("iface", "", "interface of the sensor (default: every sensor under --pin-dir)")
	f.String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory the sensor pinned under")
	f.Bool("json", false, "print JSON (one object per sensor per line)")
	f.Bool("watch", false, "repeat every --interval, with rates")
	config.PositiveDurationVar(f, "interval", time.Second, "refresh interval for --watch")
	f.Int("count", 0, "with --watch, stop after this many reports (0 = until interrupted)")
	return cmd
}
