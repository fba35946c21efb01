// Package attempt groups SYNs into connect() attempts: the SYNs one client
// socket sent, retransmissions included.
//
// # Grouping rule
//
// Following the NANOG 62 design, SYNs with the same (source address, source
// port, destination address, destination port) belong to one attempt while
// each SYN lies within Config.Window (default 25 s) of the attempt's SYNs:
// a SYN joins when FirstSeen-Window <= t <= LastSeen+Window. The window is
// INCLUSIVE: a SYN exactly Window after the last SYN joins; one nanosecond
// later starts a new attempt (port reuse).
//
// A SYN whose sequence number (ISN) differs from the attempt's ISN also
// starts a new attempt when Config.SplitOnNewISN is set (the default): SYN
// retransmissions of one connect() carry the same ISN on Linux, Windows and
// the BSDs, while a new connect() on the same port draws a fresh ISN (RFC
// 6528), so an ISN change within the window is port reuse, not a
// retransmission. The replaced attempt is closed at once.
//
// # Time, skew and the watermark
//
// Events arrive roughly in time order. The grouper keeps an event-time
// watermark W = max(latest event time, latest Advance now) - Config.MaxSkew.
// An event older than the newest event seen is counted in Stats.OutOfOrder;
// one older than W (beyond the tolerated skew) is also counted in Stats.Late.
// Out-of-order SYNs are inserted at their place in time (FirstSeen, First,
// Intervals stay ordered; durations are never negative). An attempt is closed
// when LastSeen+Window < W: no SYN that is not late can join it any more.
//
// # Emission order
//
// Closed attempts wait in a reorder queue and are released in the total
// order (FirstSeen, source address — which orders family 4 before 6 —,
// source port, destination address, destination port, ISN, arrival), only
// once they precede both W and every still-open attempt. Every later attempt
// has FirstSeen >= W, so, as long as no event is late, the emitted sequence
// is the sorted sequence of all attempts, whether and whenever Advance is
// called: the live path (Advance on a timer) and the offline path (never)
// give identical output. Late events and forced emissions (Config.MaxLive)
// are never lost but may be emitted out of that order.
//
// A Grouper is not safe for concurrent use.
package attempt

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// MaxIntervals is how many inter-SYN gaps an Attempt records.
const MaxIntervals = 8

// Attempt is one connect() attempt: the SYNs one client socket sent. The
// Grouper builds it only to emit it; what it holds meanwhile is smaller
// (see state).
type Attempt struct {
	Family           int // 4 or 6
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16

	FirstSeen, LastSeen time.Time // times of the earliest and latest SYN (UTC)
	SYNs                int       // SYNs in the attempt, retransmissions included

	// Intervals holds the gaps between consecutive SYNs (in time order), the
	// first NIntervals of them (at most MaxIntervals): the retransmission
	// pattern.
	Intervals  [MaxIntervals]time.Duration
	NIntervals int

	ISN   uint32 // sequence number of the earliest SYN
	First SYN    // what the association reads of the earliest SYN

	// TSval of the TCP timestamp option of the earliest and latest SYN;
	// HasTS reports that both carried one.
	TSFirst, TSLast uint32
	HasTS           bool

	// Filled by Config.Enrich from the earliest SYN, if set.
	Fingerprint
}

// SYN is what is kept of an attempt's earliest SYN once it is
// fingerprinted: its TTL and TCP options.
type SYN struct {
	TTL     uint8
	OptLen  uint8
	Options [40]byte
}

// TCPOptions returns the option bytes in use.
func (s *SYN) TCPOptions() []byte { return s.Options[:min(int(s.OptLen), len(s.Options))] }

// Fingerprint is what Config.Enrich makes of the earliest SYN.
type Fingerprint struct {
	Label, OSClass string
	Dist           int
	RawSig         string
	AddrKind       string
}

// Duration is LastSeen - FirstSeen (never negative).
func (a *Attempt) Duration() time.Duration { return a.LastSeen.Sub(a.FirstSeen) }

