package rejectlog

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxLineLength is the longest line the parser examines, in bytes. Longer
// lines are counted as garbage; readers hand the parser only the first
// MaxLineLength+1 bytes of such a line.
const MaxLineLength = 64 << 10

// ErrGarbage is the error every garbage line yields; the specific errors
// below wrap it.
var ErrGarbage = errors.New("garbage log line")

// Reasons a line is garbage. Each satisfies errors.Is(err, ErrGarbage).
var (
	ErrLineTooLong  = fmt.Errorf("%w: longer than %d bytes", ErrGarbage, MaxLineLength)
	ErrInvalidUTF8  = fmt.Errorf("%w: invalid UTF-8", ErrGarbage)
	ErrControlChar  = fmt.Errorf("%w: control character", ErrGarbage)
	ErrBadTimestamp = fmt.Errorf("%w: no valid timestamp", ErrGarbage)
	ErrNULRun       = fmt.Errorf("%w: run of NUL bytes", ErrGarbage)
)

// Options configure a [Parser].
type Options struct {
	// Location is the zone of timestamps that carry none: classic syslog
	// and Exim's main log. Nil means time.Local.
	Location *time.Location
	// Now returns the current time: no classic timestamp is taken to lie
	// more than a week after it. Nil means time.Now.
	Now func() time.Time
	// End returns when a log read after the fact ends (analyze: the end of
	// the capture). The first classic timestamp takes the latest year that
	// does not put it more than a week after End; the lines after it
	// follow in log order, bounded by Now only. Nil means Now: a live
	// log, or one read on the day.
	End func() time.Time
	// Patterns are the operator's patterns, tried on the lines the
	// built-in parsers do not match (see CompilePatterns).
	Patterns []*Pattern
}

// Counters count what a [Parser] has seen. Lines equals Matched +
// NotMatching + Garbage, Pattern is part of Matched, and Garbage is the sum
// of the five garbage kinds. DamagedFiles counts files, not lines: the
// readers feeding the parser report them with [Parser.CountDamaged].
type Counters struct {
	Lines       uint64 `json:"lines"`        // lines handed to Parse
	Matched     uint64 `json:"matched"`      // DNSBL rejections returned
	Pattern     uint64 `json:"pattern"`      // of Matched, those the operator's patterns found
	NotMatching uint64 `json:"not_matching"` // well-formed lines that are not DNSBL rejections
	Garbage     uint64 `json:"garbage"`      // lines skipped as garbage, all kinds

	TooLong      uint64 `json:"too_long"`      // longer than MaxLineLength
	InvalidUTF8  uint64 `json:"invalid_utf8"`  // not valid UTF-8
	ControlChars uint64 `json:"control_chars"` // a control character other than tab
	BadTimestamp uint64 `json:"bad_timestamp"` // no recognisable timestamp at the start
	NULRuns      uint64 `json:"nul_runs"`      // runs of NUL bytes (what a crash leaves of preallocated blocks)

	DamagedFiles uint64 `json:"damaged_files"` // compressed files cut short or corrupt, read up to the damage
}

// Add adds o's counts to c.
func (c *Counters) Add(o Counters) {
	c.Lines += o.Lines
	c.Matched += o.Matched
	c.Pattern += o.Pattern
	c.NotMatching += o.NotMatching
	c.Garbage += o.Garbage
	c.TooLong += o.TooLong
	c.InvalidUTF8 += o.InvalidUTF8
	c.ControlChars += o.ControlChars
	c.BadTimestamp += o.BadTimestamp
	c.NULRuns += o.NULRuns
	c.DamagedFiles += o.DamagedFiles
}

// Sub returns c minus o (the counts since o was taken).
func (c Counters) Sub(o Counters) Counters {
	return Counters{Lines: c.Lines - o.Lines, Matched: c.Matched - o.Matched, Pattern: c.Pattern - o.Pattern, NotMatching: c.NotMatching - o.NotMatching,
		Garbage: c.Garbage - o.Garbage, TooLong: c.TooLong - o.TooLong, InvalidUTF8: c.InvalidUTF8 - o.InvalidUTF8,
		ControlChars: c.ControlChars - o.ControlChars, BadTimestamp: c.BadTimestamp - o.BadTimestamp, NULRuns: c.NULRuns - o.NULRuns,
		DamagedFiles: c.DamagedFiles - o.DamagedFiles}
}

