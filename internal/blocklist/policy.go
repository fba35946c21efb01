package blocklist

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/results"
)

// Defaults of Policy.
const (
	DefaultWidenTo = 48
	DefaultExpire  = 30 * 24 * time.Hour
	// maxListings bounds the listings kept per source and prefix to count
	// relistings; older ones are folded into a count (see listings).
	maxListings = 256
)

// Policy is what an operator decides about a built list: what is never
// listed, when an entry expires, when /64s of one network become one wider
// entry. The zero Policy changes nothing.
type Policy struct {
	// WidenAt is the number of listed prefixes in one /WidenTo that makes
	// the list hold the /WidenTo instead (0: never).
	WidenAt int
	// WidenTo is the wider prefix length: 48 or 56.
	WidenTo int
	// Allow holds the prefixes never listed, nor widened across (nil:
	// none).
	Allow *Allowlist
	// Expire is how long an entry lives after its LastSeen (0: for ever).
	Expire time.Duration
	// Now is when expiry is judged. Zero: not here; the DNSBL judges it at
	// answer time.
	Now time.Time
}

// Validate checks the policy.
func (p Policy) Validate() error {
	if p.WidenAt < 0 {
		return fmt.Errorf("widen-at %d is negative (0: never widen)", p.WidenAt)
	}
	if p.WidenAt > 0 && p.WidenTo != 48 && p.WidenTo != 56 {
		return fmt.Errorf("widen-to %d: want 48 or 56", p.WidenTo)
	}
	if p.Expire < 0 {
		return errors.New("expire is negative (0: never)")
	}
	return nil
}

// Expired reports whether e has expired at now: an entry lives while now
// is before LastSeen+expire, so at exactly LastSeen+expire it is gone. An
// entry without a LastSeen (a plain list's) never expires, nor does any
// when expire is 0.
func (e Entry) Expired(now time.Time, expire time.Duration) bool {
	return Expired(e.LastSeen, now, expire)
}

// Expired reports whether an entry last seen at lastSeen has expired at
// now (see Entry.Expired).
func Expired(lastSeen, now time.Time, expire time.Duration) bool {
	return expire > 0 && !lastSeen.IsZero() && !now.Before(lastSeen.Add(expire))
}

// Apply returns the list under p: expired entries and entries overlapping
// an allowlisted prefix left out (counted in Stats.Expired and
// Stats.Allowlisted), then listed prefixes widened. l is not changed.
func (l *List) Apply(p Policy) (*List, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := &List{Options: l.Options, Stats: l.Stats, Entries: make([]Entry, 0, len(l.Entries)), spans: l.spans}
	for _, e := range l.Entries {
		switch {
		case !p.Now.IsZero() && e.Expired(p.Now, p.Expire):
			out.Stats.Expired++
		case p.Allow.Overlaps(e.Prefix):
			out.Stats.Allowlisted++
		default:
			out.Entries = append(out.Entries, e)
		}
	}
	if p.WidenAt > 0 {
		out.widen(p)
	}
	return out, nil
}

