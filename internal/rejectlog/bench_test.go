package rejectlog

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkParse: one op is one line of a mail log as the agent reads it:
// mostly lines that are not DNSBL rejections, some that are, some garbage.
func BenchmarkParse(b *testing.B) {
	lines := []string{
		"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.8]",
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: disconnect from unknown[192.0.2.8] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
		"Nov 26 10:00:02 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [2001:db8::7]:41234: 550 5.7.1 Service unavailable; client [2001:db8::7] blocked using zen.spamhaus.org; " + postscreenEnv,
		"Nov 26 10:00:02 mx1 postfix/qmgr[77]: 4Xyz123: removed",
		"garbage \x00 line",
	}
	p := testParser()
	b.ReportAllocs()
	b.ResetTimer()
	matched := 0
	for i := range b.N {
		if _, ok, _ := p.Parse(lines[i%len(lines)]); ok {
			matched++
		}
	}
	if b.N >= len(lines) && matched == 0 {
		b.Fatal("no line matched")
	}
}

// BenchmarkScan: one op is Scan over 4 MiB of a mail log (the lines of
// BenchmarkParse without the garbage one), as analyze reads a reject log.
func BenchmarkScan(b *testing.B) {
	lines := []string{
		"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.8]",
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: disconnect from unknown[192.0.2.8] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
		"Nov 26 10:00:02 mx1 postfix/qmgr[77]: 4Xyz123: removed",
	}
	var log strings.Builder
	for i := 0; log.Len() < 4<<20; i++ {
		log.WriteString(lines[i%len(lines)] + "\n")
	}
	in := log.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Scan(context.Background(), strings.NewReader(in), testParser(), func(Rejection) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCustom: one op is one line of the operators' own forms
// and rspamd's results, or a near miss of them.
func BenchmarkParseCustom(b *testing.B) {
	var lines []string
	for _, tc := range customCases {
		lines = append(lines, tc.line)
	}
	lines = append(lines, customNearMisses...)
	p := testParser()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Parse(lines[i%len(lines)])
	}
}

// BenchmarkParsePatterns: BenchmarkParse's lines with four operator's
// patterns that match none of them, the cost they add to every line no
// built-in parser knows.
func BenchmarkParsePatterns(b *testing.B) {
	lines := []string{
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.8]",
		"Nov 26 10:00:01 mx1 postfix/smtpd[123]: disconnect from unknown[192.0.2.8] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
		"Nov 26 10:00:02 mx1 postfix/qmgr[77]: 4Xyz123: removed",
		"Nov 26 10:00:02 mx1 postfix/cleanup[78]: 4Xyz123: message-id=<20261126095959.ABC@bulk.example.net>",
	}
	pats, err := CompilePatterns([]string{
		`haraka\[\d+\]: \[dnsbl\] (?P<ip>\S+) listed on (?P<zone>.+)$`,
		`^(?P<ts>\S+) smtp-gw: blocked \[(?P<ip>[^]]+)\] by (?P<zone>\S+)$`,
		`rspamd_task_write_log: .*, ip: (?P<ip>[^,]+), .*\(default: T \(reject\): \[[^]]*\] \[.*\b(?P<zone>MY_DNSBL)\b`,
		`(?i)client (?P<ip>[0-9a-f.:]+) is on (?P<zone>\S+)`,
	})
	if err != nil {
		b.Fatal(err)
	}
	p := NewParser(Options{Location: testParser().loc, Now: testParser().now, Patterns: pats})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok, _ := p.Parse(lines[i%len(lines)]); ok {
			b.Fatal("a pattern matched")
		}
	}
}
