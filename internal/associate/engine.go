// Package associate decides which IPv6 connect() attempts come from the
// same host as an IPv4 attempt, with a score and the evidence behind it, and
// labels IPv6 spammers through the DNSBL status of the associated IPv4.
package associate

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/attempt"
)

// Mode selects the association rule.
type Mode uint8

const (
	// ModeFull scores candidates on independent evidence and resolves
	// competing candidates across attempts.
	ModeFull Mode = iota
	// ModeNaive is the NANOG 62 prototype: a non-6to4 IPv6 attempt goes
	// with the next IPv4 attempt, a 6to4 one with the previous IPv4
	// attempt from its gateway.
	ModeNaive
)

func (m Mode) String() string {
	if m == ModeNaive {
		return "naive"
	}
	return "full"
}

// ParseMode parses "full" or "naive".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "full", "":
		return ModeFull, nil
	case "naive":
		return ModeNaive, nil
	}
	return 0, fmt.Errorf("unknown association mode %q (want full or naive)", s)
}

// Blocklist says whether an IPv4 address was rejected by a DNSBL near a time.
type Blocklist interface {
	Listed(ip netip.Addr, at time.Time) bool
}

// Config configures an Engine.
type Config struct {
	Mode Mode
	// Horizon is how far apart the first SYNs of one delivery's two
	// attempts may be; it also bounds how long attempts are kept.
	Horizon time.Duration
	// Threshold is the least score of an association.
	Threshold float64
	// Disable switches evidence families off (for ablation).
	Disable map[string]bool
	// Margin: when another candidate's evidence sum comes within Margin of
	// the best one's, the attempt is ambiguous. It is then associated with
	// the IPv4 address alone if all the close candidates share it (a NAT),
	// and left unassociated otherwise. 0 disables the check.
	Margin float64
	// Names, if set, gives the origin AS and reverse name of addresses
	// (the asn and ptr evidence families).
	Names Names
	// MaxHeld bounds the attempts held: IPv4 attempts within the horizon
	// and IPv6 attempts awaiting a decision, together (a flood of new
	// sources must not exhaust memory or make every decision scan millions
	// of candidates). Past it the oldest attempts of either family go: an
	// IPv4 one is dropped before its horizon has passed, an IPv6 one
	// decided before all its candidates are seen; both are counted in
	// Stats. <= 0 means unbounded. BytesPerHeld is what each costs.
	MaxHeld int
	// MaxHistory bounds the records of IPv4 addresses and of IPv6 /64s
	// kept for the history evidence, each; <= 0 means DefaultMaxHistory.
	MaxHistory int
	// Calibration turns a decision's Features into its score; nil means
	// DefaultCalibration, or Uncalibrated when Disable switches a family
	// off. An association is made only if its score reaches Threshold.
	Calibration *Calibration
	// Observe, if set, sees every association of full mode before it is
	// emitted, those Threshold rejected included (Score set, V4 nil,
	// Features filled): tools/calibrate fits the calibration on them.
	Observe func(*Association)
}

// BytesPerHeld is the most heap one held attempt costs the engine (its
// entry, its place in the held slices and in the indexes), and
// BytesPerHistory what one record of each history map costs (an IPv4
// address, a /64 and its link to an IPv4): what a memory budget divided
// by them gives as MaxHeld and MaxHistory. TestBytesPerHeld measures both.
const (
	BytesPerHeld    = 1200
	BytesPerHistory = 400
)

// Stats counts what the engine did to stay within Config.MaxHeld.
type Stats struct {
	DroppedIPv4 uint64 // IPv4 attempts dropped before the horizon passed
	EarlyIPv6   uint64 // IPv6 attempts decided before the horizon passed
	// What the bounds on one decision's work left out (index.go): keys an
	// attempt is not found by because the list was full, scans of the near
	// window cut to the nearest attempts, and IPv6 attempts with more
	// scoring candidates than kept (only the strongest; see pairBudget).
	Unindexed, CappedScans, CappedPairs uint64
}

// DefaultThreshold is the least calibrated score of an association by
// default: at 0.9 the associations made are those the evidence makes
// right at least 9 times in 10. Below it lies the calibration's middle
// level (pairs with timing and a common stack and no identity evidence,
// right about 3 times in 4 on generated scenarios, but anywhere from 0.58
// to 0.81 with the senders' software); --min-score 0.5 takes those too
// (docs/association.md).
const DefaultThreshold = 0.9

// DefaultConfig is the full engine with a 30 s horizon.
func DefaultConfig() Config {
	return Config{Mode: ModeFull, Horizon: 30 * time.Second, Threshold: DefaultThreshold, Margin: 1, MaxHeld: 1 << 18}
}

