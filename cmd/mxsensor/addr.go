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
				r := addr.ReportOf(a)
				if c.JSON {
					err = enc.Encode(r)
				} else {
					_, err = out.Write(r.AppendText(nil))
				}
				if err != nil {
					return err
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
