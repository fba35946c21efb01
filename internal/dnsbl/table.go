// Package dnsbl serves an IPv6 blocklist as a DNSBL (RFC 5782): a query
// for the 32 reversed nibbles of an address under the zone is answered with
// A 127.0.0.2 and a TXT reason when the address is in a listed prefix, and
// NXDOMAIN otherwise.
package dnsbl

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// Answer is what a listed address gets.
type Answer struct {
	A   netip.Addr
	TXT string
	// LastSeen is the entry's last attempt, from which it expires (zero:
	// never).
	LastSeen time.Time
}

// Table is an immutable set of listed prefixes with their answers, looked
// up by longest prefix match: one hash map keyed by masked prefix and the
// list of prefix lengths present, longest first, so a look-up costs one map
// probe per distinct length (one, for a list built with one --prefix).
type Table struct {
	lens    []int
	m       map[netip.Prefix]Answer
	entries int
	// list holds the entries listed, in their order (the HTTP feed
	// serves them): the caller's slice when every entry was taken.
	list []blocklist.Entry
	// Serial is the SOA serial (the build time, Unix seconds).
	Serial uint32
	// Built is when the table was built.
	Built time.Time
}

// NewTable builds a table from entries. The RFC 5782 test point
// (blocklist.TestPointListed) is always listed; entries that are not IPv6
// prefixes are ignored; of duplicate prefixes the first wins.
func NewTable(entries []blocklist.Entry) *Table {
	now := time.Now()
	t := &Table{m: make(map[netip.Prefix]Answer, len(entries)+1), Built: now, Serial: uint32(now.Unix())}
	add := func(p netip.Prefix, a Answer) {
		p = p.Masked()
		if _, dup := t.m[p]; dup {
			return
		}
		t.m[p] = a
		if !slices.Contains(t.lens, p.Bits()) {
			t.lens = append(t.lens, p.Bits())
		}
	}
	add(netip.PrefixFrom(blocklist.TestPointListed, 128), Answer{A: blocklist.ListedA, TXT: blocklist.TestPointReason})
	// t.list stays nil while every entry is taken (it is then entries
	// itself); the first one skipped copies those before it.
	skip := func(i int) {
		if t.list == nil {
			t.list = slices.Clone(entries[:i])
		}
	}
	for i, e := range entries {
		p := e.Prefix
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Zone() != "" {
			skip(i)
			continue
		}
		before := len(t.m)
		add(p, Answer{A: blocklist.ListedA, TXT: blocklist.Reason(e), LastSeen: e.LastSeen})
		if len(t.m) == before {
			skip(i)
			continue
		}
		t.entries++
		if t.list != nil {
			t.list = append(t.list, e)
		}
	}
	if t.list == nil {
		t.list = entries[:t.entries:t.entries]
	}
	slices.SortFunc(t.lens, func(a, b int) int { return b - a })
	return t
}

// Len returns the number of listed prefixes, without the test point.
func (t *Table) Len() int { return t.entries }

// Entries returns the entries listed (without the test point, the
// entries NewTable skipped left out), in the order given. They are
// shared: do not modify them.
func (t *Table) Entries() []blocklist.Entry {
	if t == nil {
		return nil
	}
	return t.list
}

// Lookup returns the answer of the longest listed prefix holding ip.
func (t *Table) Lookup(ip netip.Addr) (Answer, bool) {
	a, ok, _ := t.LookupAt(ip, time.Time{}, 0)
	return a, ok
}

// LookupAt returns the answer of the longest listed prefix holding ip that
// has not expired at now (blocklist.Expired: an entry is gone from
// LastSeen+expire on; expire 0: none expires). expired reports that a
// prefix held ip but had expired.
func (t *Table) LookupAt(ip netip.Addr, now time.Time, expire time.Duration) (a Answer, ok, expired bool) {
	if t == nil || !ip.Is6() {
		return Answer{}, false, false
	}
	ip = ip.WithZone("")
	for _, bits := range t.lens {
		p, err := ip.Prefix(bits)
		if err != nil {
			continue
		}
		if a, ok := t.m[p]; ok {
			if blocklist.Expired(a.LastSeen, now, expire) {
				expired = true
				continue // a wider prefix may still be listed
			}
			return a, true, expired
		}
	}
	return Answer{}, false, expired
}

// ParseNibbles parses the 32 reversed, dot-separated hex nibbles of an
// IPv6 address ("1.0.0.0...8.b.d.0.1.0.0.2" for 2001:db8::1), in either
// case, without the zone. It reports false for anything else.
func ParseNibbles(s string) (netip.Addr, bool) {
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := range 32 {
		c := s[2*i]
		if i < 31 && s[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return netip.Addr{}, false
		}
		// Nibble i counts from the least significant end.
		n := 31 - i
		if n%2 == 0 {
			b[n/2] |= v << 4
		} else {
			b[n/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}

// Nibbles returns the reversed-nibble form of an IPv6 address, as
// ParseNibbles reads it (lower case, no trailing dot).
func Nibbles(ip netip.Addr) string {
	const hex = "0123456789abcdef"
	b := ip.As16()
	out := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, hex[b[i]&0xf], '.', hex[b[i]>>4])
	}
	return string(out)
}