// Association is the decision for one IPv6 attempt. V6 and V4 hold what
// the engine keeps of the attempts (addresses, ports, times, SYN counts,
// retransmission timing, timestamps and OS class; not the first SYN nor
// the fingerprint's label), and are valid only during the emit call.
type Association struct {
	V6       *attempt.Attempt
	AddrKind string
	// V4 is the associated IPv4 attempt; nil when unassociated or when the
	// association is to an address only (V4Addr set).
	V4            *attempt.Attempt
	V4Addr        netip.Addr
	V4Blocklisted bool
	Score         float64
	Evidence      []string
	Spammer       bool
	// Features are what Score was calibrated from (full mode, associated
	// with an attempt only).
	Features Features
}

type entry struct {
	f feat // first: what the scan over candidates reads
	// What else the rules and the output read of the attempt (attempt
	// builds it back): the engine keeps no copy of the attempt.
	family  uint8
	tsLast  uint32
	osClass string
	names   known // what Config.Names knows of the source
	used    bool  // IPv4: claimed by an association (full mode)
	// IPv6: being decided (not a later attempt for laterCandidates)
	deciding bool
	// IPv6: in its index's list of its /64 (prefixOf relies on it).
	p64Indexed bool
	seq        uint64 // order of Add
	// IPv4: its clock buckets in the index.
	clock  [len(tsRates)]clockKey
	nclock uint8
	// IPv6: its /64 (p64), and what only IPv6 attempts have.
	p64 uint64
	*v6Part
}

// v6Part is what the engine keeps of an IPv6 attempt only: nil on an IPv4
// one, whose entry is the smaller for it.
type v6Part struct {
	info   addr.Info
	prefix prefixSnap // the /64's history (prefixOf)
}

// Engine associates attempts streamed in FirstSeen order.
type Engine struct {
	cfg  Config
	cal  Calibration
	pre  float64 // the uncalibrated score candidates are screened at
	bl   Blocklist
	emit func(*Association)
	v4   []*entry // FirstSeen order
	v4f  []feat   // v4[i].f, contiguous: the candidate scan reads only these
	v6   []*entry // undecided, FirstSeen order
	// v4, v4f and v6 are windows onto these arrays (see pushFIFO).
	v4base, v6base []*entry
	v4fbase        []feat
	free           []*entry
	free6          []*v6Part
	last           time.Time
	hist           *history
	// rec notes the verdicts of the pair explained (explain), sumRec
	// those of a pair pairSum sums in the output's order; found holds the
	// scoring candidates of the IPv6 attempt being decided.
	rec, sumRec record
	found       []pair
	// minSum is the evidence sum below which a pair cannot score Threshold
	// (with a small safety margin).
	minSum float64
	// off[f] is Config.Disable[Families[f]], looked up once.
	off [numFamilies]bool
	// osIDs interns OS classes for the rules (Windows and unknown are fixed).
	osIDs map[string]uint8
	// layoutIDs interns TCP option layouts (at most maxLayouts).
	layoutIDs map[string]uint16
	// ix indexes v4 for candidates; noIndex (tests) visits every pair.
	ix4     *index // the IPv4 attempts held
	ix6     *index // the IPv6 attempts undecided
	noIndex bool
	seq     uint64
	stats   Stats
	// afterAdd, in tests, runs at the end of every Add.
	afterAdd  func()
	evStrings map[noted]string // Engine.evidence
	// Attempts built back from entries for the Association emitted.
	out6, out4 attempt.Attempt
	// check, in tests, sees every pair's pairSum.
	check func(v6, v4 *entry, sum float64)
	// Reused by each decision batch (decideFull, closeCandidates).
	pairs     []pair
	states    []prefixState // decideFull's, reused
	ambiguous map[*entry]netip.Addr
	chosen    map[*entry]*pair
	top       map[*entry][2]float64
	cands     map[*entry]int
	rival     map[*entry]rival
	feats     map[*entry]Features
	closeOut  map[*entry][]netip.Addr
	closeBest map[*entry]float64
	closeFree [][]netip.Addr
}

// Family indexes into Engine.off.
const (
	fEmbedded = iota
	fOrder
	fStack
	fClock
	fPort
	fRetrans
	fHistory
	fASN
	fPTR
	numFamilies
)

// pairBudget bounds the scoring pairs one decision batch keeps (48 bytes
// each), and minPairs is the least kept per IPv6 attempt: each attempt of
// a batch keeps its strongest max(minPairs, pairBudget/batch) candidates.
// Ordinary traffic, however dense, gives a few dozen at most and loses
// none; a flood of one crafted stack and clock gives thousands per attempt.
const (
	pairBudget = 1 << 20
	minPairs   = 16
)

