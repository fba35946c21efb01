package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by a second at each reading, so rates are known.
func fakeClock() func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// TestBarShown: the bar on a fake terminal shows the share, the rate and
// the time left, and its final line is 100% with a newline.
func TestBarShown(t *testing.T) {
	var w bytes.Buffer
	b := New(Config{W: &w, Label: "read", Total: 4096})
	b.now, b.every = fakeClock(), time.Hour
	b.Start()
	b.Counter().Add(1024)
	b.mu.Lock()
	b.draw()
	b.mu.Unlock()
	mid := w.String()
	for _, want := range []string{"\rread [======", " 25% 1.0 KiB/4.0 KiB", "512 B/s", "ETA 6s", "\033[K"} {
		if !strings.Contains(mid, want) {
			t.Errorf("no %q in %q", want, mid)
		}
	}
	b.Counter().Add(3072)
	b.Stop()
	b.Stop()
	out := w.String()
	last := out[strings.LastIndex(out, "\r"):]
	if !strings.Contains(last, "100% 4.0 KiB/4.0 KiB") || !strings.HasSuffix(out, "\033[K\n") || strings.Contains(last, "ETA") {
		t.Errorf("final line %q", last)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("not one newline: %q", out)
	}
}

// TestBarLogLines: a log line clears the bar's line first and the bar is
// drawn again after it; after Stop log lines pass as they are.
func TestBarLogLines(t *testing.T) {
	var w bytes.Buffer
	b := New(Config{W: &w, Label: "analyze", Total: 10})
	b.now, b.every = fakeClock(), time.Hour
	lw := b.Writer(&w)
	b.Start()
	w.Reset()
	lw.Write([]byte("INFO capture read\n"))
	if got := w.String(); !strings.HasPrefix(got, "\r\033[KINFO capture read\n\ranalyze [") {
		t.Errorf("log line with the bar: %q", got)
	}
	b.Stop()
	w.Reset()
	lw.Write([]byte("INFO done\n"))
	if got := w.String(); got != "INFO done\n" {
		t.Errorf("log line after Stop: %q", got)
	}
}

// A nil Bar (disabled) writes nothing and its writer is the one given.
func TestBarDisabled(t *testing.T) {
	var b *Bar
	var w bytes.Buffer
	b.Start()
	if b.Counter() != nil {
		t.Error("a disabled bar has a counter")
	}
	if lw := b.Writer(&w); lw != &w {
		t.Error("a disabled bar wraps the log writer")
	}
	b.Stop()
	if w.Len() != 0 {
		t.Errorf("wrote %q", w.String())
	}
}

func TestBarUnknownTotal(t *testing.T) {
	b := New(Config{Label: "read"})
	if got := b.line(3<<20, 2*time.Second); got != "read 3.0 MiB 1.5 MiB/s" {
		t.Errorf("got %q", got)
	}
}

// TestEnabled: drawn only on a terminal, never with quiet.
func TestEnabled(t *testing.T) {
	yes := func(uintptr) bool { return true }
	no := func(uintptr) bool { return false }
	for _, c := range []struct {
		name  string
		w     any
		quiet bool
		term  func(uintptr) bool
		want  bool
	}{
		{"terminal", os.Stderr, false, yes, true},
		{"quiet", os.Stderr, true, yes, false},
		{"not a terminal", os.Stderr, false, no, false},
		{"not a file", &bytes.Buffer{}, false, yes, false},
	} {
		if got := Enabled(c.w.(interface{ Write([]byte) (int, error) }), c.quiet, c.term); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func TestFilesSize(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a", dir+"/b"
	os.WriteFile(a, make([]byte, 10), 0o644)
	os.WriteFile(b, make([]byte, 5), 0o644)
	if got := FilesSize([]string{a, b, dir + "/none", dir}); got != 15 {
		t.Errorf("got %d", got)
	}
}