// Retransmissions is SYNs - 1.
func (a *Attempt) Retransmissions() int { return a.SYNs - 1 }

// Enricher fingerprints an attempt's earliest SYN: it is called when an
// attempt starts, and again if an earlier SYN arrives out of order. The
// grouper keeps fp, not the SYN.
type Enricher func(first *synevent.Event, fp *Fingerprint)

// Config configures a Grouper.
type Config struct {
	// Window is the sliding window: a SYN joins an attempt when it is within
	// Window (inclusive) of the attempt's SYNs. <= 0 means 25 s.
	Window time.Duration
	// MaxSkew is how far behind the newest event an event may arrive and
	// still be handled in order. < 0 means 0.
	MaxSkew time.Duration
	// MaxLive bounds the attempts held (open plus awaiting ordered release).
	// Over it the oldest (by FirstSeen) are emitted early, counted in
	// Stats.ForcedEmits. <= 0 means unbounded.
	MaxLive int
	// SplitOnNewISN starts a new attempt when a SYN's ISN differs from the
	// attempt's ISN.
	SplitOnNewISN bool
	// Enrich, if set, fingerprints each attempt's earliest SYN.
	Enrich Enricher
}

// BytesPerHeld is the most heap one held attempt costs (its state, its
// map entry and its heap slots, which TestBytesPerHeld measures, plus a
// raw signature string from Enrich): what a memory budget divided by it
// gives as MaxLive.
const BytesPerHeld = 512

// DefaultConfig returns Window 25 s, MaxSkew 2 s, MaxLive 262144,
// SplitOnNewISN true.
func DefaultConfig() Config {
	return Config{Window: 25 * time.Second, MaxSkew: 2 * time.Second, MaxLive: 1 << 18, SplitOnNewISN: true}
}

// Stats counts what a Grouper saw.
type Stats struct {
	SYNs            uint64 // SYNs added
	Attempts        uint64 // attempts emitted
	Retransmissions uint64 // SYNs that joined an existing attempt
	ForcedEmits     uint64 // attempts emitted early because of MaxLive
	OutOfOrder      uint64 // SYNs older than the newest SYN seen before them
	Late            uint64 // of those, SYNs older than the watermark (beyond MaxSkew)
	ISNSplits       uint64 // attempts closed because a SYN brought a new ISN
}

// key is a socket: addresses as integers (no pointer for the collector
// to scan in the map), ordered as netip.Addr.Compare orders them.
type key struct {
	srcHi, srcLo, dstHi, dstLo uint64
	sport, dport               uint16
	src6, dst6                 bool // family of each address
}

func keyOf(ev *synevent.Event) key {
	k := key{sport: ev.SrcPort, dport: ev.DstPort}
	k.srcHi, k.srcLo, k.src6 = addrBits(ev.Src)
	k.dstHi, k.dstLo, k.dst6 = addrBits(ev.Dst)
	return k
}

func addrBits(a netip.Addr) (hi, lo uint64, is6 bool) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), !a.Is4()
}