// New returns an engine that calls emit once per IPv6 attempt, in FirstSeen order.
func New(cfg Config, bl Blocklist, emit func(*Association)) *Engine {
	if cfg.Horizon <= 0 {
		cfg.Horizon = 30 * time.Second
	}
	e := &Engine{cfg: cfg, cal: DefaultCalibration, bl: bl, emit: emit,
		ambiguous: map[*entry]netip.Addr{}, chosen: map[*entry]*pair{}, top: map[*entry][2]float64{}, cands: map[*entry]int{}, rival: map[*entry]rival{}, feats: map[*entry]Features{}, closeOut: map[*entry][]netip.Addr{}, closeBest: map[*entry]float64{}, hist: newHistory(cfg.MaxHistory), minSum: math.Inf(-1), osIDs: map[string]uint8{}, layoutIDs: map[string]uint16{}, evStrings: map[noted]string{}}
	e.ix4, e.ix6 = newIndex(cfg.Horizon), newIndex(cfg.Horizon)
	for i, f := range Families {
		e.off[i] = cfg.Disable[f]
	}
	switch {
	case cfg.Calibration != nil:
		e.cal = *cfg.Calibration
	case len(cfg.Disable) > 0:
		// An ablation measures the evidence: the shipped calibration was
		// fitted with every family on, and would misread a sum missing one.
		e.cal = Uncalibrated
	}
	// Candidates are screened on the uncalibrated sum, at the threshold
	// or 0.5, whichever is lower: a strict --min-score must not drop a
	// pair before its calibrated score, which may rank it higher, is known.
	e.pre = min(cfg.Threshold, 0.5)
	if t := e.pre; t > 0 && t < 1 {
		e.minSum = scoreBias + math.Log(t/(1-t)) - 1e-6
	}
	return e
}

// Blocklisted reports whether an IPv4 attempt's source is listed.
func (e *Engine) Blocklisted(a *attempt.Attempt) bool {
	return e.bl != nil && a.Family == 4 && e.bl.Listed(a.Src, a.FirstSeen)
}

// Add takes the next attempt (attempts must come in FirstSeen order, as
// attempt.Grouper emits them).
func (e *Engine) Add(a *attempt.Attempt) {
	en := e.alloc(a.Family)
	e.seq++
	en.seq = e.seq
	e.fill(en, a)
	if a.Family == 6 {
		e.v6 = pushFIFO(&e.v6base, e.v6, en)
		if e.cfg.Mode == ModeFull {
			e.ix6.add(en)
		}
	} else {
		e.hist.seeV4(a)
		e.v4 = pushFIFO(&e.v4base, e.v4, en)
		e.v4f = pushFIFO(&e.v4fbase, e.v4f, en.f)
		if e.cfg.Mode == ModeFull {
			e.ix4.add(en)
		}
	}
	if a.FirstSeen.After(e.last) {
		e.last = a.FirstSeen
	}
	e.decide(e.last.Add(-e.cfg.Horizon))
	if m := e.cfg.MaxHeld; m > 0 && len(e.v4)+len(e.v6) > m {
		e.evict(len(e.v4) + len(e.v6) - m)
	}
	if e.afterAdd != nil {
		e.afterAdd()
	}
}

// fill extracts what the engine keeps of an attempt into en.
func (e *Engine) fill(en *entry, a *attempt.Attempt) {
	en.family, en.tsLast, en.osClass = uint8(a.Family), a.TSLast, a.OSClass
	var st stackFeatures
	st.fill(a)
	if e.cfg.Names != nil && e.cfg.Mode == ModeFull {
		en.names = lookupNames(e.cfg.Names, a.Src)
	}
	if a.Family == 6 {
		addr.ClassifyInto(a.Src, &en.info)
	}
	e.fillFeat(en, a, &st)
}

// Advance decides the IPv6 attempts that no attempt still to come can
// pair with, given that every later attempt starts at or after frontier
// (attempt.Grouper.Frontier). The live agent calls it on a timer, so that
// on a quiet sensor decisions do not wait for the next SYN.
func (e *Engine) Advance(frontier time.Time) {
	if frontier.After(e.last) {
		e.last = frontier
		e.decide(frontier.Add(-e.cfg.Horizon))
	}
}

// evict lets go of the n oldest attempts held, of either family: IPv6
// attempts are decided early, IPv4 attempts dropped.
func (e *Engine) evict(n int) {
	n6, n4 := 0, 0
	for n6+n4 < n {
		if n4 < len(e.v4) && (n6 == len(e.v6) || e.v4[n4].f.t0 <= e.v6[n6].f.t0) {
			n4++
		} else {
			n6++
		}
	}
	e.stats.EarlyIPv6 += uint64(n6)
	e.stats.DroppedIPv4 += uint64(n4)
	// The IPv6 attempts first: they may still pair with the IPv4 ones.
	e.decideFirst(n6)
	e.dropV4(n4)
}

// Stats returns the counts of attempts handled early to stay within
// Config.MaxHeld.
func (e *Engine) Stats() Stats {
	st := e.stats
	st.Unindexed = e.ix4.unindexed + e.ix6.unindexed
	return st
}

