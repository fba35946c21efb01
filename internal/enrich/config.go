package enrich

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config says where and how the Enricher asks DNS.
type Config struct {
	// Resolver is the recursive resolver, host:port. Empty means the
	// system's: see [SystemResolver].
	Resolver string
	// Timeout bounds one query attempt (one UDP exchange, or the TCP one).
	Timeout time.Duration
	// Retries is how many more times a UDP query is sent after a timeout or
	// a network error. SERVFAIL and REFUSED are answers and are not retried.
	Retries int
	// UDPSize is the EDNS0 buffer size advertised in queries; 0 sends plain
	// DNS queries (512-byte answers). Longer answers come back truncated and
	// are fetched again over TCP.
	UDPSize uint16

	// QueriesPerSecond limits the queries sent to the resolver, all kinds
	// and all callers together (token bucket); 0 means no limit.
	QueriesPerSecond float64
	// Burst is the token bucket's depth: how many queries may go at once.
	Burst int

	// Workers is the number of requests from Submit served at once.
	Workers int
	// QueueSize bounds the requests waiting for a worker; Submit drops (and
	// counts) requests that find it full.
	QueueSize int
	// ResultQueue is the capacity of the Results channel. When it is full,
	// workers wait for the reader (and the request queue fills up).
	ResultQueue int
	// RequestTimeout bounds all the look-ups of one submitted request.
	RequestTimeout time.Duration

	// CacheEntries bounds the answer cache (least recently used entries
	// are evicted); 0 disables caching.
	CacheEntries int
	// MinTTL and MaxTTL clamp the time an answer is cached.
	MinTTL time.Duration
	MaxTTL time.Duration
	// NegativeTTL is how long NXDOMAIN and empty answers without an SOA
	// record are cached. With an SOA record the RFC 2308 value (the smaller
	// of the SOA's TTL and its MINIMUM field) is used instead. Either way
	// MinTTL and MaxNegativeTTL clamp it.
	NegativeTTL    time.Duration
	MaxNegativeTTL time.Duration

	// DNSBLZones are the list zones queried, e.g. "zen.spamhaus.org".
	DNSBLZones []string
	// MaxPTRNames bounds the PTR names checked for forward confirmation.
	MaxPTRNames int

	// CymruOriginZone and CymruOrigin6Zone are the zones for IPv4 and IPv6
	// origin look-ups; CymruASNZone is the zone for AS names. An empty zone
	// disables that look-up.
	CymruOriginZone  string
	CymruOrigin6Zone string
	CymruASNZone     string
	// MaxASNames bounds the AS names looked up for a multi-origin prefix.
	MaxASNames int
	// ASNTable is an offline table (prefix<TAB>asn<TAB>name lines) consulted
	// before Team Cymru; empty means none. For air-gapped sensors, set it
	// and clear the Cymru zones.
	ASNTable string
}

// DefaultConfig returns a configuration using the system's resolver, Team
// Cymru for ASNs and no DNSBL zones: which lists to query, and whether their
// terms allow it, is the operator's choice.
func DefaultConfig() Config {
	return Config{
		Resolver:         SystemResolver(),
		Timeout:          2 * time.Second,
		Retries:          1,
		UDPSize:          1232,
		QueriesPerSecond: 50,
		Burst:            20,
		Workers:          8,
		QueueSize:        1024,
		ResultQueue:      1024,
		RequestTimeout:   15 * time.Second,
		CacheEntries:     65536,
		MinTTL:           30 * time.Second,
		MaxTTL:           6 * time.Hour,
		NegativeTTL:      5 * time.Minute,
		MaxNegativeTTL:   30 * time.Minute,
		MaxPTRNames:      5,
		CymruOriginZone:  "origin.asn.cymru.com",
		CymruOrigin6Zone: "origin6.asn.cymru.com",
		CymruASNZone:     "asn.cymru.com",
		MaxASNames:       4,
	}
}

