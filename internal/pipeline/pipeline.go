// Package pipeline is the measurement pipeline shared by `mxsensor analyze`
// (captures) and `mxsensor run` (live): SYN events are grouped into
// connect() attempts, fingerprinted, classified and associated, and the
// results handed as typed records to its sinks (the results files, the
// store). It decides; the sinks write.
package pipeline

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// ResultSink receives the pipeline's results in the order they are
// decided, from one goroutine. The records are reused: a sink copies what
// it keeps. A sink that cannot write drops and counts on its own; the
// error it returns is one that should stop the run (an offline results
// file), and Write, Flush and Close of the pipeline return the first.
// A sink dedupes on its own what a replay after a restart hands it again.
type ResultSink interface {
	WriteAttempt(a *record.Attempt) error
	WriteAssociation(a *record.Association) error
	Flush() error
}

// Config configures a Pipeline.
type Config struct {
	// Live makes Flush close attempts idle as of the wall clock, and
	// decide the IPv6 attempts nothing still to come can pair with, for
	// the agent (which flushes at least every FlushInterval, traffic or
	// not); offline, attempts close as the capture's time moves on.
	Live bool
	// Now is the wall clock of the live path (time.Now if nil).
	Now       func() time.Time
	Attempt   attempt.Config
	Associate associate.Config
	// HeldMemory, if > 0, is the heap the grouper and the engine may hold
	// together: it sets Attempt.MaxLive, Associate.MaxHeld and
	// Associate.MaxHistory (see Bounds).
	HeldMemory int64
	// Shards, if > 1, groups and fingerprints on that many goroutines, the
	// SYNs split by source address, the association staying on the
	// caller's (see front.go): the results are the same, in the same order.
	// 0 or 1: all on the caller's goroutine. Attempt.MaxLive is shared out.
	Shards int
}

// DefaultHeldMemory is the default Config.HeldMemory.
const DefaultHeldMemory = 256 << 20

// Bounds divides a memory budget between the attempts the grouper holds
// (40%), the attempts the association engine holds (45%) and its history
// (15%, at most associate.DefaultMaxHistory records per map), by what each
// costs per item. Under a flood of new sources the three fill up together.
func Bounds(heldMemory int64) (maxLive, maxHeld, maxHistory int) {
	maxLive = int(heldMemory * 40 / 100 / attempt.BytesPerHeld)
	maxHeld = int(heldMemory * 45 / 100 / associate.BytesPerHeld)
	maxHistory = int(min(heldMemory*15/100/associate.BytesPerHistory, associate.DefaultMaxHistory))
	return max(maxLive, 1), max(maxHeld, 1), max(maxHistory, 1)
}

// Stats summarise a run.
type Stats struct {
	SYNs, Attempts, IPv4, IPv6, Associated, Spammers uint64
	// What the bounds on held state cost (attempt.Config.MaxLive,
	// associate.Config.MaxHeld), and SYNs later than the tolerated skew
	// (grouped, but possibly out of order).
	ForcedAttempts, LateSYNs, DroppedIPv4, EarlyIPv6 uint64
	// Decisions the bounds on one decision's work cut short (a flood of
	// one crafted stack, clock or address: associate.Stats' CappedScans
	// and CappedPairs). Not a sign of load: the sensor is not degraded.
	CappedDecisions uint64
}

// counters are Stats, updated by the pipeline's goroutine and read by any
// (metrics).
type counters struct {
	syns, attempts, ipv4, ipv6, associated, spammers atomic.Uint64
	forced, late, dropped, early, capped             atomic.Uint64
}

// degraded copies the grouper's and the engine's counts of early
// decisions into the counters (after every attempt, and on Flush).
func (p *Pipeline) degraded() {
	e := p.e.Stats()
	if p.front != nil {
		_, forced := p.front.counts()
		p.stats.forced.Store(forced)
		p.stats.late.Store(p.front.late)
	} else {
		g := p.g.Stats()
		p.stats.forced.Store(g.ForcedEmits)
		p.stats.late.Store(g.Late)
	}
	p.stats.dropped.Store(e.DroppedIPv4)
	p.stats.early.Store(e.EarlyIPv6)
	p.stats.capped.Store(e.CappedScans + e.CappedPairs)
}

