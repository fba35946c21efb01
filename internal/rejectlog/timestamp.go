package rejectlog

import (
	"time"
)

// tsKind says which timestamp format a line starts with.
type tsKind uint8

const (
	tsNone   tsKind = iota
	tsSyslog        // "Nov 26 10:00:00": no year, no zone
	tsISO           // "2026-11-26T10:00:00.123+00:00": rsyslog, journald short-iso
	tsExim          // "2026-11-26 10:00:00": Exim's main log, local time
)

const (
	// futureSlack is how far past the reference time a classic timestamp
	// may lie and still be taken as this year: clocks drift, and a log read
	// on another machine may be a little ahead. Anything later is last
	// year's.
	futureSlack = 7 * 24 * time.Hour
	// backSlack is how far a classic timestamp may go back behind the
	// latest time seen and still be read as an out-of-order line of the
	// same year rather than as the first line of the next year.
	backSlack = 7 * 24 * time.Hour
	// stepSlack is how far a classic timestamp may lie after the latest
	// time seen and still follow it past the log's end (Options.End): a
	// log read after the fact that goes on after the capture.
	stepSlack = 7 * 24 * time.Hour
)

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseTimestamp reads the timestamp at the start of line. It returns the
// time, the text after the timestamp and the single space that ends it (""
// when the line holds only the timestamp) and the format. A line that does
// not start with a valid timestamp yields tsNone. The inferred year of a
// classic timestamp depends on, and updates, the parser's latest time.
func (p *Parser) parseTimestamp(line string) (time.Time, string, tsKind) {
	if len(line) > 0 && line[0] >= 'A' && line[0] <= 'Z' {
		return p.parseClassic(line)
	}
	return p.parseNumeric(line)
}

// parseClassic reads "Mmm dd hh:mm:ss[.frac]" with the day padded by a
// space or a zero, or unpadded.
func (p *Parser) parseClassic(line string) (time.Time, string, tsKind) {
	if len(line) < 14 || line[3] != ' ' {
		return time.Time{}, "", tsNone
	}
	month := 0
	for i, m := range monthNames {
		if line[:3] == m {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, "", tsNone
	}
	i := 4
	if line[i] == ' ' {
		i++
	}
	day, n := leadingDigits(line[i:], 2)
	if n == 0 || day < 1 || day > 31 {
		return time.Time{}, "", tsNone
	}
	i += n
	if i >= len(line) || line[i] != ' ' {
		return time.Time{}, "", tsNone
	}
	i++
	hh, mm, ss, nsec, n, ok := parseClock(line[i:])
	if !ok {
		return time.Time{}, "", tsNone
	}
	i += n
	rest, ok := afterTimestamp(line[i:])
	if !ok {
		return time.Time{}, "", tsNone
	}
	t, ok := p.inferYear(time.Month(month), day, hh, mm, ss, nsec)
	if !ok {
		return time.Time{}, "", tsNone
	}
	p.observe(t)
	return t, rest, tsSyslog
}

// parseNumeric reads "YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm|±hhmm)" and Exim's
// "YYYY-MM-DD hh:mm:ss[.frac][ ±hhmm]". Years before 1970 are taken for
// garbage.
func (p *Parser) parseNumeric(line string) (time.Time, string, tsKind) {
	if len(line) < 19 || line[4] != '-' || line[7] != '-' {
		return time.Time{}, "", tsNone
	}
	year, n1 := leadingDigits(line, 4)
	month, n2 := leadingDigits(line[5:], 2)
	day, n3 := leadingDigits(line[8:], 2)
	if n1 != 4 || n2 != 2 || n3 != 2 || year < 1970 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, "", tsNone
	}
	sep := line[10]
	if sep != 'T' && sep != ' ' {
		return time.Time{}, "", tsNone
	}
	hh, mm, ss, nsec, n, ok := parseClock(line[11:])
	if !ok || n < 8 {
		return time.Time{}, "", tsNone
	}
	i := 11 + n
	loc := p.loc
	kind := tsExim
	if sep == 'T' {
		kind = tsISO
		if i < len(line) && line[i] != ' ' {
			off, n, ok := parseOffset(line[i:], true)
			if !ok {
				return time.Time{}, "", tsNone
			}
			i += n
			loc = p.zone(off)
		}
	} else if len(line) >= i+6 && line[i] == ' ' && (line[i+1] == '+' || line[i+1] == '-') {
		// Exim with log_timezone: "2026-11-26 10:00:00 +0100".
		// Anything else after the space is the message.
		if off, n, ok := parseOffset(line[i+1:], false); ok && n == 5 && (len(line) == i+6 || line[i+6] == ' ') {
			i += 1 + n
			loc = p.zone(off)
		}
	}
	rest, ok := afterTimestamp(line[i:])
	if !ok {
		return time.Time{}, "", tsNone
	}
	t := time.Date(year, time.Month(month), day, hh, mm, ss, nsec, loc)
	p.observe(t)
	return t, rest, kind
}

