// Package blocklist turns the association results (associations.jsonl) into
// an IPv6 reputation list: the IPv6 prefixes from which attempts labelled
// spammer were seen. The list can be written for rbldnsd (ip6trie), as plain
// CIDR lines or as JSON Lines, and read back from the plain and JSON forms.
package blocklist

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// Defaults of Options.
const (
	DefaultPrefixLen = 64
	DefaultMinScore  = 0.5
	// MinPrefixLen and MaxPrefixLen bound Options.PrefixLen.
	MinPrefixLen = 32
	MaxPrefixLen = 128
	// MaxIPv4 is how many associated IPv4 addresses an entry keeps.
	MaxIPv4 = 5
)

// Options select what is listed.
type Options struct {
	// PrefixLen is the length of the listed prefixes (128: single
	// addresses).
	PrefixLen int
	// MinScore is the lowest association score of a spammer attempt that
	// counts.
	MinScore float64
	// Window selects attempts by their first SYN.
	Window record.Window
	// Expire is how long an entry lives after its last attempt: a gap at
	// least that long between two attempts of a prefix is a relisting
	// (Entry.Relisted; 0: none counted). Leaving expired entries out is
	// Policy's.
	Expire time.Duration
}

// DefaultOptions returns the defaults: /64, score >= 0.5, no window.
func DefaultOptions() Options {
	return Options{PrefixLen: DefaultPrefixLen, MinScore: DefaultMinScore}
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.PrefixLen < MinPrefixLen || o.PrefixLen > MaxPrefixLen {
		return fmt.Errorf("prefix length %d out of range %d..%d", o.PrefixLen, MinPrefixLen, MaxPrefixLen)
	}
	if math.IsNaN(o.MinScore) || math.IsInf(o.MinScore, 0) {
		return fmt.Errorf("minimum score %v is not a number", o.MinScore)
	}
	if o.Expire < 0 {
		return errors.New("expire is negative (0: never)")
	}
	if !o.Window.Since.IsZero() && !o.Window.Until.IsZero() && !o.Window.Since.Before(o.Window.Until) {
		return fmt.Errorf("empty window: since %s is not before until %s",
			o.Window.Since.Format(time.RFC3339), o.Window.Until.Format(time.RFC3339))
	}
	return nil
}

// Entry is one listed prefix.
type Entry struct {
	Prefix netip.Prefix `json:"prefix"`
	// FirstSeen and LastSeen are the first SYNs of the earliest and the
	// latest spammer attempt counted.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Attempts counts the spammer attempts; Addresses the distinct IPv6
	// sources they came from.
	Attempts  int `json:"attempts"`
	Addresses int `json:"addresses"`
	// IPv4 holds the smallest MaxIPv4 of the distinct IPv4 addresses the
	// attempts were associated with, sorted.
	IPv4     []netip.Addr `json:"ipv4"`
	MaxScore float64      `json:"max_score"`
	// Evidence holds the evidence families seen ("order", "stack", ...),
	// sorted.
	Evidence []string `json:"evidence"`
	// Sensors are the ids of the sensors of a network that saw the
	// spammer attempts, sorted (the fleet's list; empty for one sensor's).
	Sensors []string `json:"sensors,omitempty"`
	// FirstListed is when the fleet's list first held the prefix (zero for
	// one sensor's list).
	FirstListed time.Time `json:"first_listed,omitzero"`
	// Relisted counts the times the prefix came back after expiring: gaps
	// of at least Options.Expire between consecutive spammer attempts.
	// ListedSince is then the first attempt of the current listing
	// (FirstSeen stays the first attempt of all).
	Relisted    int       `json:"relisted,omitempty"`
	ListedSince time.Time `json:"listed_since,omitzero"`
	// WidenedFrom is the number of listed prefixes a widened entry holds
	// (see Policy.WidenAt); its counts are theirs summed.
	WidenedFrom int `json:"widened_from,omitempty"`
}