// Pipeline turns SYN events into attempts and associations.
type Pipeline struct {
	g     *attempt.Grouper // unless sharded
	front *front           // sharded (Config.Shards > 1)
	e     *associate.Engine
	db    *fingerprint.DB
	sinks []ResultSink
	err   error // the first sink error: Write, Flush and Close return it
	live  bool
	now   func() time.Time
	sc    scratch            // reused by enrich
	att   record.Attempt     // reused by onAttempt
	assoc record.Association // reused by onAssociation
	stats counters
}

// New returns a pipeline that hands its results to sinks, in this order.
// It neither opens nor closes them: their owner does, after Close.
func New(cfg Config, db *fingerprint.DB, bl associate.Blocklist, sinks ...ResultSink) (*Pipeline, error) {
	if len(sinks) == 0 {
		return nil, errors.New("pipeline: no sink for the results")
	}
	if cfg.HeldMemory > 0 {
		cfg.Attempt.MaxLive, cfg.Associate.MaxHeld, cfg.Associate.MaxHistory = Bounds(cfg.HeldMemory)
	}
	p := &Pipeline{db: db, sinks: sinks, live: cfg.Live, now: cfg.Now}
	if p.now == nil {
		p.now = time.Now
	}
	p.e = associate.New(cfg.Associate, bl, p.onAssociation)
	if cfg.Shards > 1 {
		p.front = newFront(cfg.Shards, cfg.Attempt, db, p.onAttempt)
		return p, nil
	}
	ac := cfg.Attempt
	ac.Enrich = func(ev *synevent.Event, fp *attempt.Fingerprint) { enrich(p.db, &p.sc, ev, fp) }
	p.g = attempt.New(ac, p.onAttempt)
	return p, nil
}

// scratch is what enrich reuses from one attempt to the next.
type scratch struct {
	info addr.Info
	sig  []byte
}

// enrich fingerprints an attempt's earliest SYN, when the attempt starts
// (the grouper keeps the result, not the SYN), and classifies an IPv6
// source.
func enrich(db *fingerprint.DB, sc *scratch, ev *synevent.Event, fp *attempt.Fingerprint) {
	if db != nil {
		r := db.Match(ev)
		fp.Label, fp.OSClass, fp.Dist = r.Label, r.Class, r.Dist
		sc.sig = r.AppendRawSig(sc.sig[:0])
		fp.RawSig = string(sc.sig) // one allocation: the string kept
	}
	if !ev.Src.Is4() {
		addr.ClassifyInto(ev.Src, &sc.info)
		fp.AddrKind = sc.info.Kind.String()
	}
}

// onAttempt emits a closed attempt, counts it, and hands it to the
// association engine. Every attempt decided is counted, also one a replay
// after a restart decides again (the sinks dedupe their rows, the counts
// are this process's).
func (p *Pipeline) onAttempt(a *attempt.Attempt) {
	r := &p.att
	*r = record.Attempt{FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Family: record.Family(a.Family), Src: a.Src,
		SrcPort: a.SrcPort, Dst: a.Dst, DstPort: a.DstPort, SYNs: a.SYNs, OS: a.Label, OSClass: a.OSClass, Dist: a.Dist,
		RawSig: a.RawSig, AddrType: a.AddrKind, Blocklisted: p.e.Blocklisted(a)}
	for _, s := range p.sinks {
		p.failed(s.WriteAttempt(r))
	}
	p.stats.attempts.Add(1)
	if a.Family == 4 {
		p.stats.ipv4.Add(1)
	} else {
		p.stats.ipv6.Add(1)
	}
	p.e.Add(a)
	p.degraded()
}

// onAssociation emits the decision for an IPv6 attempt.
func (p *Pipeline) onAssociation(as *associate.Association) {
	r, v6 := &p.assoc, as.V6
	r.FirstSeen, r.Src, r.SrcPort, r.SYNs, r.OSClass = v6.FirstSeen, v6.Src, v6.SrcPort, v6.SYNs, v6.OSClass
	r.AddrType, r.Score, r.Spammer = as.AddrKind, as.Score, as.Spammer
	r.Evidence = append(r.Evidence[:0], as.Evidence...)
	switch {
	case as.V4 != nil:
		r.IPv4 = record.IPv4Ref{Src: as.V4.Src, SrcPort: as.V4.SrcPort, FirstSeen: as.V4.FirstSeen, Blocklisted: as.V4Blocklisted}
	case as.V4Addr.IsValid():
		r.IPv4 = record.IPv4Ref{Src: as.V4Addr, Blocklisted: as.V4Blocklisted} // the address only
	default:
		r.IPv4 = record.IPv4Ref{}
	}
	for _, s := range p.sinks {
		p.failed(s.WriteAssociation(r))
	}
	if r.Associated() {
		p.stats.associated.Add(1)
	}
	if as.Spammer {
		p.stats.spammers.Add(1)
	}
}

