package associate

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/attempt"
)

// Most candidate pairs (those the index in index.go gives) are two hosts.
// evaluate explains a pair (the evidence list of the output); pairSum only
// scores it, from features extracted once per attempt (feat), with integer
// times and no strings, maps or allocations. It returns evaluate's sum
// exactly whenever that sum can reach the threshold, which
// TestPairSumMatchesEvaluate checks on random pairs: the evidence lists
// stay the same.
//
// Exactness: every weight except the embedded family's match (4 + 4 x
// confidence) is a multiple of 0.5, so their float sums are exact in any
// order and pairSum may add them in the order that prunes soonest. A pair
// with an embedded match is left to evaluate, which adds in list order.

// osWindows is the interned ID of the "Windows" OS class; 0 is unknown
// ("" or "unknown"), and osOther an ID the intern table had no room for.
const (
	osUnknown = 0
	osWindows = 1
	osOther   = math.MaxUint8
)

// feat is what pairSum reads of one attempt, kept compact so that the scan
// over the IPv4 attempts in the horizon stays in cache.
type feat struct {
	t0, t1     int64 // FirstSeen, LastSeen (Unix ns)
	mean       int64 // mean retransmission interval (ns), 0 without one
	layoutHash uint64
	rate       float64    // measured TSval rate, 0 when not measured
	src        netip.Addr // the attempt's source
	tsFirst    uint32
	mss        int32
	asn        uint32
	syns       int32
	wscale     int16
	ittl, hops int16
	port       uint16
	layout     uint16 // interned option layout; 0 when the table was full
	os         uint8  // interned OS class
	hasTS      bool
	intervals  bool // NIntervals > 0
	ptr        bool // a reverse name is known
	v6First    bool // IPv6: RFC 6724 tries it before IPv4
	embedded   bool // IPv6: the address embeds an IPv4 address
	tunnel     bool // IPv6: 6to4 or Teredo
}

// internOS returns the ID of an OS class.
func (e *Engine) internOS(c string) uint8 {
	if c == "" || c == "unknown" {
		return osUnknown
	}
	if c == "Windows" {
		return osWindows
	}
	if id, ok := e.osIDs[c]; ok {
		return id
	}
	if len(e.osIDs) >= osOther-2 {
		return osOther
	}
	id := uint8(len(e.osIDs) + 2)
	e.osIDs[c] = id
	return id
}

// fillFeat extracts an attempt's features; en.stack, en.info and en.names must
// be filled already.
func (e *Engine) fillFeat(en *entry, a *attempt.Attempt) {
	f := &en.f
	*f = feat{
		t0: a.FirstSeen.UnixNano(), t1: a.LastSeen.UnixNano(), mean: int64(meanInterval(a)),
		layoutHash: en.stack.layoutHash, tsFirst: a.TSFirst, mss: en.stack.mss, asn: en.names.asn,
		wscale: en.stack.wscale, ittl: en.stack.ittl, hops: en.stack.hops, syns: int32(a.SYNs), port: a.SrcPort,
		src: a.Src, layout: e.internLayout(&en.stack), os: e.internOS(a.OSClass), hasTS: a.HasTS, intervals: a.NIntervals > 0, ptr: en.names.ptr != "",
	}
	if r, ok := tsRate(a); ok {
		f.rate = r
	}
	if a.Family == 6 {
		en.p64 = p64(a.Src)
		f.v6First = v6First(en.info.Kind)
		f.embedded = len(en.info.Embedded) > 0
		f.tunnel = en.info.Kind == addr.Kind6to4 || en.info.Kind == addr.KindTeredo
	}
}

// p64 is the /64 of an IPv6 address as an integer.
func p64(ip netip.Addr) uint64 {
	b := ip.As16()
	return binary.BigEndian.Uint64(b[:8])
}

