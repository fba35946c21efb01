package dataplane

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Mode says what the program does with a matched SYN.
type Mode uint8

// Reply modes; values are the C enum mxs_mode.
const (
	ModeReject  = Mode(mxsensorMxsModeMXS_MODE_REJECT)  // record, answer RST|ACK (XDP_TX)
	ModeObserve = Mode(mxsensorMxsModeMXS_MODE_OBSERVE) // record, XDP_PASS
	ModeDrop    = Mode(mxsensorMxsModeMXS_MODE_DROP)    // record, XDP_DROP
)

func (m Mode) String() string {
	switch m {
	case ModeReject:
		return "reject"
	case ModeObserve:
		return "observe"
	case ModeDrop:
		return "drop"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses "reject", "observe" or "drop".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "reject", "":
		return ModeReject, nil
	case "observe":
		return ModeObserve, nil
	case "drop":
		return ModeDrop, nil
	}
	return 0, fmt.Errorf("unknown reply mode %q (want reject, observe or drop)", s)
}

// MaxPorts is how many destination ports the program can match.
const MaxPorts = 8

// Config is what the XDP program needs to know, fixed at load time.
type Config struct {
	// Ports are the TCP destination ports whose SYNs are recorded and answered.
	Ports []uint16
	// Mode is what happens to a matched SYN.
	Mode Mode
	// ReplyTTL is the IPv4 TTL / IPv6 hop limit of our RSTs.
	ReplyTTL uint8
	// LocalAddrs, when not empty, restricts matching to SYNs sent to these
	// addresses (the sensor's own); SYNs to other addresses pass.
	LocalAddrs []netip.Addr
	// RateLimit is the number of RSTs per second answered per source /32
	// (IPv4) or /64 (IPv6); 0 disables the limit. Over it, SYNs are recorded
	// and dropped, so the sensor cannot reflect a spoofed flood at a victim.
	RateLimit float64
	// RateBurst is how many RSTs a source may get at once before the limit bites.
	RateBurst uint32
	// RateLimitEntries bounds the LRU map of sources tracked by the limiter.
	RateLimitEntries uint32
	// RingSize is the ring buffer size in bytes: a power of two, at least a page.
	RingSize uint32
}

// DefaultConfig returns the configuration of a sensor MX: port 25, reject mode.
func DefaultConfig() Config {
	return Config{
		Ports:            []uint16{25},
		Mode:             ModeReject,
		ReplyTTL:         64,
		RateLimit:        10,
		RateBurst:        50,
		RateLimitEntries: 65536,
		RingSize:         16 << 20,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if len(c.Ports) == 0 {
		return errors.New("no ports configured")
	}
	if len(c.Ports) > MaxPorts {
		return fmt.Errorf("%d ports configured, at most %d supported", len(c.Ports), MaxPorts)
	}
	for _, p := range c.Ports {
		if p == 0 {
			return errors.New("port 0 is not a valid destination port")
		}
	}
	if c.Mode > ModeDrop {
		return fmt.Errorf("invalid mode %d", c.Mode)
	}
	if c.ReplyTTL == 0 {
		return errors.New("reply TTL must be at least 1")
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return fmt.Errorf("invalid rate limit %v", c.RateLimit)
	}
	if c.RateLimit > 0 && c.RateLimit < 1e-3 {
		return fmt.Errorf("rate limit %v/s is below the supported minimum of 0.001/s", c.RateLimit)
	}
	if c.RateLimit > 0 && c.RateBurst == 0 {
		return errors.New("rate burst must be at least 1 when the rate limit is on")
	}
	if c.RateLimitEntries == 0 {
		return errors.New("rate limit table size must be at least 1")
	}
	if err := CheckRingSize(uint64(c.RingSize)); err != nil {
		return err
	}
	for _, a := range c.LocalAddrs {
		if !a.IsValid() {
			return errors.New("invalid local address")
		}
	}
	return nil
}

// CheckRingSize reports whether n bytes can be the ring's size: a power of
// two from a page to 2 GiB (the largest one that fits the map's uint32 size).
func CheckRingSize(n uint64) error {
	page := uint64(os.Getpagesize())
	if n < page || n > math.MaxUint32 || n&(n-1) != 0 {
		return fmt.Errorf("ring size %d is not a power of two from the page size (%d) to 2 GiB", n, page)
	}
	return nil
}

// kernelConfig converts c into the C struct mxs_config.
func (c *Config) kernelConfig() mxsensorMxsConfig {
	var k mxsensorMxsConfig
	for i, p := range c.Ports {
		k.Ports[i] = p
	}
	k.Nports = uint8(len(c.Ports))
	k.Mode = uint8(c.Mode)
	k.ReplyTtl = c.ReplyTTL
	if len(c.LocalAddrs) > 0 {
		k.FilterDst = 1
	}
	if c.RateLimit > 0 {
		k.RlIntervalNs = uint64(float64(time.Second) / c.RateLimit)
		k.RlBurstNs = uint64(c.RateBurst-1) * k.RlIntervalNs
	}
	return k
}
