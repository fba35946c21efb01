package rejectlog

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkRejection fails t when a matched rejection breaks the invariants
// every match must satisfy.
func checkRejection(t *testing.T, line string, r Rejection) {
	t.Helper()
	if !r.IP.IsValid() || r.IP.Zone() != "" || r.IP.Is4In6() || r.IP.IsUnspecified() {
		t.Fatalf("%q: bad IP %v", line, r.IP)
	}
	switch r.MTA {
	case MTAPostfixSMTPD, MTAPostfixPostscreen, MTAExim, MTASendmail, MTARspamd, MTAPattern:
	default:
		t.Fatalf("%q: bad MTA %q", line, r.MTA)
	}
	// Only postscreen's rank line and operators' own messages (whose
	// text is the reason) may name no list.
	if r.Zone == "" && r.MTA != MTAPostfixPostscreen && r.MTA != MTAPattern && r.Reason == "" {
		t.Fatalf("%q: no zone", line)
	}
	switch r.ZoneKind {
	case "":
	case ZoneKindName, ZoneKindURL, ZoneKindSymbol:
		if r.Zone == "" || len(r.Zone) > 253 || !utf8.ValidString(r.Zone) {
			t.Fatalf("%q: bad %s zone %q", line, r.ZoneKind, r.Zone)
		}
	default:
		t.Fatalf("%q: bad zone kind %q", line, r.ZoneKind)
	}
	if r.Zone != "" && r.ZoneKind == "" {
		z, rest, ok := readZone(r.Zone)
		if !ok || z != r.Zone || rest != "" || strings.HasSuffix(r.Zone, ".") {
			t.Fatalf("%q: bad zone %q", line, r.Zone)
		}
	}
	if r.Time.IsZero() {
		t.Fatalf("%q: no time: %+v", line, r)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.line)
	}
	for _, l := range nearMisses {
		f.Add(l)
	}
	for _, tc := range customCases {
		f.Add(tc.line)
	}
	for _, l := range customNearMisses {
		f.Add(l)
	}
	f.Add("1795687200.5 smtp-gw: blocked [2001:db8::7] by zen.spamhaus.org")
	f.Add("")
	f.Add("Nov 26 10:00:00 mx1 postfix/postscreen[1]: DNSBL rank -2 for [::1]:0")
	pats, err := CompilePatterns([]string{`^(?P<ts>\S+) smtp-gw: blocked \[(?P<ip>[^]]+)\] by (?P<zone>\S+)$`, `gw: (?P<ip>\S+) in (?P<zone>\S+)`})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := NewParser(Options{Location: time.UTC, Now: func() time.Time { return refNow }, Patterns: pats})
		r, ok, err := p.Parse(line)
		if ok && err != nil {
			t.Fatalf("both a match and an error")
		}
		if ok {
			checkRejection(t, line, r)
			if !utf8.ValidString(r.Reason) || !utf8.ValidString(r.Raw) {
				t.Fatalf("%q: reason or raw not UTF-8", line)
			}
			if b := r.AppendJSON(nil); !utf8.Valid(b) {
				t.Fatalf("JSON not UTF-8: %q", b)
			}
		}
		c := p.Counters()
		if c.Lines != 1 || c.Matched+c.NotMatching+c.Garbage != 1 || c.Pattern > c.Matched {
			t.Fatalf("counters %+v", c)
		}
	})
}

// FuzzMatchers runs each message matcher directly, without the timestamp
// and syslog header in front, so that the fuzzer spends its effort on them.
func FuzzMatchers(f *testing.F) {
	lines := []string{}
	for _, tc := range matchCases {
		lines = append(lines, tc.line)
	}
	for _, tc := range customCases {
		lines = append(lines, tc.line)
	}
	for _, line := range lines {
		if i := strings.Index(line, "]: "); i >= 0 && !strings.HasPrefix(line, "20") {
			line = line[i+3:]
		} else if len(line) > 20 {
			line = line[20:]
		}
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for _, m := range []func(string) (Rejection, bool){
			func(s string) (Rejection, bool) { return matchPostfixReject(s, false) },
			func(s string) (Rejection, bool) { return matchPostfixReject(s, true) },
			matchPostscreenRank,
			matchExim,
			matchEximCustom,
			matchSendmail,
			matchSendmailList,
			matchRspamd,
			matchSyslog,
		} {
			if r, ok := m(msg); ok {
				r.Time = time.Unix(1, 0)
				checkRejection(t, msg, r)
			}
		}
	})
}

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{
		"Nov 26 10:00:00 x", "Nov  6 10:00:00 x", "Feb 29 00:00:00.5 x", "Dec 31 23:59:59",
		"2026-11-26T10:00:00.123456+00:00 x", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00+0000 x",
		"2026-11-26T10:00:00.123456-01:30 x", "2026-11-26 10:00:00 H=", "2026-11-26 10:00:00.123 +0100 x",
	} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, line string, nowSec int64) {
		now := time.Unix(nowSec%(1<<35), 0)
		p := parserAt(now, time.UTC)
		for range 3 { // also with a latest time set by the previous call
			ts, rest, kind := p.parseTimestamp(line)
			if kind == tsNone {
				continue
			}
			if !strings.HasSuffix(line, rest) || len(rest) >= len(line) {
				t.Fatalf("%q: rest %q is not a proper suffix", line, rest)
			}
			y := ts.UTC().Year()
			switch {
			case kind != tsSyslog && (y < 1969 || y > 10000):
				t.Fatalf("%q: year %d", line, y)
			case kind == tsSyslog && (y < now.Year()-10 || y > now.Year()+6):
				t.Fatalf("%q: inferred year %d, now %v", line, y, now)
			}
		}
	})
}
