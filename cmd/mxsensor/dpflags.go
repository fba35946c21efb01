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
		f.Var(newSizeValue("16MiB"), "ring-size", "ring buffer size: a power of two of at least a page (binary units: 64KiB, 16MiB)")
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
		size, err := sizeFlag(v, "ring-size")
		if err != nil {
			return c, err
		}
		if err := dataplane.CheckRingSize(size); err != nil {
			return c, fmt.Errorf("--ring-size %s: %w", v.GetString("ring-size"), err)
		}
		c.RingSize = uint32(size)
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
