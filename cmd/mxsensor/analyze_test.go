package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/evaluate"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// TestAnalyzeScenario runs the whole offline measurement on a small
// generated scenario: the full engine must beat the naive rule by far and
// stay precise. (The bars are measured on large scenarios; see
// docs/association.md.)
func TestAnalyzeScenario(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "11", "-hosts", "400", "-duration", "20m", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	scores := map[string]evaluate.Result{}
	runs := map[string][]string{
		"naive": {"--mode", "naive"},
		"full":  {"--mode", "full"},
		// With what enrichment would know: origin ASes and reverse names.
		"names": {"--mode", "full", "--asn-table", filepath.Join(dir, "asn.txt"), "--ptr-table", filepath.Join(dir, "ptr.txt")},
	}
	for _, mode := range []string{"naive", "full", "names"} {
		o := filepath.Join(dir, mode)
		args := append([]string{"analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", o, "--p0f-db", "", "--log-format", "json"}, runs[mode]...)
		_, errs, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("analyze %s: %v\n%s", mode, err, errs)
		}
		if sum := logged(t, errs, "analysis done"); sum["mode"] != runs[mode][1] || sum["attempts"] == 0.0 {
			t.Errorf("summary: %v", sum)
		}
		js, _, err := runCLI(t, "eval", "--truth", filepath.Join(dir, "truth.jsonl"), "--associations", filepath.Join(o, "associations.jsonl"), "--json")
		if err != nil {
			t.Fatal(err)
		}
		var r evaluate.Result
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		scores[mode] = r
		t.Logf("%s: precision %.3f recall %.3f host F1 %.3f", mode, r.Precision, r.Recall, r.HostF1)
	}
	n, f, w := scores["naive"], scores["full"], scores["names"]
	if f.Precision < 0.9 || f.Recall < 0.85 || f.Precision < n.Precision+0.3 {
		t.Errorf("full engine: precision %.3f recall %.3f (naive %.3f)", f.Precision, f.Recall, n.Precision)
	}
	if w.Precision < f.Precision || w.Recall < f.Recall-0.01 {
		t.Errorf("names made it worse: precision %.3f recall %.3f (without: %.3f %.3f)", w.Precision, w.Recall, f.Precision, f.Recall)
	}
	b, err := os.ReadFile(filepath.Join(dir, "names", "associations.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{`"asn:same-origin`, `"ptr:same-`} {
		if !strings.Contains(string(b), fam) {
			t.Errorf("no %s evidence in the associations", fam)
		}
	}
}

