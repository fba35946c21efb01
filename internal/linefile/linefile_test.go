package linefile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullDisk is a regular file that takes at most room more bytes: a write
// past it is cut short with ENOSPC, as a full file system does.
type fullDisk struct {
	*os.File
	room int
}

func (d *fullDisk) Write(b []byte) (int, error) {
	if len(b) <= d.room {
		d.room -= len(b)
		return d.File.Write(b)
	}
	n, _ := d.File.Write(b[:d.room])
	d.room -= n
	return n, &os.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func line(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d,"pad":"xxxxxxxxxx"}`+"\n", i)) }

func openFull(t *testing.T, room int, c *clock) (*File, *fullDisk, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d := &fullDisk{File: f, room: room}
	return New(d, 0, Config{Name: "test", BufSize: 100, Now: c.now}), d, path
}

// wholeLines checks that path holds only whole lines and returns them.
func wholeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends with a torn line: %q", path, b)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

// TestFullDiskCutsBackAndResumes: a write cut short by a full disk leaves
// only whole lines, the lines lost are counted, one try per Retry interval
// is made while failing, and writing resumes when space returns.
func TestFullDiskCutsBackAndResumes(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l, d, path := openFull(t, 100, c) // room for 3 lines and a bit
	n := len(line(0))
	for i := range 10 {
		l.Write(line(i))
	}
	l.Flush()
	got := wholeLines(t, path)
	if len(got) != 3 || !l.Failing() {
		t.Fatalf("%d lines written (want 3), failing %v", len(got), l.Failing())
	}
	if l.Dropped() != 7 {
		t.Errorf("dropped %d, want 7", l.Dropped())
	}
	// While failing, lines within the retry interval are dropped without a
	// write; the disk is still full.
	room := d.room
	l.Write(line(10))
	l.Flush()
	if d.room != room || l.Dropped() != 8 {
		t.Errorf("a write was tried within the retry interval (room %d -> %d), dropped %d", room, d.room, l.Dropped())
	}
	// Space returns; after the interval the next line goes through.
	d.room = 10 * n
	c.t = c.t.Add(time.Second)
	l.Write(line(11))
	if l.Failing() {
		t.Fatal("still failing after space returned")
	}
	l.Write(line(12))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got = wholeLines(t, path)
	if len(got) != 5 || got[3] != string(line(11)) || got[4] != string(line(12)) {
		t.Errorf("after resume: %q", got)
	}
	if l.Dropped() != 8 {
		t.Errorf("dropped %d, want 8", l.Dropped())
	}
}

// TestRetryStillFull: a retry on a disk still full drops its line too and
// leaves the file whole.
func TestRetryStillFull(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l, d, path := openFull(t, 60, c)
	l.Write(line(0))
	l.Write(line(1))
	l.Flush()
	l.Write(line(2))
	l.Flush()
	if !l.Failing() {
		t.Fatal("not failing")
	}
	c.t = c.t.Add(2 * time.Second)
	d.room = 5 // a partial line fits
	l.Write(line(3))
	if !l.Failing() || l.Dropped() != 2 {
		t.Errorf("failing %v dropped %d", l.Failing(), l.Dropped())
	}
	if got := wholeLines(t, path); len(got) != 2 {
		t.Errorf("lines %q", got)
	}
}

// TestRepairCutsTornLine: a file ending in a partial line is cut back to
// its last whole line at open; appending goes on after it.
func TestRepairCutsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	if err := os.WriteFile(path, []byte("{\"a\":1}\n{\"a\":2}\n{\"a\""), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Config{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("{\"a\":3}\n"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n" {
		t.Errorf("after repair: %q", b)
	}
	// No newline at all: everything is a torn line.
	if err := os.WriteFile(path, []byte("{\"a\""), 0o644); err != nil {
		t.Fatal(err)
	}
	if cut, size, err := Repair(path); err != nil || cut != 4 || size != 0 {
		t.Errorf("Repair: cut %d size %d %v", cut, size, err)
	}
	// Whole files are left alone.
	if cut, _, err := Repair(path); err != nil || cut != 0 {
		t.Errorf("Repair of an empty file: %d %v", cut, err)
	}
}

// TestTail: lines come last first, across block boundaries, and fn stops it.
func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	var b strings.Builder
	for i := range 20000 {
		b.Write(line(i))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	want := 19999
	_, err := Tail(path, func(l []byte) bool {
		if string(l)+"\n" != string(line(want)) {
			t.Fatalf("line %q, want %q", l, line(want))
		}
		want--
		return true
	})
	if err != nil || want != -1 {
		t.Errorf("Tail: %v, stopped before line %d", err, want)
	}
	seen := 0
	_, _ = Tail(path, func([]byte) bool { seen++; return seen < 3 })
	if seen != 3 {
		t.Errorf("Tail went on after fn said stop: %d", seen)
	}
	if _, err := Tail(filepath.Join(t.TempDir(), "none"), func([]byte) bool { return true }); err != nil {
		t.Errorf("Tail of a missing file: %v", err)
	}
}

// TestTailOverlongLine: a line longer than MaxTailLine (garbage: a crash
// in the middle of a run of NULs, say) is skipped and counted without
// being held (what Tail allocates does not grow with it), and the lines
// around it still come back.
func TestTailOverlongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	alloc := map[int]uint64{}
	for _, size := range []int{3 * MaxTailLine, 12 * MaxTailLine} {
		var b bytes.Buffer
		b.Write(line(1))
		b.Write(bytes.Repeat([]byte{'x'}, size))
		b.WriteByte('\n')
		b.Write(line(2))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var got []string
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		skipped, err := Tail(path, func(l []byte) bool { got = append(got, string(l)+"\n"); return true })
		runtime.ReadMemStats(&after)
		if err != nil || skipped != 1 || len(got) != 2 || got[0] != string(line(2)) || got[1] != string(line(1)) {
			t.Errorf("Tail: %v, skipped %d, lines %q", err, skipped, got)
		}
		alloc[size] = after.TotalAlloc - before.TotalAlloc
	}
	if a, b := alloc[3*MaxTailLine], alloc[12*MaxTailLine]; b > a+1<<20 {
		t.Errorf("allocated %d bytes for a line of %d, %d for one of %d: it grows with the line", a, 3*MaxTailLine, b, 12*MaxTailLine)
	}
	// A file that starts with the long line.
	if err := os.WriteFile(path, append(bytes.Repeat([]byte{'y'}, 2*MaxTailLine), append([]byte{'\n'}, line(3)...)...), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	if skipped, err := Tail(path, func([]byte) bool { n++; return true }); err != nil || skipped != 1 || n != 1 {
		t.Errorf("long first line: %v, skipped %d, %d lines", err, skipped, n)
	}
}
