package rejectlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// collector runs Follow in the background and records what it delivers.
type collector struct {
	mu     sync.Mutex
	lines  []string
	last   Position
	cancel context.CancelFunc
	done   chan error
}

func startFollow(t *testing.T, path string, start Position, poll time.Duration) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- Follow(ctx, FollowOptions{Path: path, Start: start, Poll: poll, MaxBatch: 7}, func(b Batch) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lines = append(c.lines, b.Lines...)
			c.last = b.Pos
			return nil
		})
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop ends the follower and returns the position after the last batch.
func (c *collector) stop(t *testing.T) Position {
	t.Helper()
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
		if err := <-c.done; err != nil {
			t.Errorf("Follow: %v", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitFor waits until n lines have arrived and returns them.
func (c *collector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.snapshot()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func seqLines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %06d", i))
	}
	return out
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func checkLines(t *testing.T, got []string, from, to int) {
	t.Helper()
	want := seqLines(from, to)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d (%s .. %s)\n%s", len(got), len(want), want[0], want[len(want)-1], diffSummary(got, want))
	}
}

func diffSummary(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at %d: got %q, want %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other; got ends with %q", got[max(0, len(got)-1):])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t *testing.T, from string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	if err := os.WriteFile(from+".gz", buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(from)
}

// shiftGenerations renames path.N to path.N+1 (also .gz), oldest first,
// making room for a new path.1.
func shiftGenerations(t *testing.T, path string) {
	t.Helper()
	top := 0
	for n := 1; ; n++ {
		_, e1 := os.Stat(fmt.Sprintf("%s.%d", path, n))
		_, e2 := os.Stat(fmt.Sprintf("%s.%d.gz", path, n))
		if e1 != nil && e2 != nil {
			break
		}
		top = n
	}
	for n := top; n >= 1; n-- {
		for _, ext := range []string{"", ".gz"} {
			from := fmt.Sprintf("%s.%d%s", path, n, ext)
			if _, err := os.Stat(from); err == nil {
				if err := os.Rename(from, fmt.Sprintf("%s.%d%s", path, n+1, ext)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestFollowRenameRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 10)...)
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	c.waitFor(t, 10)
	appendLines(t, path, seqLines(10, 20)...)
	os.Rename(path, path+".1")
	// Late writes to the renamed file before the writer reopens.
	appendLines(t, path+".1", seqLines(20, 25)...)
	appendLines(t, path, seqLines(25, 40)...)
	checkLines(t, c.waitFor(t, 40), 0, 40)
}

func TestFollowCopytruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 10)...)
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	c.waitFor(t, 10)
	for round := 1; round <= 3; round++ {
		appendLines(t, path, seqLines(round*100-90, round*100)...)
		// Some of these lines may not have been read before the copy.
		shiftGenerations(t, path)
		copyFile(t, path, path+".1")
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendLines(t, path, seqLines(round*100, round*100+10)...)
		// The follower sees this round's last lines before the next
		// copytruncate: a file written and copy-truncated before the
		// follower saw any of its bytes is Follow's documented blind spot
		// (a loaded machine hit it here, between two 5 ms polls).
		c.waitFor(t, 10+round*100)
	}
	want := seqLines(0, 10)
	for round := 1; round <= 3; round++ {
		want = append(want, seqLines(round*100-90, round*100+10)...)
	}
	got := c.waitFor(t, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s", diffSummary(got, want))
	}
}

func TestFollowTruncatedAndRegrownBetweenPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 5)...)
	c := startFollow(t, path, Position{}, 300*time.Millisecond)
	c.waitFor(t, 5)
	// Within one poll interval: more lines, copy, truncate, and more lines
	// than before, so that the file is longer than the old offset.
	appendLines(t, path, seqLines(5, 8)...)
	copyFile(t, path, path+".1")
	os.Truncate(path, 0)
	appendLines(t, path, seqLines(8, 30)...)
	checkLines(t, c.waitFor(t, 30), 0, 30)
}

func TestFollowSeveralRenamesBetweenPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 3)...)
	c := startFollow(t, path, Position{}, 300*time.Millisecond)
	c.waitFor(t, 3)
	appendLines(t, path, seqLines(3, 5)...)
	os.Rename(path, path+".1")
	appendLines(t, path, seqLines(5, 8)...)
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	appendLines(t, path, seqLines(8, 12)...)
	checkLines(t, c.waitFor(t, 12), 0, 12)
}

func TestFollowHoldsPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, "first")
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	c.waitFor(t, 1)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	defer f.Close()
	f.WriteString("second, in two ")
	time.Sleep(50 * time.Millisecond)
	if got := c.snapshot(); len(got) != 1 {
		t.Fatalf("partial line delivered: %q", got)
	}
	f.WriteString("writes\nthird\n")
	got := c.waitFor(t, 3)
	if want := []string{"first", "second, in two writes", "third"}; !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	// The position points after "third".
	pos := c.stop(t)
	fi, _ := os.Stat(path)
	if pos.Offset != fi.Size() {
		t.Errorf("position offset %d, file size %d", pos.Offset, fi.Size())
	}
}

func TestFollowPartialLineAtEndOfRotatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, "one")
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	c.waitFor(t, 1)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("cut short")
	f.Close()
	os.Rename(path, path+".1")
	appendLines(t, path, "two")
	got := c.waitFor(t, 3)
	if want := []string{"one", "cut short", "two"}; !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestFollowOverlongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	long := strings.Repeat("x", 3*MaxLineLength)
	appendLines(t, path, "before", long, "after")
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	got := c.waitFor(t, 3)
	if len(got) != 3 || got[0] != "before" || len(got[1]) != MaxLineLength+1 || got[2] != "after" {
		t.Fatalf("got %d lines, middle one %d bytes", len(got), len(got[min(1, len(got)-1)]))
	}
	p := testParser()
	if _, _, err := p.Parse(got[1]); err != ErrLineTooLong {
		t.Errorf("cut line: %v", err)
	}
}

func TestFollowResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"same file", func(t *testing.T, path string) {}},
		{"renamed", func(t *testing.T, path string) {
			os.Rename(path, path+".1")
		}},
		{"renamed twice", func(t *testing.T, path string) {
			os.Rename(path, path+".1")
			appendLines(t, path, seqLines(30, 35)...)
			os.Rename(path+".1", path+".2")
			os.Rename(path, path+".1")
		}},
		{"renamed and compressed", func(t *testing.T, path string) {
			os.Rename(path, path+".1")
			appendLines(t, path, seqLines(30, 35)...)
			os.Rename(path+".1", path+".2")
			gzipFile(t, path+".2")
			os.Rename(path, path+".1")
		}},
		{"copytruncate", func(t *testing.T, path string) {
			copyFile(t, path, path+".1")
			os.Truncate(path, 0)
		}},
		{"copytruncate and compressed", func(t *testing.T, path string) {
			copyFile(t, path, path+".1")
			os.Truncate(path, 0)
			appendLines(t, path, seqLines(30, 35)...)
			os.Rename(path+".1", path+".2")
			gzipFile(t, path+".2")
			copyFile(t, path, path+".1")
			os.Truncate(path, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mail.log")
			appendLines(t, path, seqLines(0, 20)...)
			c := startFollow(t, path, Position{}, 5*time.Millisecond)
			checkLines(t, c.waitFor(t, 20), 0, 20)
			pos := c.stop(t)

			// While no follower runs: more lines, then rotation.
			appendLines(t, path, seqLines(20, 30)...)
			tc.rotate(t, path)
			if _, err := os.Stat(path); err != nil {
				appendLines(t, path) // create the new live file
			}
			// The number of lines written before the rotation.
			n := 30
			if strings.Contains(tc.name, "twice") || strings.Contains(tc.name, "compressed") {
				n = 35
			}
			appendLines(t, path, seqLines(n, n+10)...)

			c2 := startFollow(t, path, pos, 5*time.Millisecond)
			checkLines(t, c2.waitFor(t, n+10-20), 20, n+10)
		})
	}
}

func TestFollowStartNotFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 5)...)
	bogus := Position{Dev: 1, Ino: 2, Offset: 10, HeadLen: 4, HeadHash: "00"}
	c := startFollow(t, path, bogus, 5*time.Millisecond)
	checkLines(t, c.waitFor(t, 5), 0, 5)
	// An invalid position is ignored too.
	c2 := startFollow(t, path, Position{Ino: 3, HeadLen: 1 << 30}, 5*time.Millisecond)
	checkLines(t, c2.waitFor(t, 5), 0, 5)
}

func TestFollowWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	appendLines(t, path, seqLines(0, 3)...)
	checkLines(t, c.waitFor(t, 3), 0, 3)
}

func TestFollowCallbackErrorStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 3)...)
	boom := fmt.Errorf("boom")
	err := Follow(context.Background(), FollowOptions{Path: path, Poll: time.Millisecond}, func(b Batch) error {
		if len(b.Lines) > 0 {
			return boom
		}
		return nil
	})
	if err != boom {
		t.Fatalf("Follow = %v", err)
	}
}

func TestStartOfFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, "abc")
	pos, err := StartOfFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Offset != 0 || pos.HeadLen != 4 || pos.HeadHash != hashHead([]byte("abc\n")) || pos.Ino == 0 {
		t.Errorf("%+v", pos)
	}
	if _, err := StartOfFile(path + ".missing"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// readOutput returns the Reason of every JSON line in the output file.
func readOutput(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var r Rejection
		if err := r.UnmarshalJSON([]byte(l)); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		out = append(out, r.Reason)
	}
	return out
}

func seqReasons(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("seq %06d", i))
	}
	return out
}