// widen replaces the listed prefixes longer than p.WidenTo, when at least
// p.WidenAt of them fall in one /WidenTo, by that prefix. Teredo prefixes
// are left alone (a Teredo /48 is a server's clients, not a network), as
// is a wider prefix overlapping an allowlisted one or holding the RFC 5782
// negative test point.
func (l *List) widen(p Policy) {
	groups := make(map[netip.Prefix][]int)
	for i, e := range l.Entries {
		if e.Prefix.Bits() <= p.WidenTo || results.Teredo(e.Prefix.Addr()) {
			continue
		}
		w, _ := e.Prefix.Addr().Prefix(p.WidenTo)
		groups[w] = append(groups[w], i)
	}
	drop := make([]bool, len(l.Entries))
	var wide []Entry
	for _, w := range slices.SortedFunc(maps.Keys(groups), comparePrefix) {
		idx := groups[w]
		if len(idx) < p.WidenAt || p.Allow.Overlaps(w) || w.Contains(TestPointUnlisted) {
			continue
		}
		wide = append(wide, l.aggregate(w, idx))
		for _, i := range idx {
			drop[i] = true
		}
		l.Stats.Widened++
		l.Stats.WidenedFrom += len(idx)
	}
	if wide == nil {
		return
	}
	kept := wide
	for i, e := range l.Entries {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	SortEntries(kept)
	l.Entries = kept
}

// aggregate returns the entry of w holding the entries at idx.
func (l *List) aggregate(w netip.Prefix, idx []int) Entry {
	a := Entry{Prefix: w, IPv4: []netip.Addr{}, WidenedFrom: len(idx)}
	ev, sensors := make(map[string]struct{}), make(map[string]struct{})
	var ls listings
	for n, i := range idx {
		e := &l.Entries[i]
		if n == 0 || e.FirstSeen.Before(a.FirstSeen) {
			a.FirstSeen = e.FirstSeen
		}
		if e.LastSeen.After(a.LastSeen) {
			a.LastSeen = e.LastSeen
		}
		if !e.FirstListed.IsZero() && (a.FirstListed.IsZero() || e.FirstListed.Before(a.FirstListed)) {
			a.FirstListed = e.FirstListed
		}
		a.Attempts += e.Attempts
		a.Addresses += e.Addresses
		a.MaxScore = max(a.MaxScore, e.MaxScore)
		for _, ip := range e.IPv4 {
			a.IPv4 = addSmallest(a.IPv4, ip, MaxIPv4)
		}
		for _, f := range e.Evidence {
			ev[f] = struct{}{}
		}
		for _, s := range e.Sensors {
			sensors[s] = struct{}{}
		}
		// A read list keeps no listings: the widest count of its entries
		// is the best there is.
		a.Relisted = max(a.Relisted, e.Relisted)
		if s, ok := l.spans[e.Prefix]; ok {
			ls.merge(s, l.Options.Expire) // the expiry the spans were built with
		}
	}
	if len(ls.spans) > 0 {
		a.Relisted = ls.relisted()
	}
	if a.Relisted > 0 {
		a.ListedSince = ls.since()
	}
	a.Evidence = slices.Sorted(maps.Keys(ev))
	if len(sensors) > 0 {
		a.Sensors = slices.Sorted(maps.Keys(sensors))
	}
	return a
}

// span is one listing: attempts from first to last, each less than the
// expiry after the one before.
type span struct{ first, last time.Time }

// listings are the listings of a source or a prefix, sorted, each at least
// the expiry after the one before. Beyond maxListings the oldest is folded
// into folded: an attempt arriving late in a folded gap then no longer
// closes it (a relisting too many, only with that many listings).
type listings struct {
	spans  []span
	folded int
}

// add adds an attempt at t.
func (ls *listings) add(t time.Time, expire time.Duration) { ls.addSpan(span{t, t}, expire) }

// addSpan adds s, joining the listings it comes less than expire near.
func (ls *listings) addSpan(s span, expire time.Duration) {
	lo, _ := slices.BinarySearchFunc(ls.spans, s.first, func(x span, t time.Time) int {
		if t.Sub(x.last) < expire {
			return 1 // x joins s, or comes after
		}
		return -1
	})
	hi := lo
	for hi < len(ls.spans) && ls.spans[hi].first.Sub(s.last) < expire {
		if x := ls.spans[hi]; x.first.Before(s.first) {
			s.first = x.first
		}
		if x := ls.spans[hi]; x.last.After(s.last) {
			s.last = x.last
		}
		hi++
	}
	ls.spans = slices.Replace(ls.spans, lo, hi, s)
	if len(ls.spans) > maxListings {
		ls.spans = slices.Delete(ls.spans, 0, 1)
		ls.folded++
	}
}

// merge adds the listings of o.
func (ls *listings) merge(o listings, expire time.Duration) {
	ls.folded = max(ls.folded, o.folded)
	for _, s := range o.spans {
		ls.addSpan(s, expire)
	}
}

// relisted is the number of times the entry came back after expiring.
func (ls *listings) relisted() int {
	if len(ls.spans) == 0 {
		return 0
	}
	return ls.folded + len(ls.spans) - 1
}

// since is the first attempt of the current listing.
func (ls *listings) since() time.Time {
	if len(ls.spans) == 0 {
		return time.Time{}
	}
	return ls.spans[len(ls.spans)-1].first.UTC()
}