// Flush decides every remaining IPv6 attempt.
func (e *Engine) Flush() {
	e.decide(time.Unix(math.MaxInt32, 0))
	for _, en := range e.v4 {
		if e.cfg.Mode == ModeFull {
			e.ix4.remove(en)
		}
		e.release(en)
	}
	e.v4, e.v4f = e.v4[:0], e.v4f[:0]
}

// Pending is the number of attempts held.
func (e *Engine) Pending() int { return len(e.v4) + len(e.v6) }

// HistoryRecords is how many records the history holds (/64s and IPv4
// addresses, each at most Config.MaxHistory).
func (e *Engine) HistoryRecords() int { return len(e.hist.v6) + len(e.hist.v4) }

// ForgetHistory empties the history. It is for measurement: the benchmarks
// tell the heap the history holds from the heap the attempts hold.
func (e *Engine) ForgetHistory() { e.hist = newHistory(e.hist.max) }

func (e *Engine) alloc(family int) *entry {
	var en *entry
	if n := len(e.free); n > 0 {
		en = e.free[n-1]
		e.free = e.free[:n-1]
		*en = entry{}
	} else {
		en = &entry{}
	}
	if family == 6 {
		if n := len(e.free6); n > 0 {
			en.v6Part = e.free6[n-1]
			e.free6 = e.free6[:n-1]
			*en.v6Part = v6Part{info: addr.Info{Embedded: en.info.Embedded[:0]}}
		} else {
			en.v6Part = &v6Part{}
		}
	}
	return en
}

func (e *Engine) release(en *entry) {
	if en.v6Part != nil {
		e.free6 = append(e.free6, en.v6Part)
		en.v6Part = nil
	}
	e.free = append(e.free, en)
}

type pair struct {
	v6, v4 *entry
	sum    float64
	ev     []noted
}

// evidence is evidenceStrings with the strings kept: the pieces of
// evidence are few (a name and its weight), and the output repeats them.
func (e *Engine) evidence(ws []noted) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		s, ok := e.evStrings[w]
		if !ok {
			s = evidenceStrings(ws[i : i+1])[0]
			if len(e.evStrings) < maxEvStrings {
				e.evStrings[w] = s
			}
		}
		out[i] = s
	}
	return out
}

// maxEvStrings bounds Engine.evStrings (embedded weights depend on a
// confidence, so the set is not fixed in principle).
const maxEvStrings = 4096

// evidenceStrings formats a pair's evidence for output: "family:detail(+w)".
func evidenceStrings(ws []noted) []string {
	out := make([]string, len(ws))
	var b []byte
	for i, w := range ws {
		b = append(b[:0], w.what...)
		b = append(b, '(')
		if w.w >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendFloat(b, w.w, 'f', 1, 64)
		out[i] = string(append(b, ')'))
	}
	return out
}

// decide settles every IPv6 attempt that started before upto: all the IPv4
// attempts that could pair with it have been seen.
func (e *Engine) decide(upto time.Time) {
	n := 0
	for n < len(e.v6) && e.v6[n].f.t0 < upto.UnixNano() {
		n++
	}
	e.decideFirst(n)
	// IPv4 attempts older than upto-Horizon cannot pair with anything to come.
	keep := upto.Add(-e.cfg.Horizon)
	m := 0
	for m < len(e.v4) && e.v4[m].f.t0 < keep.UnixNano() {
		m++
	}
	e.dropV4(m)
}

// decideFirst decides the n oldest undecided IPv6 attempts.
func (e *Engine) decideFirst(n int) {
	if n <= 0 {
		return
	}
	batch := e.v6[:n]
	if e.cfg.Mode == ModeNaive {
		e.decideNaive(batch)
	} else {
		e.decideFull(batch, e.v6[n:])
	}
	for _, en := range batch {
		if e.cfg.Mode == ModeFull {
			e.ix6.remove(en)
		}
		e.release(en)
	}
	// Resliced, not shifted: the oldest go first, and shifting the rest
	// for each would make a flood of new sources quadratic (pushFIFO).
	clear(batch)
	e.v6 = e.v6[n:]
}

// pushFIFO appends x to s, a window that ends where base ends and whose
// oldest elements are let go by reslicing (s = s[n:]). When base is full,
// the window moves to the front of base if that frees at least half of it
// (no allocation, and each element is moved at most once per half-base of
// elements added), else base grows: amortised O(1) either way.
func pushFIFO[T any](base *[]T, s []T, x T) []T {
	if len(s) < cap(s) {
		return append(s, x)
	}
	if len(s) <= cap(*base)/2 {
		n := copy(*base, s)
		clear((*base)[n:])
		return append((*base)[:n], x)
	}
	// Twice what is held: the window can then move to the front after as
	// many attempts again have come and gone.
	nb := make([]T, len(s), 2*len(s)+1)
	copy(nb, s)
	*base = nb[:cap(nb)]
	return append(nb, x)
}