func TestFollowToFileDropsUnsavedOutput(t *testing.T) {
	dir := t.TempDir()
	logPath, out, state := filepath.Join(dir, "mail.log"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "state.json")
	for i := range 5 {
		appendLines(t, logPath, rejectLine("Nov 26 10:00:00", i), "Nov 26 10:00:00 mx1 noise[1]: not a rejection")
	}
	run := func(until int) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- FollowToFile(ctx, FileSinkOptions{LogPath: logPath, OutPath: out, StatePath: state,
				Poll: 5 * time.Millisecond, Parser: testParser()})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for len(readOutputLenient(out)) < until && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run(5)
	if got := readOutput(t, out); !slices.Equal(got, seqReasons(0, 5)) {
		t.Fatalf("first run: %q", got)
	}
	st, found, err := LoadState(state)
	if err != nil || !found {
		t.Fatalf("state: %v %v", found, err)
	}
	// A crash after writing output but before saving the state leaves
	// extra bytes, possibly half a line.
	f, _ := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"ts":"2026-11-26T10:00:00Z","ip":"192.0.2.7","zone":"zen.spamhaus.org","mta":"postfix-smtpd","reason":"seq 000005"}` + "\n{\"ts\":")
	f.Close()
	// And the saved position is rolled back, as if the batch of lines 3
	// and 4 had been written to the output but its state never saved.
	st.Position.Offset -= int64(len(rejectLine("Nov 26 10:00:00", 4)) + 1 + len("Nov 26 10:00:00 mx1 noise[1]: not a rejection") + 1)
	r4 := mustParse(t, rejectLine("Nov 26 10:00:00", 4))
	lineLen := int64(len(r4.AppendJSON(nil)))
	st.OutputLen -= lineLen
	if err := SaveState(state, st); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		appendLines(t, logPath, rejectLine("Nov 26 10:00:00", i))
	}
	run(8)
	if got := readOutput(t, out); !slices.Equal(got, seqReasons(0, 8)) {
		t.Fatalf("after restart: %q", got)
	}
}

func mustParse(t *testing.T, line string) Rejection {
	t.Helper()
	r, ok, err := testParser().Parse(line)
	if !ok || err != nil {
		t.Fatalf("no rejection in %q: %v", line, err)
	}
	return r
}

// readOutputLenient counts complete lines in the output file.
func readOutputLenient(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasSuffix(l, "}") {
			out = append(out, l)
		}
	}
	return out
}

func TestFollowToFileRefusesShortOutput(t *testing.T) {
	dir := t.TempDir()
	logPath, out, state := filepath.Join(dir, "mail.log"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "state.json")
	appendLines(t, logPath, "x")
	os.WriteFile(out, []byte("{}\n"), 0o644)
	if err := SaveState(state, SinkState{OutputLen: 100}); err != nil {
		t.Fatal(err)
	}
	err := FollowToFile(context.Background(), FileSinkOptions{LogPath: logPath, OutPath: out, StatePath: state})
	if err == nil || !strings.Contains(err.Error(), "fewer") {
		t.Fatalf("err = %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if _, found, err := LoadState(path); found || err != nil {
		t.Fatalf("missing state: %v %v", found, err)
	}
	want := SinkState{Position: Position{Dev: 1, Ino: 2, Offset: 3, HeadLen: 4, HeadHash: "abcd"}, OutputLen: 5}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, found, err := LoadState(path)
	if err != nil || !found || got != want {
		t.Fatalf("got %+v %v %v", got, found, err)
	}
	os.WriteFile(path, []byte(`{"version":2}`), 0o644)
	if _, _, err := LoadState(path); err == nil {
		t.Error("version 2 accepted")
	}
	os.WriteFile(path, []byte(`{"version":1,"output_len":-1}`), 0o644)
	if _, _, err := LoadState(path); err == nil {
		t.Error("negative length accepted")
	}
	os.WriteFile(path, []byte(`{`), 0o644)
	if _, _, err := LoadState(path); err == nil {
		t.Error("broken JSON accepted")
	}
}

func TestFollowToFileSavesQuietProgressOnReturn(t *testing.T) {
	dir := t.TempDir()
	logPath, out, state := filepath.Join(dir, "mail.log"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "state.json")
	appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- FollowToFile(ctx, FileSinkOptions{LogPath: logPath, OutPath: out, StatePath: state,
			Poll: 2 * time.Millisecond, Parser: testParser()})
	}()
	for deadline := time.Now().Add(10 * time.Second); len(readOutputLenient(out)) < 1 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	// Lines without rejections, read but not saved at once.
	appendLines(t, logPath, "Nov 26 10:00:01 mx1 postfix/smtpd[1]: connect from unknown[192.0.2.7]")
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, _, err := LoadState(state)
	fi, _ := os.Stat(logPath)
	if err != nil || st.Position.Offset != fi.Size() {
		t.Fatalf("saved offset %d, log size %d (%v)", st.Position.Offset, fi.Size(), err)
	}
}

func TestFollowTruncatedWithoutCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 5)...)
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	c.waitFor(t, 5)
	os.Truncate(path, 0) // "> mail.log": the old lines are gone for good
	appendLines(t, path, seqLines(5, 9)...)
	checkLines(t, c.waitFor(t, 9), 0, 9)
}

func TestFollowCurrentFileCompressedAway(t *testing.T) {
	// Within one poll interval the file being read is renamed, written to
	// and compressed (the uncompressed name removed): the follower finds it
	// again by its first bytes to learn which file comes next.
	path := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, path, seqLines(0, 5)...)
	c := startFollow(t, path, Position{}, 150*time.Millisecond)
	c.waitFor(t, 5)
	os.Rename(path, path+".1")
	appendLines(t, path+".1", seqLines(5, 8)...)
	appendLines(t, path, seqLines(8, 12)...)
	time.Sleep(20 * time.Millisecond)
	gzipFile(t, path+".1")
	checkLines(t, c.waitFor(t, 12), 0, 12)
}
