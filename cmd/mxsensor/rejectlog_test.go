package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRejectlogCommand(t *testing.T) {
	out, errs, err := runCLI(t, "rejectlog", "--tz", "UTC", "../../testdata/rejectlog/mail.log", "--log-format", "json")
	if err != nil {
		t.Fatal(err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d rejections, want 7:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[1], `"ip":"192.0.2.7","zone":"zen.spamhaus.org","mta":"postfix-postscreen"`) {
		t.Errorf("line 2: %s", lines[1])
	}
	wantFields(t, logged(t, errs, "reject logs read"), map[string]any{"lines": 16, "rejections": 7, "other_lines": 9, "garbage": 0})

	// A directory holding a rotation set, one generation gzipped, plus garbage.
	dir := t.TempDir()
	write := func(name, content string, gz bool) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if gz {
			zw := gzip.NewWriter(f)
			zw.Write([]byte(content))
			zw.Close()
			return
		}
		f.WriteString(content)
	}
	rej := func(ts, ip string) string {
		return ts + " mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[" + ip + "]: 554 5.7.1 Service unavailable; Client host [" + ip + "] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n"
	}
	write("mail.log.2.gz", rej("2026-11-20T10:00:00+00:00", "192.0.2.1"), true)
	write("mail.log.1", rej("2026-11-21T10:00:00+00:00", "192.0.2.2")+"\xff\xfe garbage\n", false)
	write("mail.log", rej("2026-11-22T10:00:00+00:00", "192.0.2.3")+"Nov 22 10:00:01 mx postfix/smtpd[1]: connect from unknown[192.0.2.9]\n", false)
	out, errs, err = runCLI(t, "rejectlog", dir, "--log-format", "json")
	if err != nil {
		t.Fatal(err, errs)
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 3 || !strings.Contains(got[0], "192.0.2.1") || !strings.Contains(got[2], "192.0.2.3") {
		t.Errorf("rotation set out of order or incomplete:\n%s", out)
	}
	wantFields(t, logged(t, errs, "reject logs read"), map[string]any{"lines": 5, "rejections": 3, "other_lines": 1, "garbage": 1})
	if _, _, err := runCLI(t, "rejectlog"); err == nil {
		t.Error("no arguments accepted")
	}
	if _, _, err := runCLI(t, "rejectlog", "--tz", "Mars/Olympus", dir); err == nil {
		t.Error("bad --tz accepted")
	}
}

// TestRejectlogFollow: --follow --out picks up lines appended to a live log
// and, restarted, does not deliver them twice.
// TestRejectlogEnd: --end dates a yearless log read after the fact; it is
// refused with --follow and when it is not a time.
func TestRejectlogEnd(t *testing.T) {
	// The log crosses New Year: Dec 31 is the end's year, Jan 1 the next.
	out, errs, err := runCLI(t, "rejectlog", "--tz", "UTC", "--end", "2015-01-01", "../../testdata/rejectlog/mail.log")
	if err != nil {
		t.Fatal(err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.Contains(lines[0], `"ts":"2014-12-31T`) || !strings.Contains(lines[6], `"ts":"2015-01-01T`) {
		t.Errorf("with --end 2015-01-01:\n%s", out)
	}
	for _, args := range [][]string{{"--end", "soon", "x.log"}, {"--end", "2014-12-01", "--follow", "x.log"}} {
		if _, _, err := runCLI(t, append([]string{"rejectlog"}, args...)...); err == nil || !strings.Contains(err.Error(), "--end") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestRejectlogFollow(t *testing.T) {
	dir := t.TempDir()
	logPath, outPath := filepath.Join(dir, "mail.log"), filepath.Join(dir, "rejections.jsonl")
	line := func(n int) string {
		return "2026-11-22T10:00:00+00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2." + string(rune('0'+n)) +
			"]: 554 5.7.1 Service unavailable; Client host [192.0.2." + string(rune('0'+n)) + "] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n"
	}
	if err := os.WriteFile(logPath, []byte(line(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	follow := func(until func() bool) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			cmd := newRootCmd()
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs([]string{"rejectlog", "--follow", logPath, "--out", outPath})
			done <- cmd.ExecuteContext(ctx)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !until() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		b, _ := os.ReadFile(outPath)
		return bytes.Count(b, []byte("\n"))
	}
	follow(func() bool { return count() == 1 })
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line(2))
	f.Close()
	follow(func() bool { return count() >= 2 })
	b, _ := os.ReadFile(outPath)
	if count() != 2 || !strings.Contains(string(b), "192.0.2.1") || !strings.Contains(string(b), "192.0.2.2") {
		t.Errorf("output after restart:\n%s", b)
	}
}

// customLog holds one line of each operator-worded form, rspamd's result,
// a line only an operator's pattern knows and a sender-verify failure.
const customLog = `Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_rcpt, arg1=<user@example.org>, relay=bulk.example.net [192.0.2.7], reject=550 5.7.1 <user@example.org>... Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=192.0.2.7
2026-11-26 10:00:01 1vAbCd-000Ab1-Xy H=(bulk.example.net) [198.51.100.20] F=<spammer@example.net> rejected RCPT <user@example.org>: rejected found in dnsbl zen.spamhaus.org
2026-11-26 10:00:02 H=(bulk.example.net) [198.51.100.21] F=<spammer@example.net> rejected RCPT <user@example.org>: Sender verify failed
Nov 26 10:00:03 mx1 rspamd[1234]: <4c1a2b>; task; rspamd_task_write_log: id: <a@b>, ip: 2001:db8::7, from: <s@x>, (default: T (reject): [16.00/15.00] [RBL_SPAMCOP(2.00){},RECEIVED_SPAMHAUS_XBL(1.00){}]), len: 100, time: 10.0ms, dns req: 3
Nov 26 10:00:04 mx1 haraka[99]: [dnsbl] 203.0.113.9 listed on Spamhaus ZEN
`

func TestRejectlogCustomForms(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mail.log")
	if err := os.WriteFile(logPath, []byte(customLog), 0o644); err != nil {
		t.Fatal(err)
	}
	// A pattern with a comma, from the file: a YAML list keeps it whole.
	cfg := writeConfig(t, "rejectlog:\n  reject-pattern:\n    - 'haraka\\[\\d{1,9}\\]: \\[dnsbl\\] (?P<ip>\\S+) listed on (?P<zone>.+)$'\n")
	for _, args := range [][]string{
		{"--config", cfg},
		{"--reject-pattern", `haraka\[\d{1,9}\]: \[dnsbl\] (?P<ip>\S+) listed on (?P<zone>.+)$`},
	} {
		out, errs, err := runCLI(t, append([]string{"rejectlog", "--tz", "UTC", "--log-format", "json", logPath}, args...)...)
		if err != nil {
			t.Fatal(err, errs)
		}
		want := []string{
			`{"ts":"2026-11-26T10:00:00Z","ip":"192.0.2.7","zone":"Spamhaus","zone_kind":"name","mta":"sendmail","reason":`,
			`{"ts":"2026-11-26T10:00:01Z","ip":"198.51.100.20","zone":"zen.spamhaus.org","mta":"exim","reason":"rejected found in dnsbl zen.spamhaus.org"}`,
			`{"ts":"2026-11-26T10:00:03Z","ip":"2001:db8::7","zone":"RBL_SPAMCOP","zone_kind":"symbol","mta":"rspamd"}`,
			`{"ts":"2026-11-26T10:00:04Z","ip":"203.0.113.9","zone":"Spamhaus ZEN","zone_kind":"name","mta":"pattern"}`,
		}
		got := strings.Split(strings.TrimSpace(out), "\n")
		if len(got) != len(want) {
			t.Fatalf("%v: %d rejections, want %d:\n%s", args, len(got), len(want), out)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("%v: line %d\n got %s\nwant %s", args, i+1, got[i], want[i])
			}
		}
		wantFields(t, logged(t, errs, "reject logs read"), map[string]any{"lines": 5, "rejections": 4, "pattern_rejections": 1, "other_lines": 1})
	}
}

// TestRejectPatternErrors: a pattern that does not compile or has no ip
// group stops every command that reads reject logs at start, naming it.
func TestRejectPatternErrors(t *testing.T) {
	for _, cmd := range []string{"rejectlog", "analyze", "run", "eval"} {
		for _, c := range []struct{ pattern, want string }{
			{`blocked (?P<ip>\S+`, `reject pattern "blocked (?P<ip>\\S+": error parsing regexp`},
			{`blocked (\S+) by (?P<zone>\S+)`, `reject pattern "blocked (\\S+) by (?P<zone>\\S+)": no group named ip`},
		} {
			_, _, err := runCLI(t, cmd, "--reject-pattern", c.pattern)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s --reject-pattern %q: error %v, want one with %q", cmd, c.pattern, err, c.want)
			}
			cfg := writeConfig(t, cmd+":\n  reject-pattern: ['"+c.pattern+"']\n")
			_, _, err = runCLI(t, cmd, "--config", cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s reject-pattern in the file %q: error %v, want one with %q", cmd, c.pattern, err, c.want)
			}
		}
	}
}

// TestAnalyzeRejectPattern: analyze reads the reject log with the
// operator's patterns too.
func TestAnalyzeRejectPattern(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mail.log")
	if err := os.WriteFile(logPath, []byte(customLog), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, err := runCLI(t, "analyze", "--pcap", "../../testdata/syns.pcap", "--reject-log", logPath, "--tz", "UTC",
		"--out", filepath.Join(dir, "out"), "--p0f-db", "", "--no-report", "--log-format", "json", "--db", "",
		"--reject-pattern", `haraka\[\d+\]: \[dnsbl\] (?P<ip>\S+) listed on (?P<zone>.+)$`)
	if err != nil {
		t.Fatal(err, errs)
	}
	wantFields(t, logged(t, errs, "reject logs read"), map[string]any{"rejections": 4, "pattern_rejections": 1, "addresses": 4})
}
