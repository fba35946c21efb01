package pipeline

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// The parallel front end (Config.Shards > 1): grouping and fingerprinting
// run on shards, one goroutine each, every source address on one shard;
// the caller's goroutine hands them the SYNs in rounds and merges the
// attempts they return back into the grouper's total order before the
// association, which stays sequential.
//
// Why the merged order is the single grouper's: every SYN carries the
// stream's watermark as it stood before it, and its shard's grouper is
// advanced to it first, so each grouper holds, closes and splits the
// attempts of its sources exactly as one grouper of every source would (the
// grouping is identical, late SYNs included). Each shard emits its
// attempts in the total order and reports its frontier (the earliest
// FirstSeen it may still emit) with every batch; the merger lets the least
// head of the shards' queues go once every shard with an empty queue has a
// frontier past it. Attempts alike up to the ISN share a source, hence a
// shard, and keep its order. What may differ: with no late SYN and no bound
// reached, nothing. A late SYN's attempt may go out at another place than
// one grouper would emit it; under Attempt.MaxLive (split between the
// shards, and bounding the merger's queue with them) the attempts emitted
// early are not always those one grouper would pick: both are counted as
// before (LateSYNs, ForcedAttempts).

const (
	// shardBatch is the SYNs a shard gets per round, on average: enough
	// to make the two channel operations per batch cost nothing per SYN,
	// few enough that attempts reach the association without delay.
	shardBatch = 256
	// batchesPerShard bounds the batches of a shard: one being filled,
	// the others queued, worked on or merged. The caller waits when a
	// shard is that far behind.
	batchesPerShard = 4
)

// item is one SYN for a shard, with the stream's watermark before it.
type item struct {
	ev synevent.Event
	wm int64
}

// batch goes to a shard with SYNs and comes back with the attempts they
// closed; both buffers are reused.
type batch struct {
	shard int
	items []item
	wm    int64 // the stream's watermark after the items
	flush bool  // close and emit every attempt after the items

	atts     []attempt.Attempt
	forced   []bool // atts[i] was emitted early by the shard's grouper (MaxLive)
	frontier int64  // the shard's Frontier, math.MinInt64 before any
	live     int    // open attempts
	held     int    // open plus closed awaiting release
	nforced  uint64 // the shard's grouper's ForcedEmits
}

// shard groups and fingerprints the SYNs of its sources.
type shard struct {
	g       *attempt.Grouper
	db      *fingerprint.DB
	sc      scratch
	skew    int64
	wm      int64  // the watermark the grouper was last advanced to
	nforced uint64 // the grouper's ForcedEmits as of the last attempt emitted
	out     *batch // the batch being worked on: its attempts go there
	in      chan *batch
}

func newShard(cfg attempt.Config, db *fingerprint.DB) *shard {
	s := &shard{db: db, skew: int64(max(cfg.MaxSkew, 0)), wm: math.MinInt64}
	cfg.Enrich = func(ev *synevent.Event, fp *attempt.Fingerprint) { enrich(s.db, &s.sc, ev, fp) }
	s.g = attempt.New(cfg, func(a *attempt.Attempt) {
		// The grouper counts a forced emission just before making it.
		n := s.g.Stats().ForcedEmits
		s.out.atts, s.out.forced = append(s.out.atts, *a), append(s.out.forced, n != s.nforced)
		s.nforced = n
	})
	return s
}

// advance moves the grouper's watermark to the stream's.
func (s *shard) advance(wm int64) {
	if wm > s.wm {
		s.wm = wm
		s.g.Advance(time.Unix(0, wm+s.skew)) // Advance takes off the skew
	}
}

func (s *shard) run(done chan<- *batch) {
	for b := range s.in {
		s.out = b
		b.atts, b.forced = b.atts[:0], b.forced[:0]
		for i := range b.items {
			it := &b.items[i]
			s.advance(it.wm)
			s.g.Add(&it.ev)
		}
		s.advance(b.wm)
		if b.flush {
			s.g.Flush()
		}
		b.frontier = math.MinInt64
		if f := s.g.Frontier(); !f.IsZero() {
			b.frontier = f.UnixNano()
		}
		b.live, b.held, b.nforced = s.g.Live(), s.g.Held(), s.g.Stats().ForcedEmits
		s.out = nil
		done <- b
	}
}