// Parser extracts DNSBL rejections from log lines. It keeps the latest
// time it has seen, for inferring the year of classic syslog timestamps,
// and counters; it is not safe for concurrent use. The zero value is not
// usable: call [NewParser].
type Parser struct {
	loc  *time.Location
	now  func() time.Time
	end  func() time.Time // Options.End, or now
	last time.Time        // latest timestamp seen

	zoneOff int // cache for fixed-offset zones
	zoneLoc *time.Location

	patterns []*Pattern

	c Counters
}

// NewParser returns a parser configured by opts.
func NewParser(opts Options) *Parser {
	p := &Parser{loc: opts.Location, now: opts.Now, end: opts.End, patterns: opts.Patterns}
	if p.loc == nil {
		p.loc = time.Local
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.end == nil {
		p.end = p.now
	}
	return p
}

// Counters returns the counts so far.
func (p *Parser) Counters() Counters { return p.c }

// CountDamaged counts a compressed file whose data was cut short or
// corrupt (a [DamageError] from [OpenLog] or a [Batch] of [Follow]).
func (p *Parser) CountDamaged() { p.c.DamagedFiles++ }

// Latest returns the latest timestamp the parser has seen, zero before the
// first.
func (p *Parser) Latest() time.Time { return p.last }

// Parse examines one log line; a trailing "\n" or "\r\n" is ignored. It
// returns the rejection and true when the line is a DNSBL rejection; false
// and a nil error when it is a well-formed line of another kind; false and
// an error wrapping [ErrGarbage] when the line is a run of NUL bytes (as
// the readers deliver one), over-long, not UTF-8, holds a control
// character other than tab, or does not start with a valid timestamp (and
// no operator's pattern with a ts group matches it).
//
// The operator's patterns ([Options.Patterns]) are tried, in order, on the
// lines no built-in parser matches.
//
// Lines are expected in log order. The year of a classic timestamp is the
// one that places it at or after the latest time seen so far (up to a week
// earlier is taken as a line out of order), so a log crossing New Year
// moves on to the next year. The first classic timestamp gets the latest
// year that does not put it more than a week after Options.End (Now if
// unset), and so does one that would lie more than a week after Now.
func (p *Parser) Parse(line string) (Rejection, bool, error) {
	p.c.Lines++
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if err := checkText(line); err != nil {
		p.garbage(err)
		return Rejection{}, false, err
	}
	t, rest, kind := p.parseTimestamp(line)
	if kind == tsNone {
		// A pattern with a ts group reads its own timestamp.
		if r, ok := p.matchPatterns(line, time.Time{}); ok {
			return p.matchedPattern(r, line), true, nil
		}
		p.garbage(ErrBadTimestamp)
		return Rejection{}, false, ErrBadTimestamp
	}
	var (
		r  Rejection
		ok bool
	)
	if kind == tsExim {
		// Exim's main log or rspamd's log file; a syslog daemon
		// configured to write this timestamp format is tried next.
		if r, ok = matchEximLine(rest); !ok {
			r, ok = matchRspamd(rest)
		}
	}
	if !ok {
		r, ok = matchSyslog(rest)
	}
	if !ok {
		if r, ok = p.matchPatterns(line, t); ok {
			return p.matchedPattern(r, line), true, nil
		}
		p.c.NotMatching++
		return Rejection{}, false, nil
	}
	p.c.Matched++
	r.Time = t
	r.Raw = line
	return r, true, nil
}

// matchedPattern counts a rejection an operator's pattern found.
func (p *Parser) matchedPattern(r Rejection, line string) Rejection {
	p.c.Matched++
	p.c.Pattern++
	r.Raw = line
	return r
}

// matchEximLine matches Exim's own wording, then an ACL's message.
func matchEximLine(msg string) (Rejection, bool) {
	if r, ok := matchExim(msg); ok {
		return r, true
	}
	return matchEximCustom(msg)
}

// matchSendmailLine matches FEATURE(dnsbl)'s own wording, then a message
// set per list.
func matchSendmailLine(msg string) (Rejection, bool) {
	if r, ok := matchSendmail(msg); ok {
		return r, true
	}
	return matchSendmailList(msg)
}

func (p *Parser) garbage(err error) {
	p.c.Garbage++
	switch err {
	case ErrLineTooLong:
		p.c.TooLong++
	case ErrInvalidUTF8:
		p.c.InvalidUTF8++
	case ErrControlChar:
		p.c.ControlChars++
	case ErrNULRun:
		p.c.NULRuns++
	default:
		p.c.BadTimestamp++
	}
}

// checkText rejects lines that are NUL runs, too long, not UTF-8, or hold
// control characters (C0 other than tab, DEL, and C1).
func checkText(line string) error {
	if line != "" && line[0] == 0 && strings.Trim(line, "\x00") == "" {
		return ErrNULRun
	}
	if len(line) > MaxLineLength {
		return ErrLineTooLong
	}
	if !utf8.ValidString(line) {
		return ErrInvalidUTF8
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c < 0x20 && c != '\t', c == 0x7f:
			return ErrControlChar
		case c == 0xc2 && i+1 < len(line) && line[i+1] >= 0x80 && line[i+1] <= 0x9f:
			return ErrControlChar // U+0080..U+009F
		}
	}
	return nil
}

