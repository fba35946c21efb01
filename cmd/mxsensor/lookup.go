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

	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/enrich"
)

type lookupReport struct {
	IP    string            `json:"ip"`
	DNSBL []lookupDNSBL     `json:"dnsbl"`
	PTR   *enrich.PTRResult `json:"ptr,omitempty"`
	ASN   *enrich.ASNResult `json:"asn,omitempty"`
	Errs  map[string]string `json:"errors,omitempty"`
}

type lookupDNSBL struct {
	Zone    string   `json:"zone"`
	Listed  bool     `json:"listed"`
	Codes   []string `json:"codes,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
}

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
				r := lookupReport{IP: ip.String(), DNSBL: []lookupDNSBL{}, Errs: map[string]string{}}
				if len(cfg.DNSBLZones) > 0 {
					res, err := e.LookupDNSBL(ctx, ip)
					if err != nil {
						r.Errs["dnsbl"] = err.Error()
					}
					for _, d := range res {
						ld := lookupDNSBL{Zone: d.Zone, Listed: d.Listed, Reasons: d.Reasons}
						for _, c := range d.Codes {
							ld.Codes = append(ld.Codes, c.String())
						}
						if d.Err != nil {
							ld.Error = d.Err.Error()
						}
						r.DNSBL = append(r.DNSBL, ld)
					}
				}
				if !c.NoPTR {
					p, err := e.LookupPTR(ctx, ip)
					if err != nil {
						r.Errs["ptr"] = err.Error()
					} else {
						r.PTR = &p
					}
				}
				if a, err := e.LookupASN(ctx, ip); err != nil {
					r.Errs["asn"] = err.Error()
				} else {
					r.ASN = &a
				}
				if len(r.Errs) > 0 {
					failed++
				}
				if c.JSON {
					if err := enc.Encode(r); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintln(out, r.IP)
				for _, d := range r.DNSBL {
					state := "not listed"
					if d.Listed {
						state = "LISTED " + strings.Join(d.Codes, ",")
						if len(d.Reasons) > 0 {
							state += " (" + strings.Join(d.Reasons, "; ") + ")"
						}
					}
					if d.Error != "" {
						state = "error: " + d.Error
					}
					fmt.Fprintf(out, "  dnsbl %s: %s\n", d.Zone, state)
				}
				if r.PTR != nil {
					fmt.Fprintf(out, "  ptr: %s (forward-confirmed: %q)\n", strings.Join(r.PTR.Names, ", "), r.PTR.Confirmed)
				}
				if r.ASN != nil {
					var as []string
					for _, o := range r.ASN.Origins {
						as = append(as, fmt.Sprintf("AS%d %s", o.Number, o.Name))
					}
					fmt.Fprintf(out, "  asn: %s prefix %s (%s)\n", strings.Join(as, ", "), r.ASN.Prefix, r.ASN.Source)
				}
				for k, e := range r.Errs {
					fmt.Fprintf(out, "  %s error: %s\n", k, e)
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
