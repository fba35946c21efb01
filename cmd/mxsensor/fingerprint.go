package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/offline"
)

// fingerprintConfig is fingerprint's section.
type fingerprintConfig struct {
	Pcap             []string `mapstructure:"pcap"`
	P0fDB            string   `mapstructure:"p0f-db"`
	NoBuiltin        bool     `mapstructure:"no-builtin"`
	JSON             bool     `mapstructure:"json"`
	Quiet            bool     `mapstructure:"quiet"`
	dataplaneOptions `mapstructure:",squash"`
}

func newFingerprintCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fingerprint --pcap FILE... [--p0f-db FILE] [--json]",
		Short: "Fingerprint the SYNs of captures with the p0f v3 engine",
		Long: `Reads captures as 'mxsensor read' does and prints, for every SYN to the
sensor ports, its p0f v3 fingerprint: label (as p0f prints os=, ??? when
nothing matches), OS class, distance and raw signature.

The database is the p0f file (--p0f-db, default /etc/p0f/p0f.fp when it
exists) followed by mxsensor's built-in signatures for current stacks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c fingerprintConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			bar := newProgress(cmd, g, c.Quiet, true, "fingerprint", c.Pcap)
			log, err := newLogger(g, bar.Writer(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer log.Sync()
			files := c.Pcap
			if len(files) == 0 {
				return errors.New("--pcap FILE is required")
			}
			db, err := fingerprint.LoadDB(fingerprint.DBConfig{Path: c.P0fDB, Required: cmd.Flags().Changed("p0f-db"), Builtin: !c.NoBuiltin}, log)
			if err != nil {
				return err
			}
			dp, err := c.config()
			if err != nil {
				return err
			}
			lines := fingerprint.NewLineWriter(cmd.OutOrStdout(), db, c.JSON)
			bar.Start()
			defer bar.Stop()
			defer stopOnInterrupt(bar)()
			return offline.Feed(cmd.Context(), offline.Config{Captures: files, Dataplane: dp, Read: bar.Counter(), Log: log}, lines)
		},
	}
	f := cmd.Flags()
	f.StringSlice("pcap", nil, "capture file(s): pcap or pcapng, gzip allowed")
	f.String("p0f-db", fingerprint.StockPath, "p0f v3 database file")
	f.Bool("no-builtin", false, "do not add mxsensor's built-in signatures")
	f.Bool("json", false, "print JSON lines (keys ts, src, sport, dst, dport, label, os_class, generic, fuzzy, dist, raw_sig)")
	addQuietFlag(cmd)
	addDataplaneFlags(cmd, false)
	return cmd
}