// Stats counts what a build read and listed.
type Stats struct {
	record.Stats
	// Spammer counts the spammer attempts listed (inside the window, at or
	// above the minimum score).
	Spammer int
	// BelowScore counts spammer attempts under the minimum score.
	BelowScore int
	// Ignored counts spammer attempts whose source cannot be listed: not
	// an IPv6 address, an IPv4-mapped address, or in a prefix that would
	// hold the RFC 5782 negative test point ::ffff:127.0.0.1.
	Ignored int
	// Outvoted counts spammer attempts of sources most of whose
	// associations point to unlisted IPv4s (not listed).
	Outvoted int
	// Set by List.Apply: Expired and Allowlisted count the entries left
	// out as expired or overlapping an allowlisted prefix; Widened the
	// wider entries made, of WidenedFrom listed prefixes.
	Expired, Allowlisted, Widened, WidenedFrom int
}

// List is a built list.
type List struct {
	Options Options
	Stats   Stats
	Entries []Entry // sorted by prefix
	// spans are the listings of each built entry when Options.Expire is
	// set, for widening to count the wider entry's relistings.
	spans map[netip.Prefix]listings
}

// RFC 5782 test points for IPv6 DNSBLs: TestPointListed must be listed and
// TestPointUnlisted must not be.
var (
	TestPointListed   = netip.MustParseAddr("::ffff:7f00:2")
	TestPointUnlisted = netip.MustParseAddr("::ffff:7f00:1")
)

// TestPointReason is the TXT of the RFC 5782 test point.
const TestPointReason = "RFC 5782 test point"

// acc accumulates one entry.
type acc struct {
	e     Entry
	ls    listings
	addrs map[netip.Addr]struct{}
	ev    map[string]struct{}
}

// source is what the builder keeps of one IPv6 source address: its
// associations vote on whether it is a spammer, and its spammer attempts.
type source struct {
	associated int // attempts associated with an IPv4 (address or attempt)
	spammer    int // of those, with a listed IPv4
	e          Entry
	ev         map[string]struct{}
	ls         listings
}

// Builder aggregates associations into a list.
type Builder struct {
	opts Options
	st   Stats
	srcs map[netip.Addr]*source
}

// NewBuilder returns a builder for o (see Options.Validate).
func NewBuilder(o Options) (*Builder, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Builder{opts: o, srcs: make(map[netip.Addr]*source)}, nil
}

// Add counts one association. Associations outside the window are not
// checked here (the scan does that); those that are not spammers, under the
// minimum score or from a source that cannot be listed are skipped.
//
// A source is listed only if most of its associations point to a listed
// IPv4 (the same vote as the report's): one wrong association of a busy
// host, such as a misbehaving MTA trying every few seconds, does not list
// it. Its spammer attempts are counted in Stats.Outvoted instead.
func (b *Builder) Add(a *record.Association) {
	src := a.Src.WithZone("")
	if !a.Associated() && !a.Spammer {
		return
	}
	x := b.srcs[src]
	if x == nil {
		x = &source{}
		b.srcs[src] = x
	}
	if a.Associated() {
		x.associated++
	}
	if !a.Spammer {
		return
	}
	x.spammer++
	if !(a.Score >= b.opts.MinScore) {
		b.st.BelowScore++
		return
	}
	if !src.IsValid() || !src.Is6() || src.Is4In6() {
		b.st.Ignored++
		return
	}
	if p, err := src.Prefix(b.opts.PrefixLen); err != nil || p.Contains(TestPointUnlisted) {
		b.st.Ignored++
		return
	}
	e := &x.e
	if e.Attempts == 0 {
		e.FirstSeen, e.LastSeen, e.MaxScore = a.FirstSeen, a.FirstSeen, a.Score
		x.ev = make(map[string]struct{})
	}
	e.Attempts++
	if b.opts.Expire > 0 {
		x.ls.add(a.FirstSeen, b.opts.Expire)
	}
	if a.FirstSeen.Before(e.FirstSeen) {
		e.FirstSeen = a.FirstSeen
	}
	if a.FirstSeen.After(e.LastSeen) {
		e.LastSeen = a.FirstSeen
	}
	e.MaxScore = max(e.MaxScore, a.Score)
	if a.Associated() && a.IPv4.Src.IsValid() {
		e.IPv4 = addSmallest(e.IPv4, a.IPv4.Src.WithZone(""), MaxIPv4)
	}
	for _, s := range a.Evidence {
		if f := Family(s); f != "" {
			x.ev[f] = struct{}{}
		}
	}
}

