package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/enrich"
)

// lookupConfig is lookup's section.
type lookupConfig struct {
	Resolver config.HostPort `mapstructure:"resolver"`
	DNSBL    []string        `mapstructure:"dnsbl"`
	ASNTable string          `mapstructure:"asn-table"`
	NoCymru  bool            `mapstructure:"no-cymru"`
	NoPTR    bool            `mapstructure:"no-ptr"`
	Timeout  time.Duration   `mapstructure:"timeout"`
	JSON     bool            `mapstructure:"json"`
}

func newLookupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lookup IP...",
		Short: "Look up what DNS knows about senders: DNSBL listings (RFC 5782), PTR with forward confirmation, origin ASN (Team Cymru or an offline table)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c lookupConfig
			if _, err := loadConfig(cmd, &c); err != nil {
				return err
			}
			cfg := enrich.DefaultConfig()
			cfg.Resolver = string(c.Resolver)
			cfg.DNSBLZones = c.DNSBL
			cfg.ASNTable = c.ASNTable
			cfg.Timeout = c.Timeout
			if c.NoCymru {
				cfg.CymruOriginZone, cfg.CymruOrigin6Zone, cfg.CymruASNZone = "", "", ""
			}
			e, err := enrich.New(cfg, zap.NewNop())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			var failed int
			for _, s := range args {
				ip, err := netip.ParseAddr(strings.TrimSpace(s))
				if err != nil {
					return fmt.Errorf("%q is not an IP address", s)
				}
				r := e.Report(ctx, ip, !c.NoPTR)
				if r.Failed() {
					failed++
				}
				if c.JSON {
					err = enc.Encode(r)
				} else {
					_, err = out.Write(r.AppendText(nil))
				}
				if err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d look-ups had errors", failed, len(args))
			}
			return nil
		},
	}
	f := cmd.Flags()
	config.HostPortVar(f, "resolver", "", "DNS resolver host:port (default: the first nameserver in /etc/resolv.conf)")
	f.StringSlice("dnsbl", nil, "DNSBL zones to query (e.g. zen.spamhaus.org; check the list's terms of use)")
	f.String("asn-table", "", "offline prefix->ASN table (TSV: prefix, asn, name), consulted before Team Cymru")
	f.Bool("no-cymru", false, "do not query Team Cymru's DNS (air-gapped sensors: use --asn-table)")
	f.Bool("no-ptr", false, "skip PTR look-ups")
	f.Duration("timeout", enrich.DefaultConfig().Timeout, "timeout per DNS query")
	f.Bool("json", false, "print one JSON object per address")
	return cmd
}