// dropV4 forgets the m oldest IPv4 attempts.
func (e *Engine) dropV4(m int) {
	if m <= 0 {
		return
	}
	for _, en := range e.v4[:m] {
		if e.cfg.Mode == ModeFull {
			e.ix4.remove(en)
		}
		e.release(en)
	}
	clear(e.v4[:m])
	e.v4, e.v4f = e.v4[m:], e.v4f[m:] // see decideFirst
}

func (e *Engine) within(v6, v4 *entry) bool {
	d := time.Duration(v6.f.t0 - v4.f.t0)
	return d <= e.cfg.Horizon && d >= -e.cfg.Horizon
}

func (e *Engine) decideNaive(batch []*entry) {
	for _, v6 := range batch {
		as := Association{V6: v6.attempt(&e.out6), AddrKind: v6.info.Kind.String()}
		var match *entry
		if v6.info.Kind == addr.Kind6to4 {
			// The previous IPv4 attempt from the 6to4 gateway.
			for i := len(e.v4) - 1; i >= 0; i-- {
				v4 := e.v4[i]
				if v4.f.t0 <= v6.f.t0 && v4.f.src == v6.info.SixToFour && e.within(v6, v4) {
					match = v4
					break
				}
			}
			as.Evidence = []string{"naive:previous-ipv4-of-6to4-gateway"}
		} else {
			// The next IPv4 attempt, whoever sent it.
			for _, v4 := range e.v4 {
				if v4.f.t0 > v6.f.t0 && e.within(v6, v4) {
					match = v4
					break
				}
			}
			as.Evidence = []string{"naive:next-ipv4"}
		}
		if match != nil {
			as.V4, as.V4Addr, as.Score = match.attempt(&e.out4), match.f.src, 1
			as.V4Blocklisted = e.Blocklisted(as.V4)
			as.Spammer = as.V4Blocklisted
		} else {
			as.Evidence = nil
		}
		e.emit(&as)
	}
}

// score turns the summed log-odds of a pair into [0,1].
func score(sum float64) float64 { return 1 / (1 + math.Exp(-(sum - scoreBias))) }

// scoreBias is the evidence sum that scores 0.5: two independent strong
// signs (e.g. the RFC 6724 gap and a matching stack) are needed.
const scoreBias = 6

// maxClose bounds the close candidates kept per attempt for the history.
const maxClose = 8

// closeCandidates returns, for each IPv6 attempt of pairs (sorted by sum,
// best first), the IPv4 addresses of its candidates within Margin of its
// best, best first: the /64's history counts the decisions in a row one
// IPv4 was among them (prefixHistory.agree). The sums are taken without
// the bonus that agreement itself gives, so that it cannot renew itself.
func (e *Engine) closeCandidates(pairs []pair) map[*entry][]netip.Addr {
	out, best := e.closeOut, e.closeBest
	for k, l := range out {
		e.closeFree = append(e.closeFree, l[:0])
		delete(out, k)
	}
	clear(best)
	for i := range pairs {
		p := &pairs[i]
		s := p.sum
		if !e.off[fHistory] {
			if snap := e.prefixOf(p.v6); snap.agreed.IsValid() && snap.agreed == p.v4.f.src && snap.ipv4 != snap.agreed {
				s -= 2
			}
		}
		b, ok := best[p.v6]
		if !ok {
			best[p.v6], b = s, s
		}
		if l := out[p.v6]; len(l) < maxClose && s >= b-e.cfg.Margin && !slices.Contains(l, p.v4.f.src) {
			if l == nil && len(e.closeFree) > 0 {
				l = e.closeFree[len(e.closeFree)-1]
				e.closeFree = e.closeFree[:len(e.closeFree)-1]
			}
			out[p.v6] = append(l, p.v4.f.src)
		}
	}
	return out
}

// repeatUnassociated is the evidence of a repeat sender's IPv6 attempt left
// unassociated: its best candidates had no identity evidence.
const repeatUnassociated = "history:repeat-sender-without-identity-evidence(unassociated)"

// ambiguousUnassociated is the evidence of an IPv6 attempt left
// unassociated because its best candidates were within the margin of each
// other and did not share one IPv4 address.
const ambiguousUnassociated = "ambiguous:close-candidates(unassociated)"

// repeatNoCandidate is the evidence of a repeat sender's IPv6 attempt that
// no candidate could explain, the /64's history counted against them: it
// says the attempt was seen as a repeat sender's, as repeatUnassociated
// does for one whose candidates lacked identity evidence.
const repeatNoCandidate = "history:repeat-sender-no-candidate(unassociated)"

// belowThreshold is the evidence of an attempt whose best association
// scored s, under the threshold.
func belowThreshold(s float64) string {
	return "calibration:score-below-threshold(" + strconv.FormatFloat(s, 'f', 2, 64) + ")"
}

// heavyNoCandidate is the same for an IPv6-heavy /64 that is not sending
// fast (history:ipv6-heavy-prefix: many attempts, few of them paired).
const heavyNoCandidate = "history:ipv6-heavy-prefix-no-candidate(unassociated)"