// prefixSnap is the /64 history of one IPv6 attempt as prefixEvidence
// sees it, looked up once per change of the history (history.gen): the
// pair scans read it for every candidate.
type prefixSnap struct {
	gen      uint64 // history.gen it was taken at, +1 (0: never taken)
	ok       bool
	ipv4     netip.Addr // the identity-backed IPv4 (prefixHistory.ipv4)
	agreed   netip.Addr // the IPv4 best in agreeing decisions in a row
	changing bool       // the associated IPv4 keeps changing
	heavy    bool       // att >= 8 && asc < 0.15*att
	// repeat: the /64 is a repeat sender (prefixHistory.recent); its
	// associations need identity evidence.
	repeat bool
	recent float64 // prefixHistory.recent, decayed to the attempt
}

func (e *Engine) prefixOf(v6 *entry) *prefixSnap {
	s := &v6.prefix
	if s.gen == e.hist.gen+1 {
		return s
	}
	*s = prefixSnap{gen: e.hist.gen + 1}
	p, ok := e.hist.v6[v6.p64]
	dt := time.Duration(v6.f.t0 - p.last)
	if !ok || dt > historyTTL {
		return s
	}
	att := decay(p.attempts, dt)
	asc := decay(p.associated, dt)
	s.ok, s.ipv4, s.changing, s.heavy = true, p.ipv4.addr(), p.last4 != 0 && p.changes >= 2, att >= 8 && asc < 0.15*att
	s.recent = decayRecent(p.recent, dt)
	s.repeat = s.recent >= repeatRecent
	if p.agree >= agreeing {
		s.agreed = p.prop4.addr()
	}
	return s
}

// attempt builds back what the engine keeps of en's attempt into dst: what
// the explaining scorer and the Association read. The retransmission
// intervals come back as their mean, all that the evidence uses of them.
func (en *entry) attempt(dst *attempt.Attempt) *attempt.Attempt {
	f := &en.f
	*dst = attempt.Attempt{Family: int(en.family), Src: f.src, SrcPort: f.port,
		FirstSeen: time.Unix(0, f.t0), LastSeen: time.Unix(0, f.t1), SYNs: int(f.syns),
		TSFirst: f.tsFirst, TSLast: en.tsLast, HasTS: f.hasTS, OSClass: en.osClass}
	if f.intervals {
		dst.Intervals[0], dst.NIntervals = time.Duration(f.mean), 1
	}
	return dst
}

// natOf is history.natState for an IPv4 attempt's source.
func (e *Engine) natOf(v4 *entry) (nat, single bool) { return e.hist.natState(v4.f.src) }

