package enrich

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// PTRTable is a static map from addresses to reverse names, read from a
// file of "address name" lines (# comments, blank lines allowed): reverse
// DNS collected when the capture was made, for offline analysis.
type PTRTable struct {
	names map[netip.Addr]string
	badLines
}

// LoadPTRTable reads a PTR table file.
func LoadPTRTable(path string) (*PTRTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ptr table: %w", err)
	}
	defer f.Close()
	t, err := ReadPTRTable(f)
	if err != nil {
		return nil, fmt.Errorf("ptr table %s: %w", path, err)
	}
	return t, nil
}

// ReadPTRTable reads a PTR table. Bad lines are skipped and counted (the
// first few kept in LineErrors); a table with bad lines only is an error.
func ReadPTRTable(r io.Reader) (*PTRTable, error) {
	t := &PTRTable{names: map[netip.Addr]string{}}
	err := readLines(r, func(n int, line string) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			return
		}
		if err := t.parseLine(line); err != nil {
			t.note(n, err)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(t.names) == 0 && t.bad > 0 {
		return nil, fmt.Errorf("no valid line (%d bad; first: %v)", t.bad, t.lineErrs[0])
	}
	return t, nil
}

func (t *PTRTable) parseLine(line string) error {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return errors.New("want: address name")
	}
	a, err := netip.ParseAddr(fields[0])
	if err != nil {
		return err
	}
	if a.Zone() != "" {
		return fmt.Errorf("address %q has a zone", fields[0])
	}
	name := strings.TrimSuffix(fields[1], ".")
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return fmt.Errorf("bad name %q", fields[1])
	}
	t.names[a.Unmap()] = name
	return nil
}

// Lookup returns the name of ip.
func (t *PTRTable) Lookup(ip netip.Addr) (string, bool) {
	n, ok := t.names[ip.Unmap()]
	return n, ok
}

// Len is the number of addresses named.
func (t *PTRTable) Len() int { return len(t.names) }

// StaticNames answers origin AS and reverse-name questions from tables
// (either may be nil), at once and without the network.
type StaticNames struct {
	ASNs *ASNTable
	PTRs *PTRTable
}

// Origin returns the origin AS of ip from the ASN table.
func (s StaticNames) Origin(ip netip.Addr) (uint32, bool) {
	if s.ASNs == nil {
		return 0, false
	}
	e, ok := s.ASNs.Lookup(ip)
	if !ok || e.ASN == 0 {
		return 0, false
	}
	return e.ASN, true
}

// PTR returns the reverse name of ip from the PTR table.
func (s StaticNames) PTR(ip netip.Addr) (string, bool) {
	if s.PTRs == nil {
		return "", false
	}
	return s.PTRs.Lookup(ip)
}

// NameCache holds the origin AS and forward-confirmed reverse name of the
// addresses the Enricher has answered for, so that the association engine
// can use them without waiting on DNS: sources are looked up when first
// seen, and their attempts are associated tens of seconds later. Static
// tables, when set, take precedence. It is safe for concurrent use and
// bounded: when full, it starts over.
type NameCache struct {
	Static StaticNames

	mu  sync.RWMutex
	m   map[netip.Addr]cachedName
	max int
}

type cachedName struct {
	asn uint32
	ptr string
}

// NewNameCache returns a cache of at most max addresses (<= 0: 1<<18).
func NewNameCache(max int) *NameCache {
	if max <= 0 {
		max = 1 << 18
	}
	return &NameCache{m: map[netip.Addr]cachedName{}, max: max}
}

// Put records what a look-up found. Only forward-confirmed names are kept:
// whoever controls a reverse zone can write any name in it.
func (c *NameCache) Put(r Result) {
	var n cachedName
	if len(r.ASN.Origins) > 0 {
		n.asn = r.ASN.Origins[0].Number
	}
	n.ptr = r.PTR.Confirmed
	if n.asn == 0 && n.ptr == "" {
		return
	}
	ip := r.Request.IP.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[ip] = n
}

// Len is the number of addresses cached.
func (c *NameCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Origin returns the origin AS of ip: from the static table, else the cache.
func (c *NameCache) Origin(ip netip.Addr) (uint32, bool) {
	if n, ok := c.Static.Origin(ip); ok {
		return n, true
	}
	c.mu.RLock()
	n := c.m[ip.Unmap()]
	c.mu.RUnlock()
	return n.asn, n.asn != 0
}

// PTR returns the reverse name of ip: from the static table, else the cache.
func (c *NameCache) PTR(ip netip.Addr) (string, bool) {
	if n, ok := c.Static.PTR(ip); ok {
		return n, true
	}
	c.mu.RLock()
	n := c.m[ip.Unmap()]
	c.mu.RUnlock()
	return n.ptr, n.ptr != ""
}