// matchSyslog splits "host tag[pid]: message" and hands the message to the
// matcher for the program in the tag. Lines without the host ("tag[pid]:
// message", as some syslog daemons write local messages) are accepted too:
// a host name never ends in a colon.
func matchSyslog(rest string) (Rejection, bool) {
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return Rejection{}, false
	}
	if rest[sp-1] != ':' {
		rest = rest[sp+1:]
	}
	colon := strings.Index(rest, ": ")
	if colon <= 0 {
		return Rejection{}, false
	}
	tag, msg := rest[:colon], rest[colon+2:]
	if strings.IndexByte(tag, ' ') >= 0 {
		return Rejection{}, false
	}
	name := tag
	if strings.HasSuffix(tag, "]") {
		open := strings.IndexByte(tag, '[')
		if open <= 0 || !allDigits(tag[open+1:len(tag)-1]) {
			return Rejection{}, false
		}
		name = tag[:open]
	}
	program := name
	if slash := strings.LastIndexByte(name, '/'); slash >= 0 {
		program = name[slash+1:]
		if slash == 0 {
			return Rejection{}, false
		}
		// Postfix programs log as <syslog_name>/<program>: postfix/smtpd,
		// postfix/submission/smtpd, postfix-out/smtpd.
		switch program {
		case "smtpd":
			return matchPostfixReject(msg, false)
		case "postscreen":
			if r, ok := matchPostscreenRank(msg); ok {
				return r, true
			}
			return matchPostfixReject(msg, true)
		}
		return Rejection{}, false
	}
	switch {
	case program == "sendmail" || program == "sm-mta":
		return matchSendmailLine(msg)
	case strings.HasPrefix(program, "exim"):
		// Exim's syslog lines repeat its own timestamp unless
		// syslog_timestamp is false.
		return matchEximLine(skipEximTimestamp(msg))
	case program == "rspamd":
		return matchRspamd(msg)
	}
	return Rejection{}, false
}

// skipEximTimestamp removes a leading "YYYY-MM-DD hh:mm:ss[.frac][ ±hhmm] "
// if there is one.
func skipEximTimestamp(msg string) string {
	if len(msg) < 20 || msg[4] != '-' || msg[10] != ' ' {
		return msg
	}
	scratch := Parser{loc: time.UTC}
	if _, after, kind := scratch.parseNumeric(msg); kind == tsExim {
		return after
	}
	return msg
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
