package associate

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// The candidates of an IPv6 attempt are the IPv4 attempts within the
// horizon, but pairSum gives every pair whose order evidence is below
// farOrder -Inf unless it has identity evidence that opens the gate
// (keyed: the verdicts marked idKeyed, each found by a key below). So the
// engine need not visit the whole horizon: the pairs that can score are
//
//   - near ones: order >= farOrder only when the later attempt starts at
//     most nearGap after the earlier one ends, which bounds the IPv4
//     attempt's FirstSeen to a few seconds around the IPv6 attempt's
//     (attempts lasting longer than longDur are kept apart and always
//     visited);
//   - and the IPv4 attempts an identity key finds: their address (embedded
//     in the IPv6 address, or the one its /64 was associated with), their
//     TCP timestamp clock (bucketed offsets per common clock rate), their
//     reverse name.
//
// TestIndexMatchesScan checks that the engine decides the same with and
// without the index.

// nearGap is the longest gap, between the end of the earlier attempt and
// the start of the later one, at which orderRule weighs farOrder or
// more (Windows' "unusual" gap, with a fitting retransmission timing).
// TestNearGap checks it against orderRule.
const nearGap = 3 * time.Second

// longDur: IPv4 attempts lasting longer are visited on every scan.
const longDur = 4 * time.Second

// clockKey is a bucket of TSval clock offsets at one of tsRates.
type clockKey struct {
	rate uint8 // index in tsRates
	b    uint32
}

// index finds the attempts of one family held that could pair with an
// attempt of the other: IPv4 attempts by their address, IPv6 attempts by
// the IPv4 addresses they embed and by their /64.
type index struct {
	byAddr map[netip.Addr][]*entry
	byP64  map[uint64][]*entry // IPv6
	byName map[string][]*entry
	clock  map[clockKey][]*entry
	odd    []*entry // with timestamps, at a measured rate none of tsRates
	long   []*entry // lasting longer than longDur
	// base is the time origin of clock offsets (the first attempt's).
	base    int64
	baseSet bool
	width   [len(tsRates)]float64 // bucket width per rate, in ticks
	nb      [len(tsRates)]uint64  // buckets per rate (2^32 / width)
	// scratch for one scan
	keyed []*entry
	// unindexed counts keys an attempt was not found by (a full list).
	unindexed uint64
}

func newIndex(horizon time.Duration) *index {
	ix := &index{byAddr: map[netip.Addr][]*entry{}, byP64: map[uint64][]*entry{}, byName: map[string][]*entry{},
		clock: map[clockKey][]*entry{}}
	for i, r := range tsRates {
		// clockTolerance at the horizon, plus room for float rounding.
		ix.width[i] = math.Ceil(clockTolerance(r, horizon.Seconds())) + 4
		ix.nb[i] = uint64(math.Floor((1 << 32) / ix.width[i]))
	}
	return ix
}

// rateIndex returns the index of r in tsRates, or -1.
func rateIndex(r float64) int {
	for i, s := range tsRates {
		if r == s {
			return i
		}
	}
	return -1
}

// bucket returns the clock bucket of a TSval at time t (Unix ns) for rate i.
func (ix *index) bucket(i int, ts uint32, t int64) uint64 {
	off := math.Mod(float64(ts)-tsRates[i]*float64(t-ix.base)/1e9, 1<<32)
	if off < 0 {
		off += 1 << 32
	}
	// The partial last bucket joins bucket 0: every bucket is at least
	// width wide, including across the wrap of the 32-bit clock.
	return uint64(off/ix.width[i]) % ix.nb[i]
}

// keys calls fn with the addresses en is found by: an IPv4 attempt's
// source, the IPv4 addresses an IPv6 attempt's source embeds.
func keys(en *entry, fn func(netip.Addr)) {
	if en.family == 4 {
		fn(en.f.src)
		return
	}
	for i := range en.info.Embedded {
		fn(en.info.Embedded[i].IPv4)
	}
}

