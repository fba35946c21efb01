package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/addr"
)

type addrEmbedded struct {
	IPv4       string  `json:"ipv4"`
	How        string  `json:"how"`
	Confidence float64 `json:"confidence"`
}

type addrReport struct {
	Addr         string         `json:"addr"`
	Kind         string         `json:"kind"`
	Prefix64     string         `json:"prefix64,omitempty"`
	Prefix48     string         `json:"prefix48,omitempty"`
	Gateway6to4  string         `json:"6to4_gateway,omitempty"`
	TeredoServer string         `json:"teredo_server,omitempty"`
	TeredoClient string         `json:"teredo_client,omitempty"`
	TeredoPort   uint16         `json:"teredo_port,omitempty"`
	MAC          string         `json:"mac,omitempty"`
	PublicIPv4   *bool          `json:"plausible_public,omitempty"`
	Embedded     []addrEmbedded `json:"embedded"`
}

func classifyReport(a netip.Addr) addrReport {
	info := addr.Classify(a)
	r := addrReport{Addr: a.String(), Kind: info.Kind.String(), Embedded: []addrEmbedded{}}
	if a.Is4() {
		p := addr.PlausiblePublicIPv4(a)
		r.PublicIPv4 = &p
	} else {
		r.Prefix64, r.Prefix48 = addr.Prefix64(a).String(), addr.Prefix48(a).String()
	}
	if info.SixToFour.IsValid() {
		r.Gateway6to4 = info.SixToFour.String()
	}
	if info.Kind == addr.KindTeredo {
		r.TeredoServer, r.TeredoClient, r.TeredoPort = info.TeredoServer.String(), info.TeredoClient.String(), info.TeredoPort
	}
	if m := info.MAC(); m != nil {
		r.MAC = m.String()
	}
	for _, e := range info.Embedded {
		r.Embedded = append(r.Embedded, addrEmbedded{IPv4: e.IPv4.String(), How: e.How, Confidence: e.Confidence})
	}
	return r
}

// addrConfig is addr's section.
type addrConfig struct {
	JSON bool `mapstructure:"json"`
}

func newAddrCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "addr ADDRESS...",
		Short: "Classify IPv6 addresses (6to4, Teredo, ISATAP, EUI-64, embedded IPv4, ...) and list the IPv4 addresses they may embed",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c addrConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			var bad []string
			for _, s := range args {
				a, err := netip.ParseAddr(strings.TrimSpace(s))
				if err != nil {
					bad = append(bad, s)
					log.Warn("not an IP address", zap.String("arg", s))
					continue
				}
				r := classifyReport(a)
				if c.JSON {
					if err := enc.Encode(r); err != nil {
						return err
					}
					continue
				}
				line := fmt.Sprintf("%s\t%s", r.Addr, r.Kind)
				if r.Gateway6to4 != "" {
					line += " gateway=" + r.Gateway6to4
				}
				if r.TeredoClient != "" {
					line += fmt.Sprintf(" server=%s client=%s port=%d", r.TeredoServer, r.TeredoClient, r.TeredoPort)
				}
				if r.MAC != "" {
					line += " mac=" + r.MAC
				}
				if r.PublicIPv4 != nil {
					line += fmt.Sprintf(" plausible_public=%v", *r.PublicIPv4)
				}
				if r.Prefix64 != "" {
					line += " /64=" + r.Prefix64 + " /48=" + r.Prefix48
				}
				fmt.Fprintln(out, line)
				for _, e := range r.Embedded {
					fmt.Fprintf(out, "\tembeds %s (%s, confidence %.2f)\n", e.IPv4, e.How, e.Confidence)
				}
			}
			if len(bad) > 0 {
				return fmt.Errorf("%d argument(s) not IP addresses", len(bad))
			}
			return nil
		},
	}
	cmd.Flags().Bool("json", false, "print one JSON object per address")
	return cmd
}