func bitsAddr(hi, lo uint64, is6 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	if !is6 {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}

// cmpAddr orders two addresses of a key as netip.Addr.Compare does: IPv4
// first, then by value.
func cmpAddr(ahi, alo uint64, a6 bool, bhi, blo uint64, b6 bool) int {
	if a6 != b6 {
		if !a6 {
			return -1
		}
		return 1
	}
	if ahi != bhi {
		return cmp.Compare(ahi, bhi)
	}
	return cmp.Compare(alo, blo)
}

// state is an attempt being built: about a third of an Attempt. Times are
// Unix ns; the Attempt is built from it when it is emitted.
type state struct {
	k           key
	first, last int64                   // earliest and latest SYN
	times       [MaxIntervals + 1]int64 // the earliest SYN times, sorted
	arrival     uint64                  // creation order, last tie-break
	fp          Fingerprint
	syns        uint32
	isn         uint32
	tsFirst     uint32
	tsLast      uint32
	hExp        int32 // index in the expiry heap
	hFirst      int32 // index in the open-by-order heap
	hPend       int32 // index in the pending heap
	ntimes      uint8
	tsFirstOK   bool
	tsLastOK    bool
	syn         SYN
}

// Grouper groups SYN events into attempts.
type Grouper struct {
	cfg     Config
	window  int64
	skew    int64
	emit    func(*Attempt)
	open    map[key]*state
	exp     heap // open attempts by last SYN time
	byFirst heap // open attempts by emission order
	pend    heap // closed attempts awaiting release, by emission order
	free    []*state
	out     Attempt // the attempt being emitted
	maxSeen int64
	wm      int64 // watermark
	started bool
	arrival uint64
	stats   Stats
}

// New returns a Grouper that calls emit for each finished attempt. The
// pointer is valid only during the call; copy the Attempt to keep it.
func New(cfg Config, emit func(*Attempt)) *Grouper {
	if cfg.Window <= 0 {
		cfg.Window = 25 * time.Second
	}
	if cfg.MaxSkew < 0 {
		cfg.MaxSkew = 0
	}
	g := &Grouper{cfg: cfg, window: int64(cfg.Window), skew: int64(cfg.MaxSkew), emit: emit,
		open: make(map[key]*state), wm: math.MinInt64}
	g.exp = heap{less: lessExp, idx: func(s *state) *int32 { return &s.hExp }}
	g.byFirst = heap{less: lessOrder, idx: func(s *state) *int32 { return &s.hFirst }}
	g.pend = heap{less: lessOrder, idx: func(s *state) *int32 { return &s.hPend }}
	return g
}

// Live returns the number of open attempts (not counting closed attempts
// awaiting ordered release; Held counts both).
func (g *Grouper) Live() int { return len(g.open) }

// Held returns open attempts plus closed attempts awaiting release: the
// number MaxLive bounds.
func (g *Grouper) Held() int { return len(g.open) + g.pend.len() }

// Stats returns the counters.
func (g *Grouper) Stats() Stats { return g.stats }

// Add groups one SYN. It may emit attempts whose window closed as of the
// event-time watermark. ev is copied as needed; it is not retained.
func (g *Grouper) Add(ev *synevent.Event) {
	g.stats.SYNs++
	t := ev.Time.UnixNano()
	if g.started && t < g.maxSeen {
		g.stats.OutOfOrder++
		if t < g.wm {
			g.stats.Late++
		}
	}
	k := keyOf(ev)
	if s, ok := g.open[k]; ok {
		inWindow := t >= s.first-g.window && t <= s.last+g.window
		sameISN := !g.cfg.SplitOnNewISN || ev.Seq == s.isn
		switch {
		case inWindow && sameISN:
			g.join(s, ev, t)
		case t < s.first:
			// Older than the open attempt and not part of it (only
			// possible for out-of-order SYNs): a closed attempt of its own,
			// leaving the open one alone.
			n := g.newState(k, ev, t)
			g.pend.push(n)
		default:
			if inWindow {
				g.stats.ISNSplits++
			}
			g.close(s)
			g.openState(g.newState(k, ev, t))
		}
	} else {
		g.openState(g.newState(k, ev, t))
	}
	if !g.started || t > g.maxSeen {
		g.maxSeen = t
		g.started = true
	}
	g.raise(g.maxSeen - g.skew)
	g.enforceMax()
}

// Advance closes the attempts idle for more than Window as of now - MaxSkew
// (the skew keeps SYNs still in flight from being judged late) and emits
// those the ordering allows. The live path calls it on a timer.
func (g *Grouper) Advance(now time.Time) {
	g.raise(now.UnixNano() - g.skew)
}

// Frontier is the earliest FirstSeen an attempt emitted from now on can
// have, unless a SYN arrives later than the tolerated skew: the watermark,
// or the first SYN of an attempt still held if earlier. It is the zero
// time before the first event. The live agent passes it to the
// association engine, which can then decide without waiting for the next
// SYN.
func (g *Grouper) Frontier() time.Time {
	f := g.wm
	if g.byFirst.len() > 0 {
		f = min(f, g.byFirst.items[0].first)
	}
	if g.pend.len() > 0 {
		f = min(f, g.pend.items[0].first)
	}
	if f == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, f)
}