// prefixState is what a decision saw of its /64: a repeat sender, an
// IPv6-heavy /64, or neither.
type prefixState uint8

const (
	stateNone prefixState = iota
	stateRepeat
	stateHeavy
)

// identityConfidence is the least confidence of an embedded IPv4 that is
// identity evidence: the forms a protocol defines (6to4, Teredo, NAT64,
// ISATAP, mapped). An IPv4 read from the low 32 bits (hex or decimal) is a
// numbering habit anyone may follow with any address, also another
// host's: it weighs as evidence, but does not vouch for a pair whose
// timing is wrong, nor for an association with the address alone.
const identityConfidence = 0.8

// farOrder: a pair whose order evidence weighs less than this (the gap is
// wrong for the stack; or reversed and over 400 ms, or for Windows
// unusual and misfitting its retransmissions) is a candidate only with
// identity evidence: its timing says it is two hosts, and without
// evidence that does not depend on timing, a pair of similar stacks with
// similar retransmissions is more often two hosts of one kind than one
// host that fell back late. On generated scenarios the rule changes
// almost no decision (docs/association.md) and spares the engine most of
// its candidates.
const farOrder = -1

// span returns the range of fs (sorted by t0) within the horizon of t.
func (e *Engine) span(fs []feat, t int64) (lo, hi int) {
	h := int64(e.cfg.Horizon)
	lo = sort.Search(len(fs), func(i int) bool { return fs[i].t0 >= t-h })
	hi = lo + sort.Search(len(fs)-lo, func(i int) bool { return fs[lo+i].t0 > t+h })
	return lo, hi
}