// The bounds on what one decision visits, so that a flood (of new sources
// of both families, of one address, of one crafted TCP timestamp, of long
// attempts) cannot make each decision cost as much as the attempts held:
// a key (an address, a /64, a name, a clock bucket) finds at most maxKeyed
// attempts, the lists of long and odd-rate attempts hold at most maxLong,
// and the scan of the near window visits the maxNear nearest in time.
// Attempts left out are counted (Stats.Unindexed, Stats.CappedScans). In
// ordinary traffic, however dense, no bound is reached: a key finds a
// handful of attempts, the near window a few hundred.
const (
	maxKeyed = 64
	maxLong  = 1024
	maxNear  = 1024
)

// appendCapped appends en to m[k] unless the list is full.
func appendCapped[K comparable](m map[K][]*entry, k K, en *entry) bool {
	l := m[k]
	if len(l) >= maxKeyed {
		return false
	}
	m[k] = append(l, en)
	return true
}

// nearest returns the range of at most n indexes of [lo, hi) nearest to t
// by t0(i) (sorted), centred on where t falls.
func nearest(lo, hi, n int, t int64, t0 func(int) int64) (int, int) {
	if hi-lo <= n {
		return lo, hi
	}
	c := lo + sort.Search(hi-lo, func(i int) bool { return t0(lo+i) >= t })
	a, b := c, c
	for b-a < n {
		switch {
		case a == lo:
			b++
		case b == hi:
			a--
		case t-t0(a-1) <= t0(b)-t:
			a--
		default:
			b++
		}
	}
	return a, b
}

func (ix *index) add(en *entry) {
	f := &en.f
	if !ix.baseSet {
		ix.base, ix.baseSet = f.t0, true
	}
	keys(en, func(a netip.Addr) {
		if !appendCapped(ix.byAddr, a, en) {
			ix.unindexed++
		}
	})
	if en.family == 6 {
		if en.p64Indexed = appendCapped(ix.byP64, en.p64, en); !en.p64Indexed {
			ix.unindexed++
		}
	}
	if en.names.ptr != "" && !appendCapped(ix.byName, en.names.ptr, en) {
		ix.unindexed++
	}
	if f.t1-f.t0 > int64(longDur) {
		if len(ix.long) < maxLong {
			ix.long = append(ix.long, en)
		} else {
			ix.unindexed++
		}
	}
	if !f.hasTS {
		return
	}
	en.nclock = 0
	switch i := rateIndex(f.rate); {
	case f.rate == 0: // the rate is not known: any of them
		for i := range tsRates {
			en.clock[en.nclock] = clockKey{uint8(i), uint32(ix.bucket(i, f.tsFirst, f.t0))}
			en.nclock++
		}
	case i >= 0:
		en.clock[0] = clockKey{uint8(i), uint32(ix.bucket(i, f.tsFirst, f.t0))}
		en.nclock = 1
	default:
		if len(ix.odd) < maxLong {
			ix.odd = append(ix.odd, en)
		} else {
			ix.unindexed++
		}
	}
	// Only the buckets it joined: remove looks in those.
	n := 0
	for _, k := range en.clock[:en.nclock] {
		if appendCapped(ix.clock, k, en) {
			en.clock[n] = k
			n++
		} else {
			ix.unindexed++
		}
	}
	en.nclock = uint8(n)
}

// drop removes en from a list, keeping the order. Entries leave mostly
// oldest first, from the front: that is a reslice, O(1), however long the
// list (one clock bucket or address can hold thousands under a flood).
func drop(list []*entry, en *entry) []*entry {
	if len(list) > 0 && list[0] == en {
		list[0] = nil
		return list[1:]
	}
	if i := slices.Index(list, en); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}

func (ix *index) remove(en *entry) {
	f := &en.f
	keys(en, func(a netip.Addr) {
		if l := drop(ix.byAddr[a], en); len(l) > 0 {
			ix.byAddr[a] = l
		} else {
			delete(ix.byAddr, a)
		}
	})
	if en.family == 6 {
		en.p64Indexed = false
		if l := drop(ix.byP64[en.p64], en); len(l) > 0 {
			ix.byP64[en.p64] = l
		} else {
			delete(ix.byP64, en.p64)
		}
	}
	if en.names.ptr != "" {
		if l := drop(ix.byName[en.names.ptr], en); len(l) > 0 {
			ix.byName[en.names.ptr] = l
		} else {
			delete(ix.byName, en.names.ptr)
		}
	}
	if f.t1-f.t0 > int64(longDur) {
		ix.long = drop(ix.long, en)
	}
	if !f.hasTS {
		return
	}
	if f.rate != 0 && rateIndex(f.rate) < 0 {
		ix.odd = drop(ix.odd, en)
	}
	for _, k := range en.clock[:en.nclock] {
		if l := drop(ix.clock[k], en); len(l) > 0 {
			ix.clock[k] = l
		} else {
			delete(ix.clock, k)
		}
	}
	en.nclock = 0
}

