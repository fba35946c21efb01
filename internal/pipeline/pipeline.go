// Package pipeline is the measurement pipeline shared by `mxsensor analyze`
// (captures) and `mxsensor run --out` (live): SYN events are grouped into
// connect() attempts, fingerprinted, classified and associated, and written
// to DIR/attempts.jsonl and DIR/associations.jsonl.
package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Config configures a Pipeline.
type Config struct {
	OutDir string
	// Live makes Flush close attempts idle as of the wall clock, for the
	// agent; offline, attempts close as the capture's time moves on.
	Live      bool
	Attempt   attempt.Config
	Associate associate.Config
}

// Stats summarise a run.
type Stats struct {
	SYNs, Attempts, IPv4, IPv6, Associated, Spammers uint64
}

// Pipeline turns SYN events into attempts and associations.
type Pipeline struct {
	g        *attempt.Grouper
	e        *associate.Engine
	db       *fingerprint.DB
	attempts *bufio.Writer
	assoc    *bufio.Writer
	files    []*os.File
	live     bool
	info     addr.Info // reused by enrich
	buf      []byte
	err      error
	stats    Stats
}

// New creates the output directory and files (truncating earlier ones).
func New(cfg Config, db *fingerprint.DB, bl associate.Blocklist) (*Pipeline, error) {
	if err := os.MkdirAll(cfg.OutDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	p := &Pipeline{db: db, live: cfg.Live}
	for _, name := range []string{"attempts.jsonl", "associations.jsonl"} {
		f, err := os.Create(filepath.Join(cfg.OutDir, name))
		if err != nil {
			p.closeFiles()
			return nil, fmt.Errorf("creating %s: %w", name, err)
		}
		p.files = append(p.files, f)
	}
	p.attempts = bufio.NewWriterSize(p.files[0], 256<<10)
	p.assoc = bufio.NewWriterSize(p.files[1], 256<<10)
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
	p.stats.Attempts++
	if a.Family == 4 {
		p.stats.IPv4++
	} else {
		p.stats.IPv6++
	}
	p.buf = appendAttempt(p.buf[:0], a, p.e.Blocklisted(a))
	p.write(p.attempts, p.buf)
	p.e.Add(a)
}

func (p *Pipeline) writeAssociation(as *associate.Association) {
	if as.V4Addr.IsValid() {
		p.stats.Associated++
	}
	if as.Spammer {
		p.stats.Spammers++
	}
	p.buf = appendAssociation(p.buf[:0], as)
	p.write(p.assoc, p.buf)
}

func (p *Pipeline) write(w *bufio.Writer, b []byte) {
	if p.err == nil {
		if _, err := w.Write(b); err != nil {
			p.err = fmt.Errorf("writing results: %w", err)
		}
	}
}

// Write implements the agent's sink: one SYN event.
func (p *Pipeline) Write(ev *synevent.Event) error {
	p.stats.SYNs++
	p.g.Add(ev)
	return p.err
}

// Advance closes attempts idle as of now (live path).
func (p *Pipeline) Advance(now time.Time) { p.g.Advance(now) }

// Flush writes buffered results out (and, live, first closes attempts
// idle as of now).
func (p *Pipeline) Flush() error {
	if p.live {
		p.g.Advance(time.Now())
	}
	if p.err != nil {
		return p.err
	}
	if err := p.attempts.Flush(); err != nil {
		return err
	}
	return p.assoc.Flush()
}

// Close emits everything still open and closes the files.
func (p *Pipeline) Close() error {
	p.g.Flush()
	p.e.Flush()
	err := p.Flush()
	return errors.Join(err, p.closeFiles())
}

func (p *Pipeline) closeFiles() error {
	var errs []error
	for _, f := range p.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats { return p.stats }

// Summary is the one-line summary printed at the end of a run.
func (s Stats) Summary() string {
	pct := func(a, b uint64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * float64(a) / float64(b)
	}
	return fmt.Sprintf("%d SYNs, %d connect() attempts (%d IPv4, %d IPv6); %d IPv6 attempts associated (%.1f%%), %d from spammers",
		s.SYNs, s.Attempts, s.IPv4, s.IPv6, s.Associated, pct(s.Associated, s.IPv6), s.Spammers)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendString(b []byte, s string) []byte { return strconv.AppendQuote(b, s) }

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