// Flush closes and emits every attempt, in emission order (FirstSeen first).
// The Grouper stays usable.
func (g *Grouper) Flush() {
	for g.exp.len() > 0 {
		g.close(g.exp.items[0])
	}
	for g.pend.len() > 0 {
		g.release(g.pend.pop())
	}
}

func (g *Grouper) newState(k key, ev *synevent.Event, t int64) *state {
	var s *state
	if n := len(g.free); n > 0 {
		s = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		s = new(state)
	}
	g.arrival++
	s.k, s.first, s.last, s.arrival = k, t, t, g.arrival
	s.times[0], s.ntimes = t, 1
	s.syns = 1
	ts, ok := TSval(ev.TCPOptions())
	s.tsFirst, s.tsLast, s.tsFirstOK, s.tsLastOK = ts, ts, ok, ok
	g.first(s, ev)
	return s
}

// first takes what is kept of an attempt's earliest SYN.
func (g *Grouper) first(s *state, ev *synevent.Event) {
	s.isn = ev.Seq
	s.syn.TTL, s.syn.OptLen = ev.TTL, min(ev.OptLen, uint8(len(ev.Options)))
	s.syn.Options = ev.Options
	if g.cfg.Enrich != nil {
		g.cfg.Enrich(ev, &s.fp)
	}
}

func (g *Grouper) openState(s *state) {
	g.open[s.k] = s
	g.exp.push(s)
	g.byFirst.push(s)
}

// join adds a SYN to an open attempt without allocating.
func (g *Grouper) join(s *state, ev *synevent.Event, t int64) {
	g.stats.Retransmissions++
	s.syns++
	// Keep the earliest MaxIntervals+1 times, sorted.
	i := int(s.ntimes)
	if i == len(s.times) {
		if t < s.times[i-1] {
			i--
		} else {
			i = -1
		}
	} else {
		s.ntimes++
	}
	if i >= 0 {
		for i > 0 && s.times[i-1] > t {
			s.times[i] = s.times[i-1]
			i--
		}
		s.times[i] = t
	}
	if t > s.last {
		s.last = t
		ts, ok := TSval(ev.TCPOptions())
		s.tsLast, s.tsLastOK = ts, ok
		g.exp.fix(s)
	}
	if t < s.first {
		s.first = t
		ts, ok := TSval(ev.TCPOptions())
		s.tsFirst, s.tsFirstOK = ts, ok
		g.first(s, ev)
		g.byFirst.fix(s)
		g.exp.fix(s)
	}
}

// close moves an open attempt to the pending queue.
func (g *Grouper) close(s *state) {
	delete(g.open, s.k)
	g.exp.remove(s)
	g.byFirst.remove(s)
	g.pend.push(s)
}

// raise moves the watermark to w (if higher), closes expired attempts and
// releases what the ordering allows.
func (g *Grouper) raise(w int64) {
	if w > g.wm {
		g.wm = w
	}
	for g.exp.len() > 0 {
		s := g.exp.items[0]
		if s.last+g.window >= g.wm {
			break
		}
		g.close(s)
	}
	for g.pend.len() > 0 {
		s := g.pend.items[0]
		if s.first >= g.wm {
			break
		}
		if g.byFirst.len() > 0 && !lessOrder(s, g.byFirst.items[0]) {
			break
		}
		g.release(g.pend.pop())
	}
}

// enforceMax emits the oldest held attempts early while over MaxLive.
func (g *Grouper) enforceMax() {
	if g.cfg.MaxLive <= 0 {
		return
	}
	for len(g.open)+g.pend.len() > g.cfg.MaxLive {
		g.stats.ForcedEmits++
		if g.pend.len() > 0 && (g.byFirst.len() == 0 || lessOrder(g.pend.items[0], g.byFirst.items[0])) {
			g.release(g.pend.pop())
			continue
		}
		s := g.byFirst.items[0]
		g.close(s)
		g.pend.remove(s)
		g.release(s)
	}
}