// candidates calls visit for every IPv4 attempt held that pairSum might
// not rule out for v6 (each once; others are within the horizon but
// cannot score), in no particular order.
func (e *Engine) candidates(v6 *entry, visit func(f4 *feat, v4 *entry)) {
	f6 := &v6.f
	h := int64(e.cfg.Horizon)
	lo, hi := e.span(e.v4f, f6.t0)
	if e.noIndex || e.off[fOrder] {
		// Without the order rule every pair in the horizon may score.
		for i := lo; i < hi; i++ {
			visit(&e.v4f[i], e.v4[i])
		}
		return
	}
	// Near: FirstSeen within [t0 - nearGap - longDur, t1 + nearGap].
	from, to := max(f6.t0-h, f6.t0-int64(nearGap+longDur)), min(f6.t0+h, f6.t1+int64(nearGap))
	nlo, nhi := lo, hi
	for nlo < hi && e.v4f[nlo].t0 < from {
		nlo++
	}
	for nhi > nlo && e.v4f[nhi-1].t0 > to {
		nhi--
	}
	scanned := func(en *entry) bool { return en.f.t0 >= from && en.f.t0 <= to }
	inSpan := func(f4 *feat) bool { d := f6.t0 - f4.t0; return d <= h && d >= -h }
	if nhi-nlo > maxNear {
		// A flood: the maxNear nearest in time. The attempts held are in
		// Add (seq) order, so the range scanned is a range of seq.
		e.stats.CappedScans++
		nlo, nhi = nearest(nlo, nhi, maxNear, f6.t0, func(i int) int64 { return e.v4f[i].t0 })
		s0, s1 := e.v4[nlo].seq, e.v4[nhi-1].seq
		scanned = func(en *entry) bool { return en.seq >= s0 && en.seq <= s1 }
	}
	for i := nlo; i < nhi; i++ {
		visit(&e.v4f[i], e.v4[i])
	}
	ix := e.ix4
	for _, en := range ix.long {
		if inSpan(&en.f) && !scanned(en) {
			visit(&en.f, en)
		}
	}
	// Far: those an identity key finds.
	keyed := ix.keyed[:0]
	if !e.off[fEmbedded] {
		for i := range v6.info.Embedded {
			keyed = append(keyed, ix.byAddr[v6.info.Embedded[i].IPv4]...)
		}
	}
	if !e.off[fHistory] {
		if s := e.prefixOf(v6); s.ok {
			if s.ipv4.IsValid() {
				keyed = append(keyed, ix.byAddr[s.ipv4]...)
			}
			if s.agreed.IsValid() && s.agreed != s.ipv4 {
				keyed = append(keyed, ix.byAddr[s.agreed]...)
			}
		}
	}
	if !e.off[fPTR] && v6.names.ptr != "" {
		keyed = append(keyed, ix.byName[v6.names.ptr]...)
	}
	if !e.off[fClock] && f6.hasTS {
		var known bool
		if keyed, known = ix.byClock(keyed, f6); !known {
			// A rate the buckets do not know: every clock in the horizon
			// (the maxNear nearest).
			a, b := nearest(lo, hi, maxNear, f6.t0, func(i int) int64 { return e.v4f[i].t0 })
			for i := a; i < b; i++ {
				if e.v4f[i].hasTS && !scanned(e.v4[i]) {
					keyed = append(keyed, e.v4[i])
				}
			}
		}
	}
	keyed = dedupe(keyed)
	for _, en := range keyed {
		if inSpan(&en.f) && !scanned(en) && en.f.t1-en.f.t0 <= int64(longDur) {
			visit(&en.f, en)
		}
	}
	ix.keyed = keyed[:0]
}

