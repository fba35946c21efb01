package associate

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/attempt"
)

// The association model is a set of rules (evidence.go, clock.go,
// names.go, history.go), each scoring one trait of a candidate pair from
// features extracted once per attempt (feat: integer times, interned OS
// classes and option layouts); pairSum sums their weights. Most candidate
// pairs (those the index in index.go gives) are two hosts: pairSum without
// a record stops as soon as a pair cannot reach the threshold. Given a
// record, it applies every rule and notes its verdict: the evidence list
// of the output, made only for the pair emitted.
//
// Exactness: every weight except the embedded family's match (4 + 4 x
// confidence) is a multiple of 0.5, so their float sums are exact in any
// order and pairSum may add them in the order that prunes soonest. A sum
// with an embedded match is taken as a record takes it, in the output's
// order, the order it has always been added in.

// osWindows is the interned ID of the "Windows" OS class; 0 is unknown
// ("" or "unknown"), and osOther an ID the intern table had no room for.
const (
	osUnknown = 0
	osWindows = 1
	osOther   = math.MaxUint8
)

// feat is what the rules read of one attempt, kept compact so that the scan
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

// fillFeat extracts an attempt's features from a and its stack st; en.info
// and en.names must be filled already.
func (e *Engine) fillFeat(en *entry, a *attempt.Attempt, st *stackFeatures) {
	f := &en.f
	*f = feat{
		t0: a.FirstSeen.UnixNano(), t1: a.LastSeen.UnixNano(), mean: int64(meanInterval(a)),
		layoutHash: st.layoutHash, tsFirst: a.TSFirst, mss: st.mss, asn: en.names.asn,
		wscale: st.wscale, ittl: st.ittl, hops: st.hops, syns: int32(a.SYNs), port: a.SrcPort,
		src: a.Src, layout: e.internLayout(st), os: e.internOS(a.OSClass), hasTS: a.HasTS, intervals: a.NIntervals > 0, ptr: en.names.ptr != "",
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

// prefixSnap is the /64 history of one IPv6 attempt as historyRule
// sees it, looked up once per change of the history (history.gen): the
// pair scans read it for every candidate.
type prefixSnap struct {
	gen, purges uint64 // history.gen (+1: 0 is never taken) and purges it was taken at
	ok          bool
	ipv4        netip.Addr // the identity-backed IPv4 (prefixHistory.ipv4)
	agreed      netip.Addr // the IPv4 best in agreeing decisions in a row
	changing    bool       // the associated IPv4 keeps changing
	heavy       bool       // att >= 8 && asc < 0.15*att
	// repeat: the /64 is a repeat sender (prefixHistory.recent); its
	// associations need identity evidence.
	repeat bool
	recent float64 // prefixHistory.recent, decayed to the attempt
	sent   float64 // prefixHistory.attempts, decayed to the attempt
}

// prefixOf returns v6's snapshot, taken again if its /64's record may
// have changed: an attempt indexed by its /64 has its snapshot invalidated
// when that record changes (recordV6), others whenever any does.
func (e *Engine) prefixOf(v6 *entry) *prefixSnap {
	if s := &v6.prefix; s.gen != 0 && s.purges == e.hist.purges && (v6.p64Indexed || s.gen == e.hist.gen+1) {
		return s
	}
	return e.snapPrefix(v6)
}

// recordV6 records the decision for an IPv6 attempt in the history, and
// invalidates the snapshots of the /64's record.
func (e *Engine) recordV6(v6 *attempt.Attempt, v4 netip.Addr, identity bool, close []netip.Addr) {
	e.hist.recordV6(v6, v4, identity, close)
	for _, en := range e.ix6.byP64[p64(v6.Src)] {
		en.prefix.gen = 0
	}
}

func (e *Engine) snapPrefix(v6 *entry) *prefixSnap {
	s := &v6.prefix
	*s = prefixSnap{gen: e.hist.gen + 1, purges: e.hist.purges}
	p, ok := e.hist.v6[v6.p64]
	dt := time.Duration(v6.f.t0 - p.last)
	if !ok || dt > historyTTL {
		return s
	}
	att := decay(p.attempts, dt)
	asc := decay(p.associated, dt)
	s.ok, s.ipv4, s.changing, s.heavy = true, p.ipv4.addr(), p.last4 != 0 && p.changes >= 2, att >= 8 && asc < 0.15*att
	s.recent = decayRecent(p.recent, dt)
	s.sent = att
	s.repeat = s.recent >= repeatRecent
	if p.agree >= agreeing {
		s.agreed = p.prop4.addr()
	}
	return s
}

// attempt builds back what the engine keeps of en's attempt into dst: what
// the Association reads. The retransmission intervals come back as their
// mean, all that the evidence uses of them.
func (en *entry) attempt(dst *attempt.Attempt) *attempt.Attempt {
	f := &en.f
	*dst = attempt.Attempt{Family: int(en.family), Src: f.src, SrcPort: f.port,
		FirstSeen: time.Unix(0, f.t0), LastSeen: time.Unix(0, f.t1), SYNs: int(f.syns),
		TSFirst: f.tsFirst, TSLast: en.tsLast, HasTS: f.hasTS}
	dst.OSClass = en.osClass
	if f.intervals {
		dst.Intervals[0], dst.NIntervals = time.Duration(f.mean), 1
	}
	return dst
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

// embeds reports whether an IPv6 attempt's address embeds ip.
func embeds(v6 *entry, ip netip.Addr) bool {
	for i := range v6.info.Embedded {
		if v6.info.Embedded[i].IPv4 == ip {
			return true
		}
	}
	return false
}

// record is what pairSum notes of a pair it explains.
type record struct {
	// The verdicts noted, in the output's order once finished (outRank),
	// and how the embedded one's address embeds the IPv4. A fixed array:
	// noting calls nothing, so the scan's path keeps its registers.
	buf      [maxNoted]weighed
	n        int
	how      string
	sum      float64
	fam      [numFamilies]float64 // the verdicts summed by family (Features.Family)
	identity bool                 // a verdict is identity evidence
	agreed   bool                 // and the only such verdict is agreement (vBestBefore)
	ev       []noted              // with their names (named)
}

// maxNoted is the most verdicts a pair has: one per rule (embedded, order,
// six of the stack, two of the clock, asn, ptr, two of retrans, port,
// history).
const maxNoted = 16

// noted is a verdict recorded, with its evidence name.
type noted struct {
	w    float64
	what string
	v    verdict
}

// note records w, unless it is vNone, and returns its weight.
func (r *record) note(w weighed) float64 {
	if r != nil && w.v != vNone {
		r.buf[r.n] = w
		r.n++
	}
	return w.w
}

func (r *record) reset() *record {
	r.n, r.how = 0, ""
	return r
}

// outRank is a family's place in an evidence list: the order the output
// has always shown, in which the sum is taken too.
var outRank = [numFamilies]uint8{fEmbedded: 0, fOrder: 1, fStack: 2, fClock: 3, fASN: 4, fPTR: 5, fPort: 6, fHistory: 7, fRetrans: 8}

// finish puts the verdicts noted in the output's order and sums them; a
// pair the order gate refuses (gated) sums to -Inf all the same.
func (r *record) finish(gated bool) float64 {
	ws := r.buf[:r.n]
	rank := func(w weighed) uint8 { return outRank[verdicts[w.v].fam] }
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && rank(ws[j]) < rank(ws[j-1]); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
	r.sum, r.fam, r.identity = 0, [numFamilies]float64{}, false
	strong := false
	for _, w := range ws {
		r.sum += w.w
		r.fam[verdicts[w.v].fam] += w.w
		if w.v.id() != idNone {
			r.identity = true
			strong = strong || w.v != vBestBefore
		}
	}
	r.agreed = r.identity && !strong
	if gated {
		r.sum = math.Inf(-1)
	}
	return r.sum
}

// named fills r.ev: the verdicts with their names, for the output.
func (r *record) named() []noted {
	r.ev = r.ev[:0]
	for _, w := range r.buf[:r.n] {
		what := verdicts[w.v].name
		if w.v == vEmbedded || w.v == vEmbeddedIdentity {
			what += r.how
		}
		r.ev = append(r.ev, noted{w: w.w, what: what, v: w.v})
	}
	return r.ev
}

// pairSum sums the rules' weights for a pair. Without a record (rec nil)
// it returns the sum when that can reach e.minSum, and some value below
// e.minSum otherwise. With one, it applies every rule, notes each verdict
// in rec and returns the sum. f4 is v4's features (v4.f, or its copy in
// Engine.v4f): v4 itself is read only on the rarer branches.
func (e *Engine) pairSum(v6 *entry, f4 *feat, v4 *entry, rec *record) float64 {
	f6 := &v6.f
	if d := f6.t0 - f4.t0; d > int64(e.cfg.Horizon) || d < -int64(e.cfg.Horizon) {
		return math.Inf(-1) // not a candidate
	}
	win := windows(f6, f4)
	var order weighed
	gated := false
	if !e.off[fOrder] {
		// Most candidates fail here, at the cost of a few compares.
		if order = orderRule(f6, f4, win); order.w < farOrder && !e.keyed(v6, f4, v4) {
			if rec == nil {
				return math.Inf(-1)
			}
			gated = true // a record still shows every rule's verdict
		}
	}
	if rec == nil && f6.embedded && !e.off[fEmbedded] && embeds(v6, f4.src) {
		return e.pairSum(v6, f4, v4, e.sumRec.reset()) // not a multiple of 0.5
	}

	// The most the rules not yet applied can add.
	rest := 0.0
	if !e.off[fClock] && clockApplies(f6, f4) {
		rest += maxClock
	}
	if !e.off[fASN] && asnApplies(f6, f4) {
		rest += maxASN
	}
	if !e.off[fPTR] && ptrApplies(f6, f4) {
		rest += maxPTR
	}
	if !e.off[fRetrans] {
		rest += retransMax(f6, f4)
	}
	if !e.off[fPort] && win {
		rest += maxPort
	}
	if !e.off[fHistory] {
		rest += maxHistory
	}

	sum := 0.0
	if !e.off[fEmbedded] && embeddedApplies(f6) {
		w, how := embeddedRule(v6, f4.src)
		if sum += rec.note(w); rec != nil {
			rec.how = how
		}
	}
	if !e.off[fStack] {
		sum += stackRules(f6, f4, v6, v4, rec)
	}
	sum += rec.note(order)
	if rec == nil && sum+rest < e.minSum {
		return sum + rest
	}
	if !e.off[fClock] && clockApplies(f6, f4) {
		rest -= maxClock
		sum += rec.note(clockRate(f6, f4)) + rec.note(clockOne(f6, f4))
		if rec == nil && sum+rest < e.minSum {
			return sum + rest
		}
	}
	if !e.off[fASN] && asnApplies(f6, f4) {
		rest -= maxASN
		sum += rec.note(asnRule(f6, f4))
	}
	if !e.off[fPTR] && ptrApplies(f6, f4) {
		rest -= maxPTR
		sum += rec.note(ptrRule(v6, v4))
	}
	if !e.off[fRetrans] {
		rest -= retransMax(f6, f4)
		sum += rec.note(retransCount(f6, f4)) + rec.note(retransTiming(f6, f4))
	}
	if rec == nil && sum+rest < e.minSum {
		return sum + rest
	}
	if !e.off[fPort] {
		sum += rec.note(e.portRule(f6, f4, win))
	}
	if !e.off[fHistory] {
		sum += rec.note(e.historyRule(v6, f4))
	}
	if rec != nil {
		return rec.finish(gated)
	}
	return sum
}

// keyed reports whether a pair has a verdict that opens the order gate
// (idKeyed), applying only the rules that can give one.
// TestPruningExact checks it against the verdicts recorded.
func (e *Engine) keyed(v6 *entry, f4 *feat, v4 *entry) bool {
	f6 := &v6.f
	if !e.off[fEmbedded] && f6.embedded {
		if w, _ := embeddedRule(v6, f4.src); w.keyed() {
			return true
		}
	}
	return !e.off[fHistory] && e.historyRule(v6, f4).keyed() ||
		!e.off[fClock] && clockApplies(f6, f4) && clockOne(f6, f4).keyed() ||
		!e.off[fPTR] && ptrApplies(f6, f4) && ptrRule(v6, v4).keyed() // f4 first: v4 is not in cache
}

// explain records the verdicts of a pair, named, in the engine's scratch
// record: keep them only by copying.
func (e *Engine) explain(v6, v4 *entry) *record {
	e.pairSum(v6, &v4.f, v4, e.rec.reset())
	e.rec.named()
	return &e.rec
}
