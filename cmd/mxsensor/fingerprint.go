package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// loadFingerprintDB builds the database the flags ask for: the p0f file
// (--p0f-db, default the stock /etc/p0f/p0f.fp when it exists) followed by
// our built-in signatures unless --no-builtin.
func loadFingerprintDB(path string, explicit, builtin bool, log *zap.Logger) (*fingerprint.DB, error) {
	var dbs []*fingerprint.DB
	if path != "" {
		if _, err := os.Stat(path); err == nil || explicit {
			db, warns, err := fingerprint.LoadFile(path)
			if err != nil {
				return nil, err
			}
			for _, w := range warns {
				log.Warn("p0f database line skipped", zap.String("file", w.File), zap.Int("line", w.Line), zap.String("reason", w.Msg))
			}
			dbs = append(dbs, db)
		}
	}
	if builtin {
		dbs = append(dbs, fingerprint.Builtin())
	}
	if len(dbs) == 0 {
		return nil, errors.New("no fingerprint database: the p0f file is missing and --no-builtin was given")
	}
	return fingerprint.Merge(dbs...), nil
}

// appendFingerprintJSON writes one fingerprint line.
func appendFingerprintJSON(b []byte, ev *synevent.Event, r *fingerprint.Result) []byte {
	f := record.Fingerprint{Time: ev.Time, Src: ev.Src, SrcPort: ev.SrcPort, Dst: ev.Dst, DstPort: ev.DstPort,
		Label: r.Label, OSClass: r.Class, Generic: r.Generic, Fuzzy: r.Fuzzy, Dist: r.Dist, RawSig: r.RawSig()}
	return f.AppendJSON(b)
}

// fingerprintConfig is fingerprint's section.
type fingerprintConfig struct {
	Pcap             []string `mapstructure:"pcap"`
	P0fDB            string   `mapstructure:"p0f-db"`
	NoBuiltin        bool     `mapstructure:"no-builtin"`
	JSON             bool     `mapstructure:"json"`
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
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			files := c.Pcap
			if len(files) == 0 {
				return errors.New("--pcap FILE is required")
			}
			db, err := loadFingerprintDB(c.P0fDB, cmd.Flags().Changed("p0f-db"), !c.NoBuiltin, log)
			if err != nil {
				return err
			}
			dp, err := c.config()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			asJSON := c.JSON
			var buf []byte
			for _, path := range files {
				r, err := capture.Open(path)
				if err != nil {
					return err
				}
				er := capture.NewEventReader(r, dp)
				for {
					ev, err := er.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if errors.Is(err, capture.ErrTruncated) {
						log.Warn("capture cut short: the SYNs before were kept", zap.String("file", path), zap.Error(err))
						break
					}
					if err != nil {
						r.Close()
						return fmt.Errorf("%s: %w", path, err)
					}
					res := db.Match(ev)
					if asJSON {
						buf = appendFingerprintJSON(buf[:0], ev, &res)
					} else {
						buf = appendFingerprintText(buf[:0], ev, &res)
					}
					if _, err := out.Write(buf); err != nil {
						r.Close()
						return err
					}
				}
				r.Close()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSlice("pcap", nil, "capture file(s): pcap or pcapng, gzip allowed")
	f.String("p0f-db", fingerprint.StockPath, "p0f v3 database file")
	f.Bool("no-builtin", false, "do not add mxsensor's built-in signatures")
	f.Bool("json", false, "print JSON lines (keys ts, src, sport, dst, dport, label, os_class, generic, fuzzy, dist, raw_sig)")
	addDataplaneFlags(cmd, false)
	return cmd
}

func appendFingerprintText(b []byte, ev *synevent.Event, r *fingerprint.Result) []byte {
	b = ev.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, ' ')
	b = dataplaneAddrPort(b, ev)
	b = append(b, " os="...)
	b = append(b, r.Label...)
	if r.Generic {
		b = append(b, " (generic)"...)
	}
	if r.Fuzzy {
		b = append(b, " (fuzzy)"...)
	}
	b = append(b, " class="...)
	b = append(b, r.Class...)
	b = append(b, " dist="...)
	b = strconv.AppendInt(b, int64(r.Dist), 10)
	b = append(b, " raw_sig="...)
	b = r.AppendRawSig(b)
	return append(b, '\n')
}

func dataplaneAddrPort(b []byte, ev *synevent.Event) []byte {
	if ev.Src.Is6() {
		b = append(b, '[')
		b = ev.Src.AppendTo(b)
		b = append(b, ']')
	} else {
		b = ev.Src.AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(ev.SrcPort), 10)
}