func (e *Engine) decideFull(batch, later []*entry) {
	for _, en := range batch {
		en.deciding = true
	}
	pairs := e.pairs[:0]        // reused: cleared when the batch is done
	var crowded map[*entry]bool // v6 with more close candidates than kept
	maxPairs := max(minPairs, pairBudget/len(batch))
	for _, v6 := range batch {
		found := e.found[:0]
		e.candidates(v6, func(f4 *feat, v4 *entry) {
			sum := e.pairSum(v6, f4, v4, nil)
			if e.check != nil {
				e.check(v6, v4, sum)
			}
			// minSum (a hair below the threshold's sum) spares most pairs
			// the exponential.
			if sum >= e.minSum && !v4.used && score(sum) >= e.pre {
				found = append(found, pair{v6: v6, v4: v4, sum: sum}) // evidence: recomputed for the pairs chosen
			}
		})
		if len(found) > maxPairs {
			// Many candidates score (a flood of one crafted stack and
			// clock): the strongest are kept, and if the weakest
			// of those is within the margin of the best, the attempt is
			// ambiguous (which IPv4 address the others share is unknown).
			slices.SortStableFunc(found, func(a, b pair) int {
				return cmp.Or(cmp.Compare(b.sum, a.sum), cmp.Compare(a.v4.seq, b.v4.seq))
			})
			if found[0].sum-found[maxPairs-1].sum < e.cfg.Margin {
				if crowded == nil {
					crowded = map[*entry]bool{}
				}
				crowded[v6] = true
			}
			found = found[:maxPairs]
			e.stats.CappedPairs++
		}
		// In FirstSeen order, as a scan of the horizon finds them: ties
		// below are broken by it.
		slices.SortFunc(found, func(a, b pair) int { return cmp.Compare(a.v4.seq, b.v4.seq) })
		pairs = append(pairs, found...)
		clear(found)
		e.found = found[:0]
	}
	// Ambiguity: an attempt whose two best candidates are close is not
	// decided by the greedy pass below.
	ambiguous := e.ambiguous // v6 -> the shared IPv4, or invalid
	clear(ambiguous)
	if e.cfg.Margin > 0 {
		// Each attempt's pairs are a run of pairs (appended above).
		for lo, hi := 0, 0; lo < len(pairs); lo = hi {
			v6 := pairs[lo].v6
			for hi = lo + 1; hi < len(pairs) && pairs[hi].v6 == v6; hi++ {
			}
			run := pairs[lo:hi]
			if len(run) < 2 {
				continue
			}
			// The best (the first of equals) and the runner-up's sum.
			b, second := 0, math.Inf(-1)
			for i := 1; i < len(run); i++ {
				if run[i].sum > run[b].sum {
					b = i
				}
			}
			for i := range run {
				if i != b {
					second = max(second, run[i].sum)
				}
			}
			if run[b].sum-second >= e.cfg.Margin {
				continue
			}
			shared := run[b].v4.f.src
			if crowded[v6] {
				shared = netip.Addr{}
			}
			for i := range run {
				if i != b && run[b].sum-run[i].sum < e.cfg.Margin && run[i].v4.f.src != shared {
					shared = netip.Addr{}
					break
				}
			}
			ambiguous[v6] = shared
		}
	}
	// Global resolution: strongest pairs first; each attempt in at most one
	// pair. An IPv4 attempt that an undecided later IPv6 attempt explains
	// better is left for it.
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(b.sum, a.sum) })
	close := e.closeCandidates(pairs)
	// Each attempt's two best sums, for Features.Lead.
	top := e.top
	clear(top)
	for i := range pairs {
		t, ok := top[pairs[i].v6]
		switch {
		case !ok:
			t = [2]float64{pairs[i].sum, math.Inf(-1)}
		case pairs[i].sum > t[1]:
			t[1] = pairs[i].sum
		}
		top[pairs[i].v6] = t
	}
	// Each IPv4 attempt's two best IPv6 attempts, for Features.Rival.
	cands, rivals := e.cands, e.rival
	clear(cands)
	clear(rivals)
	for i := range pairs {
		p := &pairs[i]
		cands[p.v6]++
		r, ok := rivals[p.v4]
		switch {
		case !ok:
			r = rival{best: p.v6, sum: [2]float64{p.sum, math.Inf(-1)}}
		case p.v6.p64 != r.best.p64 && p.sum > r.sum[1]:
			r.sum[1] = p.sum
		}
		rivals[p.v4] = r
	}
	chosen := e.chosen
	clear(chosen)
	feats := e.feats
	clear(feats)
	var repeats map[*entry]bool  // repeat senders left unassociated for want of identity evidence
	var below map[*entry]float64 // attempts whose best pair scored below the threshold once calibrated
	// consider makes the association of pair p unless an undecided later
	// IPv6 attempt explains its IPv4 attempt better, a repeat sender's
	// pair lacks identity evidence, or the calibrated score falls short;
	// other is the sum of the attempt's best other candidate.
	consider := func(p *pair, other float64) {
		better := false
		e.laterCandidates(p.v4, later, func(l *entry) bool {
			better = e.pairSum(l, &p.v4.f, p.v4, nil) > p.sum
			return !better
		})
		if better {
			return
		}
		// The evidence list, recomputed now (in the state it was scored in,
		// before this batch updates the history).
		rec := e.explain(p.v6, p.v4)
		if !e.off[fHistory] && e.prefixOf(p.v6).repeat && !rec.identity {
			if repeats == nil {
				repeats = map[*entry]bool{}
			}
			repeats[p.v6] = true
			return
		}
		f := Features{Family: rec.fam, Lead: min(MaxLead, p.sum-other), Identity: rec.identity, Agreed: rec.agreed}
		f.Crowd, f.Near = e.crowd(p.v6, p.v4.f.src)
		r := rivals[p.v4]
		f.Rival = min(MaxLead, p.sum-r.sum[0])
		if r.best.p64 == p.v6.p64 {
			f.Rival = min(MaxLead, p.sum-r.sum[1])
		}
		f.Cands = cands[p.v6]
		// Both counts decayed alike, to the IPv6 attempt's time.
		if h, ok := e.hist.v4[toAddr4(p.v4.f.src)]; ok {
			f.Busy = decay(h.sent, time.Duration(p.v6.f.t0-h.last))
		}
		for _, w := range rec.buf[:rec.n] {
			if w.v == vEmbedded {
				f.Habit += w.w
			}
		}
		if !e.off[fHistory] {
			f.Recent = e.prefixOf(p.v6).recent
		}
		f.Sent = e.prefixOf(p.v6).sent
		if s := e.cal.Score(f); s < e.cfg.Threshold {
			if e.cfg.Observe != nil {
				e.cfg.Observe(&Association{V6: p.v6.attempt(&e.out6), V4Addr: p.v4.f.src, Score: s, Features: f})
			}
			if below == nil {
				below = map[*entry]float64{}
			}
			if _, ok := below[p.v6]; !ok {
				below[p.v6] = s
			}
			return
		}
		p.v4.used = true
		p.ev = append([]noted(nil), rec.ev...)
		chosen[p.v6] = p
		feats[p.v6] = f
	}
	for i := range pairs {
		p := &pairs[i]
		if chosen[p.v6] != nil || p.v4.used {
			continue
		}
		// An attempt whose best pair was refused is not given a weaker one.
		if _, ok := below[p.v6]; ok || repeats[p.v6] {
			continue
		}
		if _, amb := ambiguous[p.v6]; amb {
			continue
		}
		// The lead over the best other candidate: the runner-up, or the
		// best when that went to another attempt.
		t := top[p.v6]
		other := t[1]
		if p.sum < t[0] {
			other = t[0]
		}
		consider(p, other)
	}
	e.eliminate(pairs, ambiguous, chosen, top, consider)
	// The /64 states the decisions saw, before this batch's own attempts
	// change them: a row's reason must be the decision's.
	states := e.states[:0]
	for _, v6 := range batch {
		var st prefixState
		if !e.off[fHistory] && chosen[v6] == nil { // only an unassociated row can need it
			if s := e.prefixOf(v6); s.repeat {
				st = stateRepeat
			} else if s.heavy {
				st = stateHeavy
			}
		}
		states = append(states, st)
	}
	e.states = states
	for i, v6 := range batch {
		as := Association{V6: v6.attempt(&e.out6), AddrKind: v6.info.Kind.String()}
		identity := false
		if p := chosen[v6]; p != nil {
			as.V4, as.V4Addr = p.v4.attempt(&e.out4), p.v4.f.src
			as.Features = feats[v6]
			identity = as.Features.Identity
			as.Score, as.Evidence = e.cal.Score(as.Features), e.evidence(p.ev)
			as.V4Blocklisted = e.Blocklisted(as.V4)
		} else if repeats[v6] {
			as.Evidence = []string{repeatUnassociated}
		} else if s, ok := below[v6]; ok {
			as.Evidence = []string{belowThreshold(s)}
		} else if ip, amb := ambiguous[v6]; amb && ip.IsValid() && e.cal.Shared >= e.cfg.Threshold {
			// Several equally good attempts from one IPv4 address (hosts
			// behind one NAT): the address is known, the attempt is not.
			as.V4Addr = ip
			as.V4Blocklisted = e.bl != nil && e.bl.Listed(ip, as.V6.FirstSeen)
			as.Score = e.cal.Shared
			as.Evidence = []string{"ambiguous:candidates-share-ipv4(address only)"}
		} else if !e.cfg.Disable[EvEmbedded] && e.bl != nil {
			// No IPv4 attempt, but the address embeds an IPv4 the reject
			// log knows: associate with the address alone.
			for _, em := range v6.info.Embedded {
				if em.Confidence >= identityConfidence && e.bl.Listed(em.IPv4, as.V6.FirstSeen) {
					if em.Confidence < e.cfg.Threshold { // ISATAP, a local NAT64 prefix
						as.Evidence = []string{belowThreshold(em.Confidence)}
						break
					}
					as.V4Addr, as.V4Blocklisted, identity = em.IPv4, true, true
					as.Score = em.Confidence
					as.Evidence = []string{"embedded:" + em.How + "(address only)"}
					break
				}
			}
		}
		if _, amb := ambiguous[v6]; amb && as.Evidence == nil {
			as.Evidence = []string{ambiguousUnassociated}
		}
		if as.Evidence == nil {
			switch states[i] {
			case stateRepeat:
				as.Evidence = []string{repeatNoCandidate}
			case stateHeavy:
				as.Evidence = []string{heavyNoCandidate}
			}
		}
		as.Spammer = as.V4Blocklisted
		e.recordV6(as.V6, as.V4Addr, identity, close[v6])
		if e.cfg.Observe != nil && as.V4Addr.IsValid() {
			e.cfg.Observe(&as)
		}
		e.emit(&as)
	}
	clear(pairs)
	e.pairs = pairs[:0]
}

