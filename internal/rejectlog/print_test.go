package rejectlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

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
	c := Counters{Lines: 1, Matched: 2, NotMatching: 3, Garbage: 4, TooLong: 5, InvalidUTF8: 6, ControlChars: 7,
		BadTimestamp: 8, NULRuns: 9, DamagedFiles: 10}
	LogSummary(jsonLogger(&buf), c, zap.Int("addresses", 11))
	want := `{"level":"info","msg":"reject logs read","lines":1,"rejections":2,"other_lines":3,"garbage":4,"too_long":5,` +
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

// syncBuffer is a bytes.Buffer a follower writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFollowToWriter: the live log is printed from its start, and what is
// appended follows.
func TestFollowToWriter(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 0))
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- FollowToWriter(ctx, &out, logPath, testParser(), zap.NewNop()) }()
	waitLines := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); strings.Count(out.String(), "\n") < n && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLines(1)
	appendLines(t, logPath, rejectLine("Nov 26 10:00:01", 1))
	waitLines(2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "seq 000000") || !strings.Contains(lines[1], "seq 000001") {
		t.Errorf("output:\n%s", out.String())
	}
}