// pairSum returns evaluate(v6, v4).sum when that can reach e.minSum, and
// some value below e.minSum otherwise.
// f4 is v4's features (v4.f, or its copy in Engine.v4f): v4 itself is
// read only on the rarer branches.
func (e *Engine) pairSum(v6 *entry, f4 *feat, v4 *entry) float64 {
	f6 := &v6.f
	if d := f6.t0 - f4.t0; d > int64(e.cfg.Horizon) || d < -int64(e.cfg.Horizon) {
		return math.Inf(-1) // not a candidate
	}
	if f6.os == osOther || f4.os == osOther {
		return e.evaluate(v6, v4).sum
	}
	osc := f6.os
	if osc == osUnknown {
		osc = f4.os
	}
	win := osc == osWindows
	order := 0.0
	if !e.off[fOrder] {
		// Most candidates fail here, at the cost of a few compares.
		if order = orderSum(f6, f4, win); order < farOrder && !e.identity(v6, f4, v4) {
			return math.Inf(-1)
		}
	}
	if f6.embedded && !e.off[fEmbedded] && embeds(v6, f4.src) {
		return e.evaluate(v6, v4).sum
	}

	// The most the families not yet added can give (as in bound).
	rest := 0.0
	if !e.off[fHistory] {
		rest += 2
	}
	if !e.off[fPort] && win {
		rest += 4
	}
	if !e.off[fRetrans] {
		rest += 0.5
		if f6.intervals && f4.intervals {
			rest += 2.5
		}
	}
	if !e.off[fClock] && f6.hasTS && f4.hasTS {
		rest += 5.5
	}
	if !e.off[fASN] && !f6.tunnel && f6.asn != 0 && f4.asn != 0 {
		rest++
	}
	if !e.off[fPTR] && f6.ptr && f4.ptr {
		rest += 4
	}

	sum := 0.0
	if !e.off[fStack] {
		sum = stackSumFeat(f6, f4, v6, v4)
	}
	if !e.off[fEmbedded] && f6.tunnel {
		sum -= 4 // no embedded match (those go to evaluate): a mismatch
	}
	sum += order
	if sum+rest < e.minSum {
		return sum + rest
	}
	if !e.off[fClock] && f6.hasTS && f4.hasTS {
		rest -= 5.5
		sum += clockSum(f6, f4)
		if sum+rest < e.minSum {
			return sum + rest
		}
	}
	if !e.off[fASN] && !f6.tunnel && f6.asn != 0 && f4.asn != 0 {
		rest--
		if f6.asn == f4.asn {
			sum++
		} else {
			sum -= 2.5
		}
	}
	if !e.off[fPTR] && f6.ptr && f4.ptr {
		rest -= 4
		if w, ok := ptrEvidence(&v6.names, &v4.names); ok {
			sum += w.w
		}
	}
	if !e.off[fRetrans] {
		rest -= 0.5
		if f6.intervals && f4.intervals {
			rest -= 2.5
		}
		sum += retransSum(f6, f4)
	}
	if sum+rest < e.minSum {
		return sum + rest
	}
	if !e.off[fPort] && win {
		d := int(f6.port) - int(f4.port)
		if d < 0 {
			d = -d
		}
		switch {
		case d <= 4:
			sum += 4
		case d <= 64:
			sum++
		default:
			w := -2.0
			if !e.off[fHistory] {
				switch nat, single := e.natOf(v4); {
				case nat:
					w = 0
				case single:
					w = -4
				}
			}
			sum += w
		}
	}
	if !e.off[fHistory] {
		if s := e.prefixOf(v6); s.ok {
			switch {
			case s.ipv4 == f4.src, s.agreed == f4.src:
				sum += 2
			case s.heavy:
				sum -= 4
			case s.changing:
				sum -= 2
			}
		}
	}
	return sum
}

// stackSumFeat is stackSum on interned features.
func stackSumFeat(f6, f4 *feat, v6, v4 *entry) float64 {
	sum := 0.0
	if f6.os != osUnknown && f4.os != osUnknown {
		if f6.os == f4.os {
			sum++
		} else {
			sum -= 5
		}
	}
	if sameLayoutFeat(f6, f4, v6, v4) {
		sum += 1.5
	} else {
		sum -= 4
	}
	if f6.wscale >= 0 && f4.wscale >= 0 {
		if f6.wscale == f4.wscale {
			sum++
		} else {
			sum -= 3
		}
	}
	if f6.mss >= 0 && f4.mss >= 0 {
		switch {
		case f6.mss == f4.mss-20:
			sum++
		case f6.mss > f4.mss:
			sum--
		}
	}
	if f6.ittl != f4.ittl {
		sum -= 3
	} else {
		d := f6.hops - f4.hops
		if d < 0 {
			d = -d
		}
		switch {
		case d <= 2:
			sum += 0.5
		case d > 6:
			sum -= 1.5
		}
	}
	if f6.hasTS != f4.hasTS {
		sum -= 3
	}
	return sum
}

// sameLayoutFeat is sameLayout by interned ID, or by the bytes when the
// intern table was full.
func sameLayoutFeat(f6, f4 *feat, v6, v4 *entry) bool {
	if f6.layout != 0 && f4.layout != 0 {
		return f6.layout == f4.layout
	}
	return f6.layoutHash == f4.layoutHash && string(v6.stack.layoutBytes()) == string(v4.stack.layoutBytes())
}

// maxLayouts bounds the intern table of option layouts; layouts beyond it
// are compared by their bytes.
const maxLayouts = 4096

func (e *Engine) internLayout(s *stackFeatures) uint16 {
	if id, ok := e.layoutIDs[string(s.layoutBytes())]; ok {
		return id
	}
	if len(e.layoutIDs) >= maxLayouts {
		return 0
	}
	id := uint16(len(e.layoutIDs) + 1)
	e.layoutIDs[string(s.layoutBytes())] = id
	return id
}

