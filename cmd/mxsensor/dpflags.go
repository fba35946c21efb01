package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// addDataplaneFlags adds the flags that configure the XDP program.
func addDataplaneFlags(cmd *cobra.Command, live bool) {
	d := dataplane.DefaultConfig()
	f := cmd.Flags()
	f.UintSlice("ports", []uint{25}, "TCP destination ports whose SYNs are recorded and answered (at most 8)")
	f.StringSlice("local-addr", nil, "the sensor's own addresses: when set, only SYNs to them are matched")
	f.String("mode", d.Mode.String(), "what to do with a matched SYN: reject (RST from XDP), observe (record, pass to the kernel), drop (record, drop)")
	f.Uint8("reply-ttl", d.ReplyTTL, "IPv4 TTL / IPv6 hop limit of the RSTs")
	f.Float64("rst-rate", d.RateLimit, "RSTs per second per source /32 (IPv4) or /64 (IPv6); over it SYNs are recorded and dropped; 0 = unlimited")
	f.Uint32("rst-burst", d.RateBurst, "RSTs a source may get in a burst before --rst-rate applies")
	if live {
		f.Uint32("rst-rate-sources", d.RateLimitEntries, "sources tracked by the RST rate limiter (LRU)")
		f.String("ring-size", "16MiB", "ring buffer size (power of two; KiB/MiB suffixes)")
	}
}

func dataplaneConfig(v *viper.Viper, live bool) (dataplane.Config, error) {
	c := dataplane.DefaultConfig()
	c.Ports = nil
	for _, p := range v.GetIntSlice("ports") {
		if p <= 0 || p > 65535 {
			return c, fmt.Errorf("--ports: %d is not a port", p)
		}
		c.Ports = append(c.Ports, uint16(p))
	}
	for _, s := range v.GetStringSlice("local-addr") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return c, fmt.Errorf("--local-addr: %w", err)
		}
		c.LocalAddrs = append(c.LocalAddrs, a)
	}
	m, err := dataplane.ParseMode(v.GetString("mode"))
	if err != nil {
		return c, fmt.Errorf("--mode: %w", err)
	}
	c.Mode = m
	c.ReplyTTL = uint8(v.GetUint("reply-ttl"))
	c.RateLimit = v.GetFloat64("rst-rate")
	c.RateBurst = v.GetUint32("rst-burst")
	if live {
		c.RateLimitEntries = v.GetUint32("rst-rate-sources")
		size, err := parseSize(v.GetString("ring-size"))
		if err != nil {
			return c, fmt.Errorf("--ring-size: %w", err)
		}
		c.RingSize = size
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// parseSize parses "4096", "64KiB", "16MiB", "1GiB" (also K/M/G).
func parseSize(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range []struct {
		suf string
		m   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	var n uint64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	n *= mult
	if n == 0 || n > 1<<31 {
		return 0, fmt.Errorf("size %d out of range", n)
	}
	return uint32(n), nil
}