// eliminate decides the ambiguous attempts whose close candidates went to
// other attempts but one: of two look-alike IPv4 attempts, the one another
// IPv6 attempt clearly explained is not this one's. An attempt's best
// remaining candidate is considered if it was within the margin of its
// best and is now the margin ahead of the next remaining one.
func (e *Engine) eliminate(pairs []pair, ambiguous map[*entry]netip.Addr, chosen map[*entry]*pair, top map[*entry][2]float64, consider func(*pair, float64)) {
	if len(ambiguous) == 0 {
		return
	}
	type left struct {
		first, second *pair
	}
	var order []*entry
	rest := map[*entry]*left{}
	for i := range pairs {
		p := &pairs[i]
		if ip, amb := ambiguous[p.v6]; !amb || ip.IsValid() || chosen[p.v6] != nil || p.v4.used {
			continue
		}
		l := rest[p.v6]
		switch {
		case l == nil:
			rest[p.v6] = &left{first: p}
			order = append(order, p.v6)
		case l.second == nil && p.v4.f.src != l.first.v4.f.src:
			l.second = p
		}
	}
	for _, v6 := range order {
		l := rest[v6]
		p := l.first
		other := math.Inf(-1)
		if l.second != nil {
			other = l.second.sum
		}
		if p.v4.used || top[v6][0]-p.sum >= e.cfg.Margin || p.sum-other < e.cfg.Margin {
			continue
		}
		if consider(p, other); chosen[v6] != nil {
			delete(ambiguous, v6)
		}
	}
}

// rival is an IPv4 attempt's best IPv6 attempt in a batch, its sum, and
// the best sum of an IPv6 attempt of another /64: a host retrying fast
// competes with itself for its IPv4 attempt, which says nothing against
// the pair.
type rival struct {
	best *entry
	sum  [2]float64
}

// EvidenceFamily returns the family of an evidence string ("order:..." -> "order").
func EvidenceFamily(ev string) string {
	f, _, _ := strings.Cut(ev, ":")
	return f
}