// orderSum is orderEvidence's weight on features.
func orderSum(f6, f4 *feat, win bool) float64 {
	first, second := f6, f4
	if !f6.v6First {
		first, second = f4, f6
	}
	reversed := second.t0 < first.t0
	if reversed {
		first, second = second, first
	}
	gap := second.t0 - first.t1
	const ms = int64(time.Millisecond)
	var w float64
	if win {
		switch {
		case gap >= 450*ms && gap <= 1200*ms:
			w = 3
		case gap >= 200*ms && gap <= 3000*ms:
			w = 0.5
		default:
			w = -3
		}
	} else {
		switch {
		case gap >= 0 && gap <= 150*ms:
			w = 3
		case gap >= 0 && gap <= 400*ms:
			w = 2
		case gap >= 0 && gap <= 1000*ms:
			w = 0
		default:
			w = -3
		}
	}
	if reversed {
		w -= 2.5
	}
	if win && first.mean != 0 {
		d := gap - first.mean
		if d < 0 {
			d = -d
		}
		switch {
		case d <= 60*ms:
			w += 1.5
		case d > 400*ms:
			w -= 1.5
		}
	}
	return w
}

// clockSum is clockEvidenceTo's weight on features (both carry TSvals).
func clockSum(f6, f4 *feat) float64 {
	ok6, ok4 := f6.rate != 0, f4.rate != 0
	w := 0.0
	if ok6 && ok4 {
		if math.Abs(f6.rate-f4.rate) > 0.15*math.Max(f6.rate, f4.rate) {
			return -3
		}
		w = 0.5
	}
	dt := time.Duration(f4.t0 - f6.t0).Seconds()
	dts := float64(int32(f4.tsFirst - f6.tsFirst))
	match := func(r float64) bool { return math.Abs(dts-r*dt) <= clockTolerance(r, dt) }
	switch {
	case ok6:
		if match(f6.rate) {
			w += 5
		}
	case ok4:
		if match(f4.rate) {
			w += 5
		}
	default:
		for _, r := range tsRates {
			if match(r) {
				w += 5
				break
			}
		}
	}
	return w
}

// retransSum is retransEvidenceTo's weight on features.
func retransSum(f6, f4 *feat) float64 {
	if f6.syns != f4.syns {
		return -2
	}
	if f6.mean == 0 || f4.mean == 0 {
		return 0.5
	}
	d := f6.mean - f4.mean
	if d < 0 {
		d = -d
	}
	const ms = int64(time.Millisecond)
	switch {
	case d <= 15*ms:
		return 3
	case d <= 40*ms:
		return 1.5
	case d > 100*ms:
		return -1.5
	}
	return 0.5
}

// embeds reports whether an IPv6 attempt's address embeds ip.
func embeds(v6 *entry, ip netip.Addr) bool {
	for i := range v6.info.Embedded {
		if v6.info.Embedded[i].IPv4 == ip {
			return true
		}
	}
	return false
}

// embedsConf is the confidence of ip as the IPv4 an IPv6 attempt's
// address embeds (0: it does not).
func embedsConf(v6 *entry, ip netip.Addr) float64 {
	for i := range v6.info.Embedded {
		if v6.info.Embedded[i].IPv4 == ip {
			return v6.info.Embedded[i].Confidence
		}
	}
	return 0
}

// identity is identitySlow on features: whether a pair has evidence of
// one host that does not depend on timing.
func (e *Engine) identity(v6 *entry, f4 *feat, v4 *entry) bool {
	f6 := &v6.f
	if !e.off[fEmbedded] && f6.embedded && embedsConf(v6, f4.src) >= identityConfidence {
		return true
	}
	if !e.off[fHistory] {
		if s := e.prefixOf(v6); s.ok && (s.ipv4 == f4.src || s.agreed == f4.src) {
			return true
		}
	}
	if !e.off[fClock] && f6.hasTS && f4.hasTS && clockSum(f6, f4) >= 5 {
		return true
	}
	return !e.off[fPTR] && f6.ptr && f4.ptr && v6.names.ptr == v4.names.ptr
}