// byClock appends the attempts of ix whose TCP timestamp clock may explain
// f's (clockOne's match): those in f's offset bucket and its neighbours at
// f's measured rate, or at every common rate when f's is not measured, and
// those of odd rates. known is false when f's own rate is odd: the buckets
// cannot find its matches, and the caller must look at every clock.
func (ix *index) byClock(keyed []*entry, f *feat) (_ []*entry, known bool) {
	ri := rateIndex(f.rate)
	if f.rate != 0 && ri < 0 {
		return keyed, false
	}
	for i := range tsRates {
		if f.rate != 0 && i != ri {
			continue
		}
		b := ix.bucket(i, f.tsFirst, f.t0)
		for _, d := range [3]uint64{ix.nb[i] - 1, 0, 1} {
			keyed = append(keyed, ix.clock[clockKey{uint8(i), uint32((b + d) % ix.nb[i])}]...)
		}
	}
	return append(keyed, ix.odd...), true
}

// dedupe sorts attempts found by several keys and drops repeats.
func dedupe(keyed []*entry) []*entry {
	if len(keyed) > 1 {
		slices.SortFunc(keyed, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
		keyed = slices.Compact(keyed)
	}
	return keyed
}

// laterCandidates calls visit for every undecided IPv6 attempt of later
// (sorted by FirstSeen) that pairSum might not rule out with v4, until
// visit returns false: the same rule as candidates, from the other side.
// The /64s whose last associated IPv4 is v4's source come from the
// history's reverse map.
func (e *Engine) laterCandidates(v4 *entry, later []*entry, visit func(l *entry) bool) {
	f4 := &v4.f
	h := int64(e.cfg.Horizon)
	at := func(t int64) int { return sort.Search(len(later), func(i int) bool { return later[i].f.t0 >= t }) }
	after := func(t int64) int { return sort.Search(len(later), func(i int) bool { return later[i].f.t0 > t }) }
	lo, hi := at(f4.t0-h), after(f4.t0+h)
	if e.noIndex || e.off[fOrder] {
		for _, l := range later[lo:hi] {
			if !visit(l) {
				return
			}
		}
		return
	}
	from, to := max(f4.t0-h, f4.t0-int64(nearGap+longDur)), min(f4.t0+h, f4.t1+int64(nearGap))
	nlo, nhi := at(from), after(to)
	scanned := func(l *entry) bool { return l.f.t0 >= from && l.f.t0 <= to }
	if nhi-nlo > maxNear {
		// A flood: as in candidates.
		e.stats.CappedScans++
		nlo, nhi = nearest(nlo, nhi, maxNear, f4.t0, func(i int) int64 { return later[i].f.t0 })
		s0, s1 := later[nlo].seq, later[nhi-1].seq
		scanned = func(l *entry) bool { return l.seq >= s0 && l.seq <= s1 }
	}
	for _, l := range later[nlo:nhi] {
		if !visit(l) {
			return
		}
	}
	ok := func(l *entry) bool {
		d := l.f.t0 - f4.t0
		return !l.deciding && d <= h && d >= -h && !scanned(l)
	}
	ix := e.ix6
	for _, l := range ix.long {
		if ok(l) && !visit(l) {
			return
		}
	}
	keyed := ix.keyed[:0]
	if !e.off[fEmbedded] {
		keyed = append(keyed, ix.byAddr[f4.src]...)
	}
	if !e.off[fHistory] {
		for _, k := range e.hist.byIPv4[f4.src] {
			keyed = append(keyed, ix.byP64[k]...)
		}
	}
	if !e.off[fPTR] && v4.names.ptr != "" {
		keyed = append(keyed, ix.byName[v4.names.ptr]...)
	}
	if !e.off[fClock] && f4.hasTS {
		var known bool
		if keyed, known = ix.byClock(keyed, f4); !known {
			a, b := nearest(lo, hi, maxNear, f4.t0, func(i int) int64 { return later[i].f.t0 })
			for _, l := range later[a:b] {
				if l.f.hasTS {
					keyed = append(keyed, l)
				}
			}
		}
	}
	keyed = dedupe(keyed)
	for _, l := range keyed {
		if ok(l) && l.f.t1-l.f.t0 <= int64(longDur) && !visit(l) {
			break
		}
	}
	ix.keyed = keyed[:0]
}
