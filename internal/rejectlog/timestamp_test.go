package rejectlog

import (
	"testing"
	"time"
)

func parserAt(now time.Time, loc *time.Location) *Parser {
	return NewParser(Options{Location: loc, Now: func() time.Time { return now }})
}

// stamp parses one timestamp and fails the test when it is not valid.
func stamp(t *testing.T, p *Parser, ts string) time.Time {
	t.Helper()
	got, rest, kind := p.parseTimestamp(ts + " host prog: msg")
	if kind == tsNone || rest != "host prog: msg" {
		t.Fatalf("parseTimestamp(%q) = kind %v rest %q", ts, kind, rest)
	}
	return got
}

func TestYearInferenceAcrossNewYear(t *testing.T) {
	// Read shortly after midnight on New Year's Day.
	p := parserAt(time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC), time.UTC)
	steps := []struct {
		ts   string
		want time.Time
	}{
		{"Dec 31 23:59:58", time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)},
		{"Dec 31 23:59:59", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Jan  1 00:00:00", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"Dec 31 23:59:59", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)}, // a late line
		{"Jan  1 00:00:01", time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC)},
	}
	for _, s := range steps {
		if got := stamp(t, p, s.ts); !got.Equal(s.want) {
			t.Errorf("%s: got %v, want %v", s.ts, got, s.want)
		}
	}
	if want := steps[len(steps)-1].want; !p.Latest().Equal(want) {
		t.Errorf("Latest = %v, want %v", p.Latest(), want)
	}
}

func TestYearInferenceOldLogReadLater(t *testing.T) {
	// A rotated log from last winter, read in March: the first line is
	// from last year, and the year moves on at New Year.
	p := parserAt(time.Date(2027, 3, 15, 12, 0, 0, 0, time.UTC), time.UTC)
	for _, s := range []struct {
		ts   string
		want int
	}{
		{"Nov 26 10:00:00", 2026},
		{"Dec 31 23:59:59", 2026},
		{"Jan  1 00:00:00", 2027},
		{"Feb 20 08:00:00", 2027},
		{"Mar 15 11:00:00", 2027},
	} {
		if got := stamp(t, p, s.ts); got.Year() != s.want {
			t.Errorf("%s: year %d, want %d", s.ts, got.Year(), s.want)
		}
	}
}

func TestYearInferenceFirstLine(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, s := range []struct {
		ts   string
		want int
	}{
		{"Nov 26 10:00:00", 2026},
		{"Nov 28 10:00:00", 2026}, // a clock a little ahead
		{"Dec 20 10:00:00", 2025}, // a month ahead: last year
		{"Jan  1 00:00:00", 2026},
		{"Feb 29 12:00:00", 2024}, // the latest leap year
	} {
		p := parserAt(now, time.UTC)
		if got := stamp(t, p, s.ts); got.Year() != s.want {
			t.Errorf("%s: year %d, want %d", s.ts, got.Year(), s.want)
		}
	}
}

func TestYearInferenceIgnoresStrayFutureLine(t *testing.T) {
	// A single line dated months ahead must not drag later lines into the
	// next year.
	p := parserAt(time.Date(2027, 1, 5, 12, 0, 0, 0, time.UTC), time.UTC)
	stamp(t, p, "Jan  5 10:00:00")
	if got := stamp(t, p, "Nov  1 10:00:00"); got.Year() != 2026 {
		t.Errorf("stray November line: year %d, want 2026", got.Year())
	}
	if got := stamp(t, p, "Jan  5 10:00:01"); got.Year() != 2027 {
		t.Errorf("line after the stray one: year %d, want 2027", got.Year())
	}
}