// front dispatches SYNs to the shards and merges their attempts; it runs
// on the pipeline's caller's goroutine.
type front struct {
	cfg     attempt.Config // each shard's
	db      *fingerprint.DB
	emit    func(*attempt.Attempt)
	maxHeld int // Attempt.MaxLive: bounds the shards' held attempts and the merger's queue together

	shards []*shard // nil while stopped
	done   chan *batch
	// Batches back from the shards wait in arrived until merged in the
	// order they were sent (shard 0 to n-1, round after round; next is the
	// shard whose batch is merged next): what the merger decides, early
	// emissions under the bound included, depends on the input only, not
	// on which shard's goroutine ran first.
	arrived  [][]*batch
	next     int
	cur      []*batch   // being filled, per shard
	free     [][]*batch // per shard
	inflight int
	n        int // SYNs in the current round

	queues   []attQueue // attempts back from each shard, in its order
	frontier []int64
	live     []int
	held     []int
	forced   []uint64
	queued   int
	// Attempts emitted early (held-attempt bound) by the merger, and by
	// shards stopped since.
	merged uint64

	// The stream's clock, kept as one grouper keeps it.
	started bool
	maxSeen int64
	wm      int64
	skew    int64
	late    uint64
}

func newFront(n int, cfg attempt.Config, db *fingerprint.DB, emit func(*attempt.Attempt)) *front {
	f := &front{cfg: cfg, db: db, emit: emit, maxHeld: max(cfg.MaxLive, 0), wm: math.MinInt64,
		skew: int64(max(cfg.MaxSkew, 0)), queues: make([]attQueue, n), frontier: make([]int64, n),
		live: make([]int, n), held: make([]int, n), forced: make([]uint64, n)}
	if cfg.MaxLive > 0 {
		f.cfg.MaxLive = (cfg.MaxLive + n - 1) / n
	}
	for k := range f.frontier {
		f.frontier[k] = math.MinInt64
	}
	return f
}

// start starts the shards' goroutines (on first use, and again after a
// Close: the pipeline stays usable).
func (f *front) start() {
	n := len(f.queues)
	f.shards, f.cur, f.free = make([]*shard, n), make([]*batch, n), make([][]*batch, n)
	f.arrived, f.next = make([][]*batch, n), 0
	f.done = make(chan *batch, n*batchesPerShard) // a shard never waits to hand a batch back
	for k := range f.shards {
		s := newShard(f.cfg, f.db)
		s.in = make(chan *batch, batchesPerShard) // never full: a shard has no more batches
		// Pick up where the last shards left: their attempts were all
		// emitted, the stream's clock goes on.
		s.advance(f.wm)
		f.shards[k] = s
		for range batchesPerShard {
			f.free[k] = append(f.free[k], &batch{shard: k, items: make([]item, 0, shardBatch)})
		}
		f.cur[k] = f.take(k)
		go s.run(f.done)
	}
}

// stop ends the shards' goroutines; every batch is back.
func (f *front) stop() {
	for k, s := range f.shards {
		close(s.in)
		f.merged += f.forced[k]
		f.forced[k] = 0
	}
	f.shards, f.cur, f.free, f.done, f.arrived = nil, nil, nil, nil, nil
}

// shardOf spreads source addresses over the shards.
func shardOf(a netip.Addr, n int) int {
	b := a.As16()
	x := (binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])) * 0x9e3779b97f4a7c15
	return int((x >> 32) * uint64(n) >> 32)
}

// add dispatches one SYN, counting it late as one grouper would.
func (f *front) add(ev *synevent.Event) {
	if f.shards == nil {
		f.start()
	}
	t := ev.Time.UnixNano()
	if f.started && t < f.maxSeen && t < f.wm {
		f.late++
	}
	b := f.cur[shardOf(ev.Src, len(f.shards))]
	b.items = append(b.items, item{ev: *ev, wm: f.wm})
	if !f.started || t > f.maxSeen {
		f.maxSeen, f.started = t, true
	}
	f.wm = max(f.wm, f.maxSeen-f.skew)
	if f.n++; f.n >= shardBatch*len(f.shards) {
		f.send(false)
		f.collect()
	}
}

// send hands every shard its batch of the round (empty ones too: each
// shard's frontier follows the stream's watermark).
func (f *front) send(flush bool) {
	for k, b := range f.cur {
		b.wm, b.flush = f.wm, flush
		f.shards[k].in <- b
		f.inflight++
		f.cur[k] = f.take(k)
	}
	f.n = 0
}

// take returns an empty batch of shard k, waiting for one to come back
// when the shard is behind.
func (f *front) take(k int) *batch {
	for len(f.free[k]) == 0 {
		f.got(<-f.done)
	}
	b := f.free[k][len(f.free[k])-1]
	f.free[k] = f.free[k][:len(f.free[k])-1]
	return b
}

// collect merges the batches already back, without waiting.
func (f *front) collect() {
	for {
		select {
		case b := <-f.done:
			f.got(b)
		default:
			return
		}
	}
}

// barrier waits for every batch sent and merges them.
func (f *front) barrier() {
	for f.inflight > 0 {
		f.got(<-f.done)
	}
}