// afterTimestamp checks what follows a timestamp: the end of the line or a
// space.
func afterTimestamp(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	if s[0] != ' ' {
		return "", false
	}
	return s[1:], true
}

// parseClock reads "hh:mm:ss" and an optional fraction of one to nine
// digits. It returns the fields, the nanoseconds and the bytes consumed.
func parseClock(s string) (hh, mm, ss, nsec, n int, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return
	}
	var n1, n2, n3 int
	hh, n1 = leadingDigits(s, 2)
	mm, n2 = leadingDigits(s[3:], 2)
	ss, n3 = leadingDigits(s[6:], 2)
	if n1 != 2 || n2 != 2 || n3 != 2 || hh > 23 || mm > 59 || ss > 59 {
		return
	}
	n = 8
	if n < len(s) && s[n] == '.' {
		digits := 0
		scale := 100000000
		for j := n + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			if digits == 9 {
				return hh, mm, ss, 0, 0, false
			}
			nsec += int(s[j]-'0') * scale
			scale /= 10
			digits++
		}
		if digits == 0 {
			return hh, mm, ss, 0, 0, false
		}
		n += 1 + digits
	}
	return hh, mm, ss, nsec, n, true
}

// parseOffset reads a zone offset: "Z" (only when allowZ), "±hh:mm" or
// "±hhmm". It returns the offset in seconds and the bytes consumed.
func parseOffset(s string, allowZ bool) (int, int, bool) {
	if allowZ && s != "" && s[0] == 'Z' {
		return 0, 1, true
	}
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return 0, 0, false
	}
	hh, n1 := leadingDigits(s[1:], 2)
	if n1 != 2 || hh > 23 {
		return 0, 0, false
	}
	j := 3
	if s[j] == ':' {
		j++
	}
	mm, n2 := leadingDigits(s[j:], 2)
	if n2 != 2 || mm > 59 {
		return 0, 0, false
	}
	off := hh*3600 + mm*60
	if s[0] == '-' {
		off = -off
	}
	return off, j + 2, true
}

// leadingDigits reads up to max decimal digits at the start of s.
func leadingDigits(s string, max int) (value, n int) {
	for n < max && n < len(s) && s[n] >= '0' && s[n] <= '9' {
		value = value*10 + int(s[n]-'0')
		n++
	}
	return value, n
}

// daysIn is the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// zone returns a location for a fixed offset, reusing the previous one.
func (p *Parser) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if p.zoneLoc == nil || p.zoneOff != off {
		p.zoneOff, p.zoneLoc = off, time.FixedZone("", off)
	}
	return p.zoneLoc
}

// observe records t as seen; the latest time seen steers year inference.
func (p *Parser) observe(t time.Time) {
	if t.After(p.last) {
		p.last = t
	}
}

// inferYear gives a classic (yearless) timestamp its year. Logs are read in
// order, so the year is the one that puts the time at or after the latest
// time seen, give or take backSlack for lines that arrive slightly out of
// order: Dec 31 23:59 followed by Jan 1 00:00 moves to the next year. The
// first timestamp takes the latest year that does not land it more than
// futureSlack after the log's end (Options.End). A later one may land past
// that only by following the latest time seen within stepSlack, and never
// more than futureSlack after now: a log that goes on after the capture
// keeps its year, but a line out of order by more than backSlack, or one
// stray line months ahead, falls back to the year the end gives and does
// not drag the lines after it into the next year.
func (p *Parser) inferYear(month time.Month, day, hh, mm, ss, nsec int) (time.Time, bool) {
	at := func(y int) (time.Time, bool) {
		if day > daysIn(month, y) {
			return time.Time{}, false // Feb 29 outside a leap year
		}
		return time.Date(y, month, day, hh, mm, ss, nsec, p.loc), true
	}
	end := p.end()
	limit := end.Add(futureSlack)
	if !p.last.IsZero() {
		clock := limit
		if now := p.now(); now.After(end) {
			clock = now.Add(futureSlack)
		}
		step := p.last.Add(stepSlack)
		floor := p.last.Add(-backSlack)
		ly := p.last.In(p.loc).Year()
		for y := ly - 1; y <= ly+4; y++ {
			t, ok := at(y)
			if !ok || t.Before(floor) {
				continue
			}
			if !t.After(limit) || (!t.After(step) && !t.After(clock)) {
				return t, true
			}
			break
		}
	}
	// No history, or the history points into the future: take the latest
	// year that keeps the time within futureSlack of the end. Eight years
	// always include a leap year.
	top := limit.In(p.loc).Year()
	for y := top; y > top-9; y-- {
		if t, ok := at(y); ok && !t.After(limit) {
			return t, true
		}
	}
	return time.Time{}, false
}