// A log read after the fact (analyze): the first line takes its year from
// the log's end (the capture's), the lines after it follow the log, past
// that end too, bounded by the clock only.
func TestYearInferenceFromEnd(t *testing.T) {
	for _, c := range []struct {
		name     string
		now, end time.Time
		lines    []string
		want     []int
	}{
		{"a capture of 2014 read in 2026", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2014, 3, 1, 11, 0, 0, 0, time.UTC),
			[]string{"Feb 27 08:00:00", "Mar  1 10:30:00", "Mar  7 10:00:00", "Mar 13 10:00:00", "Mar 19 10:00:00"},
			[]int{2014, 2014, 2014, 2014, 2014}},
		// cat mail.log mail.log.1: the newest file first.
		{"a line out of order by weeks", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2014, 3, 2, 0, 0, 0, 0, time.UTC),
			[]string{"Mar  1 10:00:00", "Feb 10 10:00:00", "Mar  1 10:00:01"},
			[]int{2014, 2014, 2014}},
		{"a stray line months ahead", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2014, 3, 1, 0, 0, 0, 0, time.UTC),
			[]string{"Jan  5 10:00:00", "Nov  1 10:00:00", "Jan  5 10:00:01", "Mar  1 10:00:00"},
			[]int{2014, 2013, 2014, 2014}},
		// A gap of more than a week past the end: the year the end gives.
		{"a jump past the end", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2014, 3, 1, 11, 0, 0, 0, time.UTC),
			[]string{"Mar  1 10:00:00", "Mar 20 10:00:00"},
			[]int{2014, 2013}},
		{"a log going on for weeks after the capture", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC),
			[]string{"Nov 19 10:00:00", "Nov 25 10:00:00", "Nov 30 10:00:00", "Dec  1 10:00:00"},
			[]int{2026, 2026, 2026, 2026}},
		{"a first line more than a week after the end is last year's", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2014, 3, 1, 11, 0, 0, 0, time.UTC),
			[]string{"Mar 20 10:00:00"}, []int{2013}},
	} {
		p := NewParser(Options{Location: time.UTC, Now: func() time.Time { return c.now }, End: func() time.Time { return c.end }})
		for i, l := range c.lines {
			if got := stamp(t, p, l); got.Year() != c.want[i] {
				t.Errorf("%s: %s: year %d, want %d", c.name, l, got.Year(), c.want[i])
			}
		}
	}
}

func TestConfiguredZone(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	p := parserAt(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), est)
	want := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	if got := stamp(t, p, "Nov 26 10:00:00"); !got.Equal(want) {
		t.Errorf("classic in EST: %v, want %v", got, want)
	}
	if got := stamp(t, p, "2026-11-26 10:00:00"); !got.Equal(want) {
		t.Errorf("exim in EST: %v, want %v", got, want)
	}
	// Timestamps with an offset ignore the configured zone.
	if got := stamp(t, p, "2026-11-26T15:00:00+00:00"); !got.Equal(want) {
		t.Errorf("RFC 3339: %v, want %v", got, want)
	}
	if got := stamp(t, p, "2026-11-26 16:00:00 +0100"); !got.Equal(want) {
		t.Errorf("exim with log_timezone: %v, want %v", got, want)
	}

	// A zone with daylight saving time, if the system has tzdata.
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		p := parserAt(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), ny)
		if got := stamp(t, p, "Jul  4 12:00:00"); !got.Equal(time.Date(2026, 7, 4, 16, 0, 0, 0, time.UTC)) {
			t.Errorf("July in New York: %v", got.UTC())
		}
		if got := stamp(t, p, "Nov 26 12:00:00"); !got.Equal(time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)) {
			t.Errorf("November in New York: %v", got.UTC())
		}
	}
}

func TestTimestampForms(t *testing.T) {
	p := parserAt(refNow, time.UTC)
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, s := range []struct {
		ts   string
		want time.Time
		kind tsKind
	}{
		{"Nov 26 10:00:00", base, tsSyslog},
		{"Nov 26 10:00:00.123456", base.Add(123456 * time.Microsecond), tsSyslog},
		{"Nov 06 10:00:00", base.AddDate(0, 0, -20), tsSyslog},
		{"Nov 6 10:00:00", base.AddDate(0, 0, -20), tsSyslog},
		{"2026-11-26T10:00:00.123456+00:00", base.Add(123456 * time.Microsecond), tsISO},
		{"2026-11-26T10:00:00Z", base, tsISO},
		{"2026-11-26T10:00:00.5Z", base.Add(500 * time.Millisecond), tsISO},
		{"2026-11-26T10:00:00+0000", base, tsISO},
		{"2026-11-26T12:30:00+02:30", base, tsISO},
		{"2026-11-26T10:00:00.123456789-00:00", base.Add(123456789), tsISO},
		{"2026-11-26 10:00:00", base, tsExim},
		{"2026-11-26 10:00:00.001", base.Add(time.Millisecond), tsExim},
	} {
		got, _, kind := p.parseTimestamp(s.ts + " x")
		if kind != s.kind || !got.Equal(s.want) {
			t.Errorf("%s: %v kind %v, want %v kind %v", s.ts, got, kind, s.want, s.kind)
		}
	}
	// A timestamp alone is a valid line start; a ten-digit fraction is
	// not a fraction.
	if _, rest, kind := p.parseTimestamp("Nov 26 10:00:00"); kind != tsSyslog || rest != "" {
		t.Errorf("bare timestamp: kind %v rest %q", kind, rest)
	}
	if _, _, kind := p.parseTimestamp("2026-11-26T10:00:00.1234567890Z x"); kind != tsNone {
		t.Errorf("ten-digit fraction accepted")
	}
	// An Exim line whose message starts with a sign is not a zone.
	if _, rest, kind := p.parseTimestamp("2026-11-26 10:00:00 +foo"); kind != tsExim || rest != "+foo" {
		t.Errorf("exim +foo: kind %v rest %q", kind, rest)
	}
}