// got takes a batch back, and merges the batches back in the order they
// were sent.
func (f *front) got(b *batch) {
	f.inflight--
	f.arrived[b.shard] = append(f.arrived[b.shard], b)
	for len(f.arrived[f.next]) > 0 {
		b := f.arrived[f.next][0]
		f.arrived[f.next] = f.arrived[f.next][1:]
		f.merge(b)
		f.next = (f.next + 1) % len(f.queues)
	}
}

// merge takes the attempts of a batch and emits what the order allows.
func (f *front) merge(b *batch) {
	k := b.shard
	for i := range b.atts {
		f.queues[k].push(&b.atts[i], b.forced[i])
	}
	f.queued += len(b.atts)
	f.frontier[k], f.live[k], f.held[k], f.forced[k] = b.frontier, b.live, b.held, b.nforced
	b.items = b.items[:0]
	if cap(b.atts) > 4*shardBatch {
		// A gap in time closed a shard's whole held set at once: do not
		// keep room for it beside the held-attempt bound.
		b.atts, b.forced = nil, nil
	}
	f.free[k] = append(f.free[k], b)
	f.release(false)
}

// release emits the queued attempts no shard can precede any more, in the
// order; all emits every one (after a flush). Over the held-attempt bound
// it emits the least head early.
func (f *front) release(all bool) {
	for f.queued > 0 {
		k := -1
		for j := range f.queues {
			if f.queues[j].n > 0 && (k < 0 || attempt.Before(f.queues[j].head(), f.queues[k].head())) {
				k = j
			}
		}
		h := f.queues[k].head()
		if !all && !f.passed(k, h.FirstSeen.UnixNano()) {
			if !f.over() {
				return
			}
			if !f.queues[k].headForced() { // counted once: by its shard, or here
				f.merged++
			}
		}
		f.emit(h)
		f.queues[k].pop()
		f.queued--
	}
}

// passed reports whether every shard but k with nothing queued is past t.
func (f *front) passed(k int, t int64) bool {
	for j := range f.queues {
		if j != k && f.queues[j].n == 0 && t >= f.frontier[j] {
			return false
		}
	}
	return true
}

func (f *front) over() bool {
	if f.maxHeld <= 0 {
		return false
	}
	n := f.queued
	for _, h := range f.held {
		n += h
	}
	return n > f.maxHeld
}

// advance moves the stream's clock to now (live: no SYN may come) and
// merges what it closes, waiting for the shards.
func (f *front) advance(now time.Time) {
	if f.shards == nil {
		f.start()
	}
	f.wm = max(f.wm, now.UnixNano()-f.skew)
	f.send(false)
	f.barrier()
}

// flush emits every attempt, in order, and stops the shards.
func (f *front) flush() {
	if f.shards == nil {
		return
	}
	f.send(true)
	f.barrier()
	f.release(true)
	f.stop()
}

// frontierTime is the earliest FirstSeen an attempt emitted from now on
// can have (see attempt.Grouper.Frontier), over the shards and the queue.
func (f *front) frontierTime() time.Time {
	// What one grouper holds, the shards hold or the merger queues.
	m := int64(math.MaxInt64)
	for k := range f.queues {
		m = min(m, f.frontier[k])
		if f.queues[k].n > 0 {
			m = min(m, f.queues[k].head().FirstSeen.UnixNano())
		}
	}
	if m == math.MinInt64 || m == math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, m)
}

// counts are the shards' open attempts (and those queued in the merger),
// and the attempts emitted early to stay within the bound.
func (f *front) counts() (live int, forced uint64) {
	live, forced = f.queued, f.merged
	for k := range f.live {
		live += f.live[k]
		forced += f.forced[k]
	}
	return live, forced
}

// attQueue is a FIFO of attempts (a ring that grows).
type attQueue struct {
	buf   []queued
	first int
	n     int
}

// queued is an attempt back from a shard, and whether its shard emitted it
// early (counted there already).
type queued struct {
	a      attempt.Attempt
	forced bool
}

func (q *attQueue) push(a *attempt.Attempt, forced bool) {
	if q.n == len(q.buf) {
		buf := make([]queued, max(2*len(q.buf), 64))
		for i := range q.n {
			buf[i] = q.buf[(q.first+i)%len(q.buf)]
		}
		q.buf, q.first = buf, 0
	}
	q.buf[(q.first+q.n)%len(q.buf)] = queued{a: *a, forced: forced}
	q.n++
}

func (q *attQueue) head() *attempt.Attempt { return &q.buf[q.first].a }

// headForced says whether the head was emitted early by its shard.
func (q *attQueue) headForced() bool { return q.buf[q.first].forced }

func (q *attQueue) pop() {
	q.buf[q.first] = queued{} // its strings go
	q.first = (q.first + 1) % len(q.buf)
	if q.n--; q.n == 0 && len(q.buf) > 1024 {
		q.buf, q.first = nil, 0 // the room a gap in time needed, given back
	}
}
