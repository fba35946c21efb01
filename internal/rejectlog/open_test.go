package rejectlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const sampleDir = "../../testdata/rejectlog"

func TestGoldenSample(t *testing.T) {
	p := parserAt(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	var got []byte
	files := []string{"mail.log", "mainlog", "postscreen.log.bz2"}
	for i := range files {
		files[i] = filepath.Join(sampleDir, files[i])
	}
	err := ScanFiles(context.Background(), files, p, nil, func(r Rejection) error {
		got = r.AppendJSON(got)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(sampleDir, "expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from expected.jsonl\ngot:\n%s\nwant:\n%s", got, want)
	}
	c := p.Counters()
	if c.Matched != 9 || c.Lines != c.Matched+c.NotMatching+c.Garbage || c.Garbage != 0 {
		t.Errorf("counters %+v", c)
	}
}

func writeGzip(t *testing.T, path string, members ...string) {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range members {
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(m))
		zw.Close()
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	r, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenLogDetectsCompressionByMagic(t *testing.T) {
	dir := t.TempDir()
	// A gzip file without .gz in its name, with two members (as after
	// appending to a compressed log).
	writeGzip(t, filepath.Join(dir, "a"), "line one\n", "line two\n")
	if got := readAll(t, filepath.Join(dir, "a")); got != "line one\nline two\n" {
		t.Errorf("gzip: %q", got)
	}
	// A plain file named .gz is read as it is.
	os.WriteFile(filepath.Join(dir, "b.gz"), []byte("plain\n"), 0o644)
	if got := readAll(t, filepath.Join(dir, "b.gz")); got != "plain\n" {
		t.Errorf("plain: %q", got)
	}
	// Empty and one-byte files are plain.
	os.WriteFile(filepath.Join(dir, "c"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "d"), []byte{0x1f}, 0o644)
	if readAll(t, filepath.Join(dir, "c")) != "" || readAll(t, filepath.Join(dir, "d")) != "\x1f" {
		t.Error("short files")
	}
	// bzip2 from the sample directory.
	if got := readAll(t, filepath.Join(sampleDir, "postscreen.log.bz2")); !strings.Contains(got, "DNSBL rank 2") {
		t.Errorf("bzip2: %q", got)
	}
	// xz and zstd are refused rather than read as garbage.
	os.WriteFile(filepath.Join(dir, "e.xz"), []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0}, 0o644)
	if _, err := OpenLog(filepath.Join(dir, "e.xz")); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("xz: %v", err)
	}
	// A broken gzip header is an error.
	os.WriteFile(filepath.Join(dir, "f"), []byte{0x1f, 0x8b, 0, 0}, 0o644)
	if _, err := OpenLog(filepath.Join(dir, "f")); err == nil {
		t.Error("broken gzip opened")
	}
}

func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if strings.HasSuffix(n, ".gz") {
			writeGzip(t, filepath.Join(dir, n), n+"\n")
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func TestGenerationsNumbered(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.3.gz", "mail.log.4.gz", "mail.log.10.gz",
		// Not part of the set.
		"mail.err", "mail.err.1", "mail.logger", "mail.log.old", "mail.log.2.xz", "mail.log.gz", "mail.log.tmp")
	got, err := Generations(filepath.Join(dir, "mail.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mail.log.10.gz", "mail.log.4.gz", "mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"}
	if !slices.Equal(baseNames(got), want) {
		t.Errorf("got %v, want %v", baseNames(got), want)
	}
}

func TestGenerationsDateext(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log", "mail.log-20261120", "mail.log-20261118.gz", "mail.log-20261119.gz", "mail.log-20251231.gz",
		"mail.log-2026111913.gz") // dateformat -%Y%m%d%H
	got, err := Generations(filepath.Join(dir, "mail.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mail.log-20251231.gz", "mail.log-20261118.gz", "mail.log-20261119.gz", "mail.log-2026111913.gz", "mail.log-20261120", "mail.log"}
	if !slices.Equal(baseNames(got), want) {
		t.Errorf("got %v, want %v", baseNames(got), want)
	}
}

func TestGenerationsCompressionInProgress(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log", "mail.log.1", "mail.log.2", "mail.log.2.gz", "mail.log.3.gz")
	got, err := Generations(filepath.Join(dir, "mail.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mail.log.3.gz", "mail.log.2", "mail.log.1", "mail.log"}
	if !slices.Equal(baseNames(got), want) {
		t.Errorf("got %v, want %v", baseNames(got), want)
	}
}

func TestGenerationsWithoutLiveFile(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log.1", "mail.log.2.gz")
	got, err := Generations(filepath.Join(dir, "mail.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mail.log.2.gz", "mail.log.1"}; !slices.Equal(baseNames(got), want) {
		t.Errorf("got %v, want %v", baseNames(got), want)
	}
}

// rejectLine is a postfix reject line for seq at time ts (classic format);
// the sequence number ends up in Reason.
func rejectLine(ts string, seq int) string {
	return fmt.Sprintf("%s mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; seq %06d; %s",
		ts, seq, smtpdEnv)
}

func TestScanFilesRotationSetAcrossNewYear(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "mail.log")
	writeGzip(t, base+".2.gz", rejectLine("Dec 30 10:00:00", 1)+"\n"+rejectLine("Dec 31 10:00:00", 2)+"\n")
	os.WriteFile(base+".1", []byte(rejectLine("Dec 31 23:59:59", 3)+"\n"+rejectLine("Jan  1 00:00:00", 4)+"\n"), 0o644)
	os.WriteFile(base, []byte(rejectLine("Jan  2 08:00:00", 5)+"\n"+rejectLine("Jan  2 09:00:00", 6)), 0o644) // no final newline

	paths, err := Generations(base)
	if err != nil {
		t.Fatal(err)
	}
	p := parserAt(time.Date(2027, 1, 2, 12, 0, 0, 0, time.UTC), time.UTC)
	var got []string
	err = ScanFiles(context.Background(), paths, p, nil, func(r Rejection) error {
		got = append(got, r.Time.Format(time.DateTime)+" "+r.Reason)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2026-12-30 10:00:00 seq 000001",
		"2026-12-31 10:00:00 seq 000002",
		"2026-12-31 23:59:59 seq 000003",
		"2027-01-01 00:00:00 seq 000004",
		"2027-01-02 08:00:00 seq 000005",
		"2027-01-02 09:00:00 seq 000006",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScanOverlongLine(t *testing.T) {
	long := rejectLine("Nov 26 10:00:00", 1) + strings.Repeat("x", 3*MaxLineLength)
	input := rejectLine("Nov 26 09:00:00", 0) + "\n" + long + "\n" + rejectLine("Nov 26 11:00:00", 2) + "\n"
	p := testParser()
	var got []string
	err := Scan(context.Background(), strings.NewReader(input), p, func(r Rejection) error {
		got = append(got, r.Reason)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"seq 000000", "seq 000002"}) {
		t.Errorf("got %v", got)
	}
	if c := p.Counters(); c.TooLong != 1 || c.Lines != 3 {
		t.Errorf("counters %+v", c)
	}
}

func TestScanStopsOnCallbackError(t *testing.T) {
	input := rejectLine("Nov 26 09:00:00", 0) + "\n" + rejectLine("Nov 26 09:00:01", 1) + "\n"
	stop := errors.New("stop")
	n := 0
	err := Scan(context.Background(), strings.NewReader(input), testParser(), func(Rejection) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d calls", err, n)
	}
}

// jsonLogger logs to buf as JSON lines without a time.
func jsonLogger(buf *bytes.Buffer) *zap.Logger {
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.AddSync(buf), zapcore.DebugLevel))
}

// TestLogSummaryFields pins the summary's fields and their order: the
// agent and `mxsensor rejectlog` and `analyze` log it alike.
func TestLogSummaryFields(t *testing.T) {
	var buf bytes.Buffer
	c := Counters{Lines: 1, Matched: 2, Pattern: 1, NotMatching: 3, Garbage: 4, TooLong: 5, InvalidUTF8: 6, ControlChars: 7,
		BadTimestamp: 8, NULRuns: 9, DamagedFiles: 10}
	LogSummary(jsonLogger(&buf), c, zap.Int("addresses", 11))
	want := `{"level":"info","msg":"reject logs read","lines":1,"rejections":2,"pattern_rejections":1,"other_lines":3,"garbage":4,"too_long":5,` +
		`"invalid_utf8":6,"control_chars":7,"bad_timestamp":8,"nul_runs":9,"damaged_files":10,"addresses":11}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	buf.Reset()
	WarnDamaged(jsonLogger(&buf))(&DamageError{Path: "/var/log/mail.log.2.gz", Offset: 42, Err: os.ErrClosed})
	want = `{"level":"warn","msg":"compressed log damaged: the lines before the damage were read, the rest is lost",` +
		`"file":"/var/log/mail.log.2.gz","offset":42,"error":"file already closed"}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
}

// TestPrintArgs: a rotation set with a damaged gzip generation is printed
// as JSON lines, oldest first, and the damage is warned of.
func TestPrintArgs(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "mail.log")
	ts := "2026-11-26T10:00:00+00:00"
	var gz bytes.Buffer
	writeGzip(t, base+".1.gz", rejectLine(ts, 1)+"\n")
	b, _ := os.ReadFile(base + ".1.gz")
	gz.Write(b[:len(b)-6]) // cut inside the trailer
	os.WriteFile(base+".1.gz", gz.Bytes(), 0o644)
	appendLines(t, base, rejectLine(ts, 2), "garbage \xff")
	core, logs := observer.New(zap.InfoLevel)
	var out bytes.Buffer
	c, err := PrintArgs(context.Background(), &out, []string{dir}, Options{Location: time.UTC}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "seq 000001") || !strings.Contains(lines[1], "seq 000002") {
		t.Errorf("output:\n%s", out.String())
	}
	if c.Matched != 2 || c.Garbage != 1 || c.DamagedFiles != 1 {
		t.Errorf("counters %+v", c)
	}
	w := logs.FilterMessageSnippet("compressed log damaged").All()
	if len(w) != 1 || w[0].ContextMap()["file"] != base+".1.gz" {
		t.Errorf("damage warnings %v", w)
	}
	if _, err := PrintArgs(context.Background(), &out, []string{filepath.Join(dir, "none")}, Options{}, zap.NewNop()); err == nil {
		t.Error("missing log accepted")
	}
}