// Validate reports the first problem with the configuration. An empty
// Resolver is allowed (New uses the system's).
func (c Config) Validate() error {
	if c.Resolver != "" {
		if err := checkHostPort(c.Resolver); err != nil {
			return fmt.Errorf("resolver %q: %w", c.Resolver, err)
		}
	}
	switch {
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	case c.Retries < 0 || c.Retries > 5:
		return fmt.Errorf("retries %d out of range 0..5", c.Retries)
	case c.UDPSize != 0 && c.UDPSize < dns.MinMsgSize:
		return fmt.Errorf("udp size %d: want 0 (no EDNS0) or at least %d", c.UDPSize, dns.MinMsgSize)
	case c.QueriesPerSecond < 0:
		return errors.New("queries per second must not be negative")
	case c.QueriesPerSecond > 0 && c.Burst < 1:
		return errors.New("burst must be at least 1 when the rate is limited")
	case c.Workers < 1:
		return errors.New("workers must be at least 1")
	case c.QueueSize < 1:
		return errors.New("queue size must be at least 1")
	case c.ResultQueue < 0:
		return errors.New("result queue must not be negative")
	case c.RequestTimeout <= 0:
		return errors.New("request timeout must be positive")
	case c.CacheEntries < 0:
		return errors.New("cache entries must not be negative")
	case c.MinTTL < 0:
		return errors.New("minimum TTL must not be negative")
	case c.MaxTTL < c.MinTTL:
		return fmt.Errorf("maximum TTL %v is below the minimum %v", c.MaxTTL, c.MinTTL)
	case c.NegativeTTL < 0:
		return errors.New("negative TTL must not be negative")
	case c.MaxNegativeTTL < c.MinTTL:
		return fmt.Errorf("maximum negative TTL %v is below the minimum TTL %v", c.MaxNegativeTTL, c.MinTTL)
	case c.MaxPTRNames < 1:
		return errors.New("max PTR names must be at least 1")
	case c.MaxASNames < 0:
		return errors.New("max AS names must not be negative")
	}
	seen := make(map[string]bool)
	for _, z := range c.DNSBLZones {
		n := normZone(z)
		if err := checkZone(n); err != nil {
			return fmt.Errorf("dnsbl zone %q: %w", z, err)
		}
		if seen[n] {
			return fmt.Errorf("dnsbl zone %q listed twice", z)
		}
		seen[n] = true
	}
	for _, z := range []struct{ what, zone string }{
		{"cymru origin zone", c.CymruOriginZone},
		{"cymru origin6 zone", c.CymruOrigin6Zone},
		{"cymru asn zone", c.CymruASNZone},
	} {
		if z.zone == "" {
			continue
		}
		if err := checkZone(normZone(z.zone)); err != nil {
			return fmt.Errorf("%s %q: %w", z.what, z.zone, err)
		}
	}
	return nil
}

// normZone lower-cases a zone name and drops its trailing dot.
func normZone(z string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(z)), ".")
}

func checkZone(z string) error {
	if z == "" {
		return errors.New("empty zone name")
	}
	if _, ok := dns.IsDomainName(z); !ok {
		return errors.New("not a domain name")
	}
	// A query name is up to 72 labels (IPv6 nibbles, ip6.arpa) below the
	// zone; the whole must fit in 255 octets.
	if len(z)+64 > 253 {
		return errors.New("zone name too long for IPv6 queries")
	}
	return nil
}

func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// resolvConf is read by SystemResolver; tests replace it.
var resolvConf = "/etc/resolv.conf"

// SystemResolver returns the first nameserver of /etc/resolv.conf as
// host:port, or "127.0.0.1:53" when there is none.
func SystemResolver() string {
	f, err := os.Open(resolvConf)
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	if ns := firstNameserver(f); ns != "" {
		return ns
	}
	return "127.0.0.1:53"
}

// firstNameserver returns the first usable "nameserver" line of a
// resolv.conf as host:port, or "".
func firstNameserver(f io.Reader) string {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		return netip.AddrPortFrom(a, 53).String()
	}
	return ""
}