// A damaged rotated reject log (mail.log.2.gz cut short) is not fatal:
// analyze warns, names the file, counts it, and reads the other files; a
// NUL run in the live log does not swallow the line after it.
func TestAnalyzeDamagedRejectLog(t *testing.T) {
	logs := t.TempDir()
	line := func(sec int, ip string) string {
		return fmt.Sprintf("Nov 26 10:00:%02d mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable; Client host [%s] blocked using zen.spamhaus.org; from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<x>",
			sec, ip, ip)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(line(1, "192.0.2.1") + "\n"))
	zw.Flush()
	cut := gz.Len()
	for i := range 3000 {
		fmt.Fprintf(zw, "Nov 26 10:00:02 mx1 postfix/smtpd[1]: connect from h%d.example.net[198.51.100.%d]\n", i*7919%100003, i%250)
	}
	zw.Close()
	b := gz.Bytes()
	files := map[string]string{
		"mail.log.2.gz": string(b[:cut+(len(b)-cut)/2]),
		"mail.log.1":    line(3, "192.0.2.3") + "\n",
		"mail.log":      line(4, "192.0.2.4") + "\n" + strings.Repeat("\x00", 1<<20) + line(5, "192.0.2.5") + "\n" + line(6, "192.0.2.6") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, errs, err := runCLI(t, "analyze", "--pcap", "../../testdata/syns.pcap", "--reject-log", logs, "--tz", "UTC",
		"--out", filepath.Join(t.TempDir(), "out"), "--p0f-db", "", "--no-report", "--log-format", "json")
	if err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	warn := logged(t, errs, "compressed log damaged: the lines before the damage were read, the rest is lost")
	wantFields(t, warn, map[string]any{"level": "warn", "file": filepath.Join(logs, "mail.log.2.gz")})
	wantFields(t, logged(t, errs, "reject logs read"), map[string]any{"rejections": 5, "addresses": 5, "damaged_files": 1})
}

// TestAnalyzeShards: grouping on several shards, and reading a capture
// split in two, write the files one grouper writes, byte for byte.
func TestAnalyzeShards(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "12", "-hosts", "300", "-duration", "15m", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	// The capture dealt out into two of the same time span, as two
	// interfaces would capture it: read at once, merged by time.
	halves := splitCapture(t, filepath.Join(dir, "syns.pcap"))
	files := map[string]string{}
	for _, run := range []struct{ shards, pcap string }{
		{"1", filepath.Join(dir, "syns.pcap")}, {"3", filepath.Join(dir, "syns.pcap")}, {"2", halves},
	} {
		shards := run.shards
		o := filepath.Join(t.TempDir(), "out")
		_, errs, err := runCLI(t, "analyze", "--pcap", run.pcap, "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", o, "--p0f-db", "", "--no-report", "--shards", shards)
		if err != nil {
			t.Fatalf("analyze --shards %s: %v\n%s", shards, err, errs)
		}
		for _, name := range []string{"attempts.jsonl", "associations.jsonl"} {
			b, err := os.ReadFile(filepath.Join(o, name))
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := files[name]; ok && string(b) != want {
				t.Errorf("--shards %s --pcap %s: %s differs from --shards 1's", shards, run.pcap, name)
			} else if len(b) == 0 {
				t.Errorf("--shards %s: %s is empty", shards, name)
			}
			files[name] = string(b)
		}
	}
	for _, bad := range []string{"-1", "257"} {
		if _, _, err := runCLI(t, "analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--out", t.TempDir(), "--shards", bad); err == nil || !strings.Contains(err.Error(), "--shards "+bad) {
			t.Errorf("--shards %s: %v", bad, err)
		}
	}
}

// splitCapture deals the frames of a capture out into two files and
// returns their paths as one --pcap value.
func splitCapture(t *testing.T, path string) string {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var paths []string
	var ws []*capture.RotatingWriter
	for i := range 2 {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("part%d.pcap", i))
		w, err := capture.NewRotatingWriter(p, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		paths, ws = append(paths, p), append(ws, w)
	}
	for i := 0; ; i++ {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		// In runs of 7: each file holds stretches the other does not.
		if err := ws[i/7%2].WriteFrame(f.Time, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(paths, ",")
}

// TestAnalyzeDisableEvidenceThreshold: with a family off the score is the
// evidence sum's, and --min-score defaults to its 0.5: associations score
// under the calibrated default 0.9 too; one given on the command line
// holds.
func TestAnalyzeDisableEvidenceThreshold(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "13", "-hosts", "300", "-duration", "15m", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	lowest := func(extra ...string) (float64, int) {
		o := filepath.Join(t.TempDir(), "out")
		args := append([]string{"analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", o, "--p0f-db", "", "--no-report", "--disable-evidence", "ptr"}, extra...)
		if _, errs, err := runCLI(t, args...); err != nil {
			t.Fatalf("analyze %v: %v\n%s", extra, err, errs)
		}
		low, n := 1.0, 0
		b, err := os.ReadFile(filepath.Join(o, "associations.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var a record.Association
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			if a.Associated() {
				low, n = min(low, a.Score), n+1
			}
		}
		return low, n
	}
	if low, n := lowest(); n == 0 || low >= associate.DefaultThreshold || low < 0.5 {
		t.Errorf("--disable-evidence alone: %d associations, lowest score %.3f, want some in [0.5, %v)", n, low, associate.DefaultThreshold)
	}
	if low, n := lowest("--min-score", "0.9"); n == 0 || low < 0.9 {
		t.Errorf("--min-score 0.9 given: %d associations, lowest score %.3f", n, low)
	}
}

// TestAnalyzeAssociationSettingsChecked: a threshold outside [0, 1] or not a
// number, a negative margin and an unknown evidence family are refused at
// start, naming the flag, before any file is read.
func TestAnalyzeAssociationSettingsChecked(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"--min-score", "NaN"}},
		{[]string{"--min-score", "1.5"}},
		{[]string{"--min-score", "-0.1"}},
		{[]string{"--margin", "-1"}},
		{[]string{"--disable-evidence", "bogus"}},
	} {
		args := append([]string{"analyze", "--pcap", "/nonexistent.pcap", "--out", t.TempDir()}, tc.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.args[0]) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.args[0])
		}
	}
}

