package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// dataplaneOptions are the settings of addDataplaneFlags (live false).
type dataplaneOptions struct {
	Ports     []uint       `mapstructure:"ports"`
	LocalAddr config.Addrs `mapstructure:"local-addr"`
	Mode      replyMode    `mapstructure:"mode"`
	ReplyTTL  uint8        `mapstructure:"reply-ttl"`
	RSTRate   float64      `mapstructure:"rst-rate"`
	RSTBurst  uint32       `mapstructure:"rst-burst"`
}

// liveDataplaneOptions are the settings of addDataplaneFlags (live true).
type liveDataplaneOptions struct {
	dataplaneOptions `mapstructure:",squash"`
	RSTRateSources   uint32      `mapstructure:"rst-rate-sources"`
	RingSize         config.Size `mapstructure:"ring-size"`
}

// addDataplaneFlags adds the flags that configure the XDP program.
func addDataplaneFlags(cmd *cobra.Command, live bool) {
	d := dataplane.DefaultConfig()
	f := cmd.Flags()
	f.UintSlice("ports", []uint{25}, "TCP destination ports whose SYNs are recorded and answered (at most 8)")
	config.AddrsVar(f, "local-addr", "the sensor's own addresses: when set, only SYNs to them are matched")
	config.TextVar(f, "mode", replyMode{d.Mode}, "what to do with a matched SYN: reject (RST from XDP), observe (record, pass to the kernel), drop (record, drop)")
	f.Uint8("reply-ttl", d.ReplyTTL, "IPv4 TTL / IPv6 hop limit of the RSTs")
	f.Float64("rst-rate", d.RateLimit, "RSTs per second per source /32 (IPv4) or /64 (IPv6); over it SYNs are recorded and dropped; 0 = unlimited")
	f.Uint32("rst-burst", d.RateBurst, "RSTs a source may get in a burst before --rst-rate applies")
	if live {
		f.Uint32("rst-rate-sources", d.RateLimitEntries, "sources tracked by the RST rate limiter (LRU)")
		config.SizeVar(f, "ring-size", "16MiB", "ring buffer size: a power of two of at least a page (binary units: 64KiB, 16MiB)")
	}
}

// Validate checks the data plane's settings (read and fingerprint have
// no others to check).
func (o dataplaneOptions) Validate() error {
	_, err := o.config()
	return err
}

// config is the data plane's configuration (live: without the ring and
// the limiter's table).
func (o dataplaneOptions) config() (dataplane.Config, error) {
	c := dataplane.DefaultConfig()
	c.Ports = nil
	for _, p := range o.Ports {
		if p <= 0 || p > 65535 {
			return c, fmt.Errorf("--ports: %d is not a port", p)
		}
		c.Ports = append(c.Ports, uint16(p))
	}
	c.LocalAddrs = append(c.LocalAddrs, o.LocalAddr...)
	c.Mode = o.Mode.Mode
	c.ReplyTTL = o.ReplyTTL
	c.RateLimit = o.RSTRate
	c.RateBurst = o.RSTBurst
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func (o liveDataplaneOptions) config() (dataplane.Config, error) {
	c, err := o.dataplaneOptions.config()
	if err != nil {
		return c, err
	}
	c.RateLimitEntries = o.RSTRateSources
	size := o.RingSize.Bytes()
	if err := dataplane.CheckRingSize(size); err != nil {
		return c, fmt.Errorf("--ring-size %s: %w", o.RingSize, err)
	}
	c.RingSize = uint32(size)
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