// release builds and emits an attempt, then recycles its state.
func (g *Grouper) release(s *state) {
	a := &g.out
	*a = Attempt{Family: 4, SrcPort: s.k.sport, DstPort: s.k.dport,
		Src: bitsAddr(s.k.srcHi, s.k.srcLo, s.k.src6), Dst: bitsAddr(s.k.dstHi, s.k.dstLo, s.k.dst6),
		FirstSeen: time.Unix(0, s.first).UTC(), LastSeen: time.Unix(0, s.last).UTC(), SYNs: int(s.syns),
		ISN: s.isn, First: s.syn, HasTS: s.tsFirstOK && s.tsLastOK, Fingerprint: s.fp}
	if s.k.src6 {
		a.Family = 6
	}
	for i := 1; i < int(s.ntimes) && i <= MaxIntervals; i++ {
		a.Intervals[i-1] = time.Duration(s.times[i] - s.times[i-1])
		a.NIntervals++
	}
	if a.HasTS {
		a.TSFirst, a.TSLast = s.tsFirst, s.tsLast
	}
	g.stats.Attempts++
	if g.emit != nil {
		g.emit(a)
	}
	*s = state{}
	g.free = append(g.free, s)
}

// TSval returns the TSval of the TCP timestamp option (kind 8, length 10)
// in raw TCP option bytes.
func TSval(opts []byte) (uint32, bool) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // EOL
			return 0, false
		case 1: // NOP
			i++
			continue
		}
		if i+1 >= len(opts) {
			return 0, false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return 0, false
		}
		if opts[i] == 8 && l == 10 {
			return uint32(opts[i+2])<<24 | uint32(opts[i+3])<<16 | uint32(opts[i+4])<<8 | uint32(opts[i+5]), true
		}
		i += l
	}
	return 0, false
}

// lessOrder is the emission order: FirstSeen, source address (4 before 6),
// source port, destination address, destination port, ISN, arrival.
func lessOrder(a, b *state) bool {
	if a.first != b.first {
		return a.first < b.first
	}
	if c := cmpAddr(a.k.srcHi, a.k.srcLo, a.k.src6, b.k.srcHi, b.k.srcLo, b.k.src6); c != 0 {
		return c < 0
	}
	if a.k.sport != b.k.sport {
		return a.k.sport < b.k.sport
	}
	if c := cmpAddr(a.k.dstHi, a.k.dstLo, a.k.dst6, b.k.dstHi, b.k.dstLo, b.k.dst6); c != 0 {
		return c < 0
	}
	if a.k.dport != b.k.dport {
		return a.k.dport < b.k.dport
	}
	if a.isn != b.isn {
		return a.isn < b.isn
	}
	return a.arrival < b.arrival
}

func lessExp(a, b *state) bool {
	if a.last != b.last {
		return a.last < b.last
	}
	return lessOrder(a, b)
}

// heap is an indexed binary min-heap of states; each state records its
// position through idx so it can be fixed or removed in O(log n).
type heap struct {
	items []*state
	less  func(a, b *state) bool
	idx   func(*state) *int32
}

func (h *heap) len() int { return len(h.items) }

func (h *heap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.idx(h.items[i]) = int32(i)
	*h.idx(h.items[j]) = int32(j)
}

func (h *heap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *heap) down(i int) bool {
	i0 := i
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

func (h *heap) push(s *state) {
	*h.idx(s) = int32(len(h.items))
	h.items = append(h.items, s)
	h.up(len(h.items) - 1)
}

func (h *heap) pop() *state {
	s := h.items[0]
	h.remove(s)
	return s
}

func (h *heap) remove(s *state) {
	i := int(*h.idx(s))
	n := len(h.items) - 1
	if i != n {
		h.swap(i, n)
	}
	h.items[n] = nil
	h.items = h.items[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	*h.idx(s) = -1
}

func (h *heap) fix(s *state) {
	i := int(*h.idx(s))
	if !h.down(i) {
		h.up(i)
	}
}