// TestAnalyzeOldCapture: a capture of 2014 with its classic syslog mail log
// (no year in the timestamps), analyzed today with --db. The log's lines
// take the capture's year, so IPv4 spammers are found, and the store keeps
// every result though the retention (400 days) counts from today.
func TestAnalyzeOldCapture(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "14", "-hosts", "300", "-duration", "15m",
		"-start", "2014-03-01T10:00:00Z", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	o, db := filepath.Join(dir, "out"), filepath.Join(dir, "r.db")
	_, errs, err := runCLI(t, "analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
		"--tz", "UTC", "--out", o, "--db", db, "--db-flush", "10ms", "--p0f-db", "", "--no-report", "--log-format", "json")
	if err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	if end := logged(t, errs, "reject logs: yearless timestamps take their year from the end of the capture"); !strings.HasPrefix(fmt.Sprint(end["capture_end"]), "2014-03-01T10:1") {
		t.Errorf("capture end %v", end["capture_end"])
	}
	sum := logged(t, errs, "analysis done")
	if sum["spammers"] == 0.0 {
		t.Errorf("no IPv6 spammer found: %v", sum)
	}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var attempts int
	var firstRejection int64
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRow("SELECT MIN(t) FROM rejections").Scan(&firstRejection); err != nil {
		t.Fatal(err)
	}
	if float64(attempts) != sum["attempts"] {
		t.Errorf("%d attempts in the store, %v analyzed", attempts, sum["attempts"])
	}
	if y := time.Unix(0, firstRejection).UTC().Year(); y != 2014 {
		t.Errorf("the first rejection is of %d", y)
	}
}

// TestAnalyzeLogEnd: --reject-log-end dates a yearless reject log without
// reading the captures; a capture that cannot be read stops the analysis
// before a rejection dated from the wrong year is stored.
func TestAnalyzeLogEnd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	line := "Mar  1 10:00:00 mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<x>\n"
	if err := os.WriteFile(log, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "r.db")
	_, errs, err := runCLI(t, "analyze", "--pcap", "../../testdata/syns.pcap", "--reject-log", log, "--reject-log-end", "2014-03-02",
		"--tz", "UTC", "--out", filepath.Join(dir, "out"), "--db", db, "--p0f-db", "", "--no-report", "--log-format", "json")
	if err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	logged(t, errs, "reject logs: yearless timestamps take their year from --reject-log-end")
	rejections := func(db string) (n int, first int64) {
		t.Helper()
		st, err := store.OpenReadOnly(db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.DB().QueryRow("SELECT COUNT(*), COALESCE(MIN(t), 0) FROM rejections").Scan(&n, &first); err != nil {
			t.Fatal(err)
		}
		return n, first
	}
	if n, first := rejections(db); n != 1 || time.Unix(0, first).UTC().Year() != 2014 {
		t.Errorf("%d rejections, the first at %v", n, time.Unix(0, first).UTC())
	}

	junk := filepath.Join(dir, "junk.pcap")
	if err := os.WriteFile(junk, []byte("not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	db2 := filepath.Join(dir, "r2.db")
	_, errs, err = runCLI(t, "analyze", "--pcap", junk, "--reject-log", log, "--tz", "UTC", "--out", filepath.Join(dir, "out2"),
		"--db", db2, "--p0f-db", "", "--no-report")
	if err == nil || !strings.Contains(err.Error(), "reading the capture's end") {
		t.Fatalf("analyze of a junk capture: %v\n%s", err, errs)
	}
	if n, _ := rejections(db2); n != 0 {
		t.Errorf("%d rejections stored from a log dated without its capture", n)
	}
}
