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