// failed keeps the first sink error.
func (p *Pipeline) failed(err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
}

// Write implements the agent's sink: one SYN event.
func (p *Pipeline) Write(ev *synevent.Event) error {
	p.stats.syns.Add(1)
	if p.front != nil {
		p.front.add(ev)
	} else {
		p.g.Add(ev)
	}
	return p.err
}

// Advance closes attempts idle as of now and decides the IPv6 attempts no
// attempt still to come can pair with (live path).
func (p *Pipeline) Advance(now time.Time) {
	if p.front != nil {
		p.front.advance(now) // waits for the shards
		p.e.Advance(p.front.frontierTime())
		p.degraded()
		return
	}
	p.g.Advance(now)
	p.e.Advance(p.g.Frontier())
	p.degraded()
}

// Flush writes buffered results out (and, live, first advances to the wall
// clock: what is due is closed and decided even when no SYN comes).
func (p *Pipeline) Flush() error {
	if p.live {
		p.Advance(p.now())
	}
	// Late SYNs need not close an attempt: count them here too.
	p.degraded()
	for _, s := range p.sinks {
		p.failed(s.Flush())
	}
	return p.err
}

// Close emits everything still open and flushes the sinks (it does not
// close them).
func (p *Pipeline) Close() error {
	if p.front != nil {
		p.front.flush() // waits for the shards, and stops them
	} else {
		p.g.Flush()
	}
	p.e.Flush()
	return p.Flush()
}

// Live is the number of attempts held: open in the grouper or waiting in
// the association engine (what memory per live attempt is measured against).
func (p *Pipeline) Live() int {
	if p.front != nil {
		live, _ := p.front.counts()
		return live + p.e.Pending()
	}
	return p.g.Live() + p.e.Pending()
}

// Pressure counts the attempts handled early to stay within the held-state
// bounds (closed early, IPv4 dropped, IPv6 decided early): while it grows,
// the agent reports itself degraded. Safe from any goroutine.
func (p *Pipeline) Pressure() uint64 {
	c := &p.stats
	return c.forced.Load() + c.dropped.Load() + c.early.Load()
}

// Stats returns the counts so far. It is safe to call from any goroutine.
func (p *Pipeline) Stats() Stats {
	c := &p.stats
	return Stats{SYNs: c.syns.Load(), Attempts: c.attempts.Load(), IPv4: c.ipv4.Load(), IPv6: c.ipv6.Load(),
		Associated: c.associated.Load(), Spammers: c.spammers.Load(),
		ForcedAttempts: c.forced.Load(), LateSYNs: c.late.Load(), DroppedIPv4: c.dropped.Load(), EarlyIPv6: c.early.Load(),
		CappedDecisions: c.capped.Load()}
}

// Summary is the one-line summary printed at the end of a run.
func (s Stats) Summary() string {
	pct := func(a, b uint64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * float64(a) / float64(b)
	}
	sum := fmt.Sprintf("%d SYNs, %d connect() attempts (%d IPv4, %d IPv6); %d IPv6 attempts associated (%.1f%%), %d from spammers",
		s.SYNs, s.Attempts, s.IPv4, s.IPv6, s.Associated, pct(s.Associated, s.IPv6), s.Spammers)
	if s.ForcedAttempts+s.LateSYNs+s.DroppedIPv4+s.EarlyIPv6 > 0 {
		sum += fmt.Sprintf("; degraded: %d attempts closed early (held-attempt bound), %d SYNs later than the tolerated skew, %d IPv4 attempts dropped and %d IPv6 attempts decided before their horizon (association bound)",
			s.ForcedAttempts, s.LateSYNs, s.DroppedIPv4, s.EarlyIPv6)
	}
	if s.CappedDecisions > 0 {
		sum += fmt.Sprintf("; %d candidate searches cut short (too many alike attempts: a crafted flood)", s.CappedDecisions)
	}
	return sum
}