// merge adds the spammer attempts of one listed source to its prefix's entry.
func (b *Builder) merge(m map[netip.Prefix]*acc, src netip.Addr, x *source) {
	p := results.HostPrefix(src, b.opts.PrefixLen)
	a := m[p]
	if a == nil {
		a = &acc{e: Entry{Prefix: p, FirstSeen: x.e.FirstSeen, LastSeen: x.e.LastSeen, MaxScore: x.e.MaxScore},
			addrs: make(map[netip.Addr]struct{}), ev: make(map[string]struct{})}
		m[p] = a
	}
	e := &a.e
	e.Attempts += x.e.Attempts
	if x.e.FirstSeen.Before(e.FirstSeen) {
		e.FirstSeen = x.e.FirstSeen
	}
	if x.e.LastSeen.After(e.LastSeen) {
		e.LastSeen = x.e.LastSeen
	}
	e.MaxScore = max(e.MaxScore, x.e.MaxScore)
	for _, ip := range x.e.IPv4 {
		e.IPv4 = addSmallest(e.IPv4, ip, MaxIPv4)
	}
	a.addrs[src] = struct{}{}
	if b.opts.Expire > 0 {
		a.ls.merge(x.ls, b.opts.Expire)
	}
	for f := range x.ev {
		a.ev[f] = struct{}{}
	}
}

// addSmallest adds ip to the sorted set s, keeping its n smallest members.
func addSmallest(s []netip.Addr, ip netip.Addr, n int) []netip.Addr {
	i, found := slices.BinarySearchFunc(s, ip, netip.Addr.Compare)
	if found || i >= n {
		return s
	}
	s = slices.Insert(s, i, ip)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// Family returns the evidence family of an evidence string: the part
// before the first ':' ("order:rst-roundtrip-gap(+3.0)" -> "order").
func Family(evidence string) string {
	f, _, _ := strings.Cut(evidence, ":")
	return strings.TrimSpace(f)
}

// SetScanStats records the counts of the scan that fed the builder.
func (b *Builder) SetScanStats(st record.Stats) { b.st.Stats = st }

// List returns the list built so far, sorted by prefix.
func (b *Builder) List() *List {
	st := b.st
	m := make(map[netip.Prefix]*acc)
	for src, x := range b.srcs {
		if x.e.Attempts == 0 {
			continue
		}
		if !results.SpammerHost(x.associated, x.spammer) {
			st.Outvoted += x.e.Attempts
			continue
		}
		st.Spammer += x.e.Attempts
		b.merge(m, src, x)
	}
	l := &List{Options: b.opts, Stats: st, Entries: make([]Entry, 0, len(m))}
	if b.opts.Expire > 0 {
		l.spans = make(map[netip.Prefix]listings, len(m))
	}
	for p, x := range m {
		e := x.e
		if l.spans != nil {
			l.spans[p] = x.ls
			if e.Relisted = x.ls.relisted(); e.Relisted > 0 {
				e.ListedSince = x.ls.since()
			}
		}
		e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
		e.Addresses = len(x.addrs)
		e.IPv4 = slices.Clone(e.IPv4)
		if e.IPv4 == nil {
			e.IPv4 = []netip.Addr{}
		}
		e.Evidence = make([]string, 0, len(x.ev))
		for f := range x.ev {
			e.Evidence = append(e.Evidence, f)
		}
		slices.Sort(e.Evidence)
		l.Entries = append(l.Entries, e)
	}
	SortEntries(l.Entries)
	return l
}

// SortEntries sorts entries by prefix (address, then length).
func SortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
}

