// Package pipeline is the measurement pipeline shared by `mxsensor analyze`
// (captures) and `mxsensor run --out` (live): SYN events are grouped into
// connect() attempts, fingerprinted, classified and associated, and written
// to DIR/attempts.jsonl and DIR/associations.jsonl.
package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/linefile"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Config configures a Pipeline.
type Config struct {
	OutDir string
	// Live makes Flush close attempts idle as of the wall clock, and
	// decide the IPv6 attempts nothing still to come can pair with, for
	// the agent (which flushes at least every FlushInterval, traffic or
	// not); offline, attempts close as the capture's time moves on.
	Live bool
	// Now is the wall clock of the live path (time.Now if nil).
	Now       func() time.Time
	Attempt   attempt.Config
	Associate associate.Config
	// Recorder, if set, also receives every attempt and association (the
	// store). When it says a row was already recorded (a replay after a
	// restart), the row is not written to the files again.
	Recorder Recorder
	// Append opens the output files for appending instead of truncating
	// them (a restarted agent that replays its journal).
	Append bool
	// HeldMemory, if > 0, is the heap the grouper and the engine may hold
	// together: it sets Attempt.MaxLive, Associate.MaxHeld and
	// Associate.MaxHistory (see Bounds).
	HeldMemory int64
	// ReplayFrom, with Append, is the start of the journal to be replayed:
	// the files' lines of attempts that began after it are read back at
	// open, and a replayed attempt or association already in a file is not
	// written to it again (the Recorder decides for itself).
	ReplayFrom time.Time
	// Log gets the warnings of failing outputs (nil: none).
	Log *zap.Logger
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

// Recorder receives the pipeline's results in the order they are decided.
// The pipeline calls it from one goroutine.
type Recorder interface {
	// RecordAttempt records an attempt; isNew is false when it was already
	// recorded.
	RecordAttempt(a *attempt.Attempt, blocklisted bool, line []byte) (isNew bool, err error)
	// RecordAssociation records the decision for an IPv6 attempt.
	RecordAssociation(as *associate.Association, line []byte) (isNew bool, err error)
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
	g, e := p.g.Stats(), p.e.Stats()
	p.stats.forced.Store(g.ForcedEmits)
	p.stats.late.Store(g.Late)
	p.stats.dropped.Store(e.DroppedIPv4)
	p.stats.early.Store(e.EarlyIPv6)
	p.stats.capped.Store(e.CappedScans + e.CappedPairs)
}

// Pipeline turns SYN events into attempts and associations.
type Pipeline struct {
	g        *attempt.Grouper
	e        *associate.Engine
	db       *fingerprint.DB
	attempts *linefile.File
	assoc    *linefile.File
	hasFiles bool
	// Keys of the lines the files held at open, back to Config.ReplayFrom:
	// what a replay must not write again.
	attemptKeys, assocKeys map[lineKey]struct{}
	live                   bool
	now                    func() time.Time
	info                   addr.Info // reused by enrich
	buf                    []byte
	stats                  counters
	rec                    Recorder
	log                    *zap.Logger
	recErrs                atomic.Uint64 // recorder errors (the row is written to the files anyway)
	lastRecWarn            time.Time
}

// New creates the output directory and files (truncating earlier ones).
func New(cfg Config, db *fingerprint.DB, bl associate.Blocklist) (*Pipeline, error) {
	if cfg.HeldMemory > 0 {
		cfg.Attempt.MaxLive, cfg.Associate.MaxHeld, cfg.Associate.MaxHistory = Bounds(cfg.HeldMemory)
	}
	p := &Pipeline{db: db, live: cfg.Live, now: cfg.Now, rec: cfg.Recorder, log: cfg.Log}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if cfg.OutDir == "" {
		// No files: the results go to the Recorder only.
		if cfg.Recorder == nil {
			return nil, errors.New("pipeline: neither an output directory nor a recorder")
		}
		p.attempts = linefile.New(nopFile{}, 0, linefile.Config{Name: "attempts"})
		p.assoc = linefile.New(nopFile{}, 0, linefile.Config{Name: "associations"})
		p.e = associate.New(cfg.Associate, bl, p.writeAssociation)
		ac := cfg.Attempt
		ac.Enrich = p.enrich
		p.g = attempt.New(ac, p.onAttempt)
		return p, nil
	}
	if err := os.MkdirAll(cfg.OutDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	// Appended to by the agent: a torn last line (a crash, a full disk) is
	// cut off at open, and a full disk drops lines (counted), never stops it.
	var files [2]*linefile.File
	for i, name := range []string{"attempts", "associations"} {
		path := filepath.Join(cfg.OutDir, name+".jsonl")
		f, err := linefile.Open(path, linefile.Config{Name: name, Truncate: !cfg.Append, BufSize: 256 << 10, Log: cfg.Log})
		if err != nil {
			if i > 0 {
				files[0].Close()
			}
			return nil, fmt.Errorf("creating %s: %w", name+".jsonl", err)
		}
		files[i] = f
		if cfg.Append && !cfg.ReplayFrom.IsZero() {
			keys, skipped, err := tailKeys(path, cfg.ReplayFrom)
			if err != nil {
				files[0].Close()
				if i > 0 {
					files[1].Close()
				}
				return nil, err
			}
			if skipped > 0 {
				p.log.Warn("lines that are not results skipped while reading back for the replay",
					zap.String("file", path), zap.Int("skipped", skipped))
			}
			if i == 0 {
				p.attemptKeys = keys
			} else {
				p.assocKeys = keys
			}
		}
	}
	p.attempts, p.assoc, p.hasFiles = files[0], files[1], true
	p.e = associate.New(cfg.Associate, bl, p.writeAssociation)
	ac := cfg.Attempt
	ac.Enrich = p.enrich
	p.g = attempt.New(ac, p.onAttempt)
	return p, nil
}

func (p *Pipeline) enrich(a *attempt.Attempt) {
	if p.db != nil {
		r := p.db.Match(&a.First)
		a.Label, a.OSClass, a.Dist = r.Label, r.Class, r.Dist
		a.RawSig = r.RawSig()
	}
	if a.Family == 6 {
		addr.ClassifyInto(a.Src, &p.info)
		a.AddrKind = p.info.Kind.String()
	}
}

func (p *Pipeline) onAttempt(a *attempt.Attempt) {
	bl := p.e.Blocklisted(a)
	p.buf = appendAttempt(p.buf[:0], a, bl)
	isNew := true
	if p.rec != nil {
		n, err := p.rec.RecordAttempt(a, bl, p.buf)
		isNew = p.recorded(n, err)
	}
	if isNew {
		p.stats.attempts.Add(1)
		if a.Family == 4 {
			p.stats.ipv4.Add(1)
		} else {
			p.stats.ipv6.Add(1)
		}
	}
	// The file decides for itself: a crash may have left a row in the
	// store and not in the file, or the reverse.
	p.write(p.attempts, p.attemptKeys, lineKey{a.Src, a.SrcPort, a.FirstSeen.UnixNano()}, p.buf)
	p.e.Add(a)
	p.degraded()
}

func (p *Pipeline) writeAssociation(as *associate.Association) {
	p.buf = appendAssociation(p.buf[:0], as)
	isNew := true
	if p.rec != nil {
		isNew = p.recorded(p.rec.RecordAssociation(as, p.buf))
	}
	if isNew {
		if as.V4Addr.IsValid() {
			p.stats.associated.Add(1)
		}
		if as.Spammer {
			p.stats.spammers.Add(1)
		}
	}
	p.write(p.assoc, p.assocKeys, lineKey{as.V6.Src, as.V6.SrcPort, as.V6.FirstSeen.UnixNano()}, p.buf)
}

// recorded says whether the row is new to the recorder. A recorder error
// is counted and logged (at most every 10 s), never fatal: the row still
// goes to the files, and the store counts what it drops itself.
func (p *Pipeline) recorded(isNew bool, err error) bool {
	if err != nil {
		p.recErrs.Add(1)
		if now := time.Now(); now.Sub(p.lastRecWarn) >= 10*time.Second {
			p.lastRecWarn = now
			p.log.Warn("recording results failed", zap.Uint64("errors", p.recErrs.Load()), zap.Error(err))
		}
		return true
	}
	return isNew
}

// write appends a line to a results file unless the file held it at open
// (keys: a replay after a restart).
func (p *Pipeline) write(f *linefile.File, keys map[lineKey]struct{}, k lineKey, b []byte) {
	if _, ok := keys[k]; ok {
		return
	}
	f.Write(b)
}

// lineKey identifies an attempt (or the IPv6 attempt of an association)
// in the results files.
type lineKey struct {
	src   netip.Addr
	sport uint16
	first int64 // first_seen, ns
}

// maxTailKeys bounds the keys read back at open.
const maxTailKeys = 1 << 20

// tailKeys reads path from its end back to the lines of attempts that
// began before from (closing order is nearly first_seen order) and returns
// their keys, and how many lines it skipped (not lines of ours, or over
// linefile.MaxTailLine).
func tailKeys(path string, from time.Time) (map[lineKey]struct{}, int, error) {
	keys := map[lineKey]struct{}{}
	cut := from.UnixNano()
	var l struct {
		FirstSeen time.Time  `json:"first_seen"`
		Src       netip.Addr `json:"src"`
		Sport     uint16     `json:"sport"`
	}
	bad := 0
	long, err := linefile.Tail(path, func(line []byte) bool {
		l.FirstSeen, l.Src, l.Sport = time.Time{}, netip.Addr{}, 0
		if json.Unmarshal(line, &l) != nil || !l.Src.IsValid() {
			bad++
			return true
		}
		t := l.FirstSeen.UnixNano()
		if t < cut {
			return false
		}
		keys[lineKey{l.Src, l.Sport, t}] = struct{}{}
		return len(keys) < maxTailKeys
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading back %s: %w", path, err)
	}
	return keys, bad + long, nil
}

type nopFile struct{}

func (nopFile) Write(b []byte) (int, error) { return len(b), nil }
func (nopFile) Close() error                { return nil }

// outputErr is the error of a results file that failed, offline only: the
// agent drops and counts (see Outputs), analyze stops.
func (p *Pipeline) outputErr() error {
	if p.live {
		return nil
	}
	if err := errors.Join(p.attempts.Err(), p.assoc.Err()); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// Outputs reports the results files' drops (for the metrics).
func (p *Pipeline) Outputs(fn func(name string, dropped uint64, failing bool)) {
	if p.hasFiles {
		fn("attempts", p.attempts.Dropped(), p.attempts.Failing())
		fn("associations", p.assoc.Dropped(), p.assoc.Failing())
	}
}

// Write implements the agent's sink: one SYN event.
func (p *Pipeline) Write(ev *synevent.Event) error {
	p.stats.syns.Add(1)
	p.g.Add(ev)
	return p.outputErr()
}

// Advance closes attempts idle as of now and decides the IPv6 attempts no
// attempt still to come can pair with (live path).
func (p *Pipeline) Advance(now time.Time) {
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
	// A file that cannot be written drops and counts its lines.
	p.attempts.Flush()
	p.assoc.Flush()
	return p.outputErr()
}

// Close emits everything still open and closes the files.
func (p *Pipeline) Close() error {
	p.g.Flush()
	p.e.Flush()
	err := p.Flush()
	return errors.Join(err, p.closeFiles())
}

func (p *Pipeline) closeFiles() error {
	return errors.Join(p.attempts.Close(), p.assoc.Close())
}

// Live is the number of attempts held: open in the grouper or waiting in
// the association engine (what memory per live attempt is measured against).
func (p *Pipeline) Live() int { return p.g.Live() + p.e.Pending() }

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

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string: printable ASCII as it is (the
// common case, and the fast one), control characters, quotes and
// backslashes escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendAttempt(b []byte, a *attempt.Attempt, blocklisted bool) []byte {
	b = append(b, `{"first_seen":`...)
	b = appendTime(b, a.FirstSeen)
	b = append(b, `,"last_seen":`...)
	b = appendTime(b, a.LastSeen)
	b = append(b, `,"family":"ipv`...)
	b = strconv.AppendInt(b, int64(a.Family), 10)
	b = append(b, `","src":"`...)
	b = a.Src.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(a.SrcPort), 10)
	b = append(b, `,"dst":"`...)
	b = a.Dst.AppendTo(b)
	b = append(b, `","dport":`...)
	b = strconv.AppendUint(b, uint64(a.DstPort), 10)
	b = append(b, `,"syns":`...)
	b = strconv.AppendInt(b, int64(a.SYNs), 10)
	b = append(b, `,"os":`...)
	b = appendString(b, a.Label)
	b = append(b, `,"os_class":`...)
	b = appendString(b, a.OSClass)
	b = append(b, `,"dist":`...)
	b = strconv.AppendInt(b, int64(a.Dist), 10)
	b = append(b, `,"raw_sig":`...)
	b = appendString(b, a.RawSig)
	if a.Family == 6 {
		b = append(b, `,"addr_type":`...)
		b = appendString(b, a.AddrKind)
	} else {
		b = append(b, `,"blocklisted":`...)
		b = strconv.AppendBool(b, blocklisted)
	}
	return append(b, "}\n"...)
}

func appendAssociation(b []byte, as *associate.Association) []byte {
	a := as.V6
	b = append(b, `{"first_seen":`...)
	b = appendTime(b, a.FirstSeen)
	b = append(b, `,"src":"`...)
	b = a.Src.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(a.SrcPort), 10)
	b = append(b, `,"syns":`...)
	b = strconv.AppendInt(b, int64(a.SYNs), 10)
	b = append(b, `,"os_class":`...)
	b = appendString(b, a.OSClass)
	b = append(b, `,"addr_type":`...)
	b = appendString(b, as.AddrKind)
	b = append(b, `,"ipv4":`...)
	switch {
	case as.V4 != nil:
		b = append(b, `{"src":"`...)
		b = as.V4.Src.AppendTo(b)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(as.V4.SrcPort), 10)
		b = append(b, `,"first_seen":`...)
		b = appendTime(b, as.V4.FirstSeen)
		b = append(b, `,"blocklisted":`...)
		b = strconv.AppendBool(b, as.V4Blocklisted)
		b = append(b, '}')
	case as.V4Addr.IsValid():
		b = append(b, `{"src":"`...)
		b = as.V4Addr.AppendTo(b)
		b = append(b, `","sport":null,"first_seen":null,"blocklisted":`...)
		b = strconv.AppendBool(b, as.V4Blocklisted)
		b = append(b, '}')
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"score":`...)
	b = strconv.AppendFloat(b, as.Score, 'f', 4, 64)
	b = append(b, `,"evidence":[`...)
	for i, ev := range as.Evidence {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ev)
	}
	b = append(b, `],"spammer":`...)
	b = strconv.AppendBool(b, as.Spammer)
	return append(b, "}\n"...)
}