// comparePrefix orders prefixes by address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// Build reads associations.jsonl from r and builds the list. Lines that do
// not parse are skipped and counted in Stats.Bad.
func Build(r io.Reader, o Options) (*List, error) {
	b, err := NewBuilder(o)
	if err != nil {
		return nil, err
	}
	st, err := record.ScanAssociations(r, o.Window, func(a *record.Association) error {
		b.Add(a)
		return nil
	})
	b.SetScanStats(st)
	if err != nil {
		return nil, err
	}
	return b.List(), nil
}

// BuildDir builds the list from the associations.jsonl of a results
// directory.
func BuildDir(dir string, o Options) (*List, error) { return BuildFrom(results.Dir(dir), o) }

// BuildFrom builds the list from the associations of src (a directory or
// a store).
func BuildFrom(src results.Source, o Options) (*List, error) {
	b, err := NewBuilder(o)
	if err != nil {
		return nil, err
	}
	st, err := results.Scan(src, record.AssociationsFile, func(r io.Reader) (record.Stats, error) {
		return record.ScanAssociations(r, o.Window, func(a *record.Association) error {
			b.Add(a)
			return nil
		})
	})
	b.SetScanStats(st)
	if err != nil {
		return nil, err
	}
	return b.List(), nil
}

// MaxReason bounds Reason's text: a DNS TXT answer of one character-string
// holds at most 255 bytes.
const MaxReason = 254

// Reason returns the TXT text for an entry: what listed it, the first
// associated IPv4 and how many more the entry holds, the attempts and the
// first of them, and the evidence families, e.g. "mxsensor: spam via IPv4
// 192.0.2.1 (+2); 17 attempts since 2026-11-26; evidence clock,order,stack".
// The text is printable ASCII without '$' (which rbldnsd would substitute),
// '"', '\' or '#', at most MaxReason bytes, cut after a whole word with
// "..." when longer (an entry read from a list may hold any number of
// addresses and families). An entry without counts (read from a plain list)
// gets "mxsensor: spam".
func Reason(e Entry) string {
	var b strings.Builder
	b.WriteString("mxsensor: spam")
	if len(e.IPv4) > 0 {
		b.WriteString(" via IPv4 " + e.IPv4[0].String())
		if n := len(e.IPv4) - 1; n > 0 {
			fmt.Fprintf(&b, " (+%d)", n)
		}
	}
	if e.Attempts > 0 && !e.FirstSeen.IsZero() {
		fmt.Fprintf(&b, "; %d attempt", e.Attempts)
		if e.Attempts != 1 {
			b.WriteByte('s')
		}
		b.WriteString(" since " + e.FirstSeen.UTC().Format(time.DateOnly))
	}
	if e.WidenedFrom > 0 {
		fmt.Fprintf(&b, "; widened from %d listed prefixes", e.WidenedFrom)
	}
	for i, f := range e.Evidence {
		if b.Len() > MaxReason {
			break // the rest would be cut anyway
		}
		if i == 0 {
			b.WriteString("; evidence ")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(f)
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '$' || r == '"' || r == '\\' || r == '#' {
			return '_'
		}
		return r
	}, b.String())
	return clipText(s, MaxReason)
}

// clipText cuts the ASCII text s to at most n bytes, marking the cut with
// "...": after the last whole word or list item that leaves room for it,
// unless that drops more than a long word (then inside the word).
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more, word = "...", 24
	cut := s[:n-len(more)+1] // +1: a separator just past the room still ends a whole word
	if i := strings.LastIndexAny(cut, " ,;"); i > 0 && i >= len(cut)-word {
		cut = cut[:i]
	} else {
		cut = cut[:n-len(more)]
	}
	return strings.TrimRight(cut, " ,;") + more
}

// ErrFormat reports an unknown output format.
var ErrFormat = errors.New("unknown format (want rbldnsd, plain, json, postfix or nft)")
