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

// damagedGzip writes head and then tail gzip-compressed to path, head
// flushed on its own so that it decompresses whole before any of tail's
// data, and damages the file: "truncated" cuts it in the middle of tail's
// data, "checksum" spoils the CRC-32 in the trailer, "header" leaves only
// the gzip magic and garbage, "padding" appends NUL bytes (a crash after
// the file system allocated blocks).
func damagedGzip(t *testing.T, path, head, tail, kind string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(head))
	zw.Flush()
	headLen := buf.Len()
	zw.Write([]byte(tail))
	zw.Close()
	b := buf.Bytes()
	switch kind {
	case "truncated":
		b = b[:headLen+(len(b)-headLen)/2]
	case "checksum":
		b[len(b)-8] ^= 0xff
	case "header":
		b = []byte("\x1f\x8bnot gzip at all\n")
	case "padding":
		b = append(b, make([]byte, 4096)...)
	default:
		t.Fatalf("unknown damage %q", kind)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damagedSet writes a rotation set whose mail.log.2.gz is damaged: every
// file holds rejections numbered in log order, and .2.gz's tail ends with
// one (seq 5) after many other lines, so that a cut in the middle of its
// data loses it. It returns the live file's path.
func damagedSet(t *testing.T, kind string) string {
	t.Helper()
	base := filepath.Join(t.TempDir(), "mail.log")
	writeGzip(t, base+".3.gz", rejectLine("Nov 26 10:00:01", 1)+"\n")
	var tail strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&tail, "Nov 26 10:00:04 mx1 postfix/smtpd[1]: connect from host%d.example.net[192.0.2.%d]\n", i*7919%100003, i%250)
	}
	tail.WriteString(rejectLine("Nov 26 10:00:05", 5) + "\n")
	damagedGzip(t, base+".2.gz", rejectLine("Nov 26 10:00:02", 2)+"\n"+rejectLine("Nov 26 10:00:03", 3)+"\n", tail.String(), kind)
	os.WriteFile(base+".1", []byte(rejectLine("Nov 26 10:00:06", 6)+"\n"), 0o644)
	os.WriteFile(base, []byte(rejectLine("Nov 26 10:00:07", 7)+"\n"), 0o644)
	return base
}

// wantAfterDamage lists the rejections (their reasons) a reader must find
// in damagedSet(kind).
func wantAfterDamage(kind string) []string {
	switch kind {
	case "truncated":
		return []string{"seq 000001", "seq 000002", "seq 000003", "seq 000006", "seq 000007"}
	case "header":
		return []string{"seq 000001", "seq 000006", "seq 000007"}
	}
	// The data is all there; only the end of the file is wrong.
	return []string{"seq 000001", "seq 000002", "seq 000003", "seq 000005", "seq 000006", "seq 000007"}
}

var damageKinds = []string{"truncated", "checksum", "header", "padding"}

// A damaged rotated .gz is read up to the damage, counted and reported;
// the files after it are read.
func TestScanFilesDamagedGzip(t *testing.T) {
	for _, kind := range damageKinds {
		t.Run(kind, func(t *testing.T) {
			base := damagedSet(t, kind)
			paths, err := Generations(base)
			if err != nil {
				t.Fatal(err)
			}
			p := testParser()
			var got []string
			var damaged []*DamageError
			err = ScanFiles(context.Background(), paths, p, func(d *DamageError) { damaged = append(damaged, d) }, func(r Rejection) error {
				got = append(got, r.Reason)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := wantAfterDamage(kind); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if len(damaged) != 1 || damaged[0].Path != base+".2.gz" || damaged[0].Err == nil ||
				!strings.Contains(damaged[0].Error(), "mail.log.2.gz: compressed data damaged") {
				t.Errorf("damage reports %v", damaged)
			}
			if c := p.Counters(); c.DamagedFiles != 1 {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

// A truncated bzip2 file is damage too.
func TestScanFilesTruncatedBzip2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(sampleDir, "postscreen.log.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "postscreen.log.1.bz2")
	os.WriteFile(path, b[:len(b)/2], 0o644)
	p := testParser()
	var damaged []*DamageError
	err = ScanFiles(context.Background(), []string{path}, p, func(d *DamageError) { damaged = append(damaged, d) }, func(Rejection) error { return nil })
	if err != nil || len(damaged) != 1 || p.Counters().DamagedFiles != 1 {
		t.Errorf("err %v, damage %v, counters %+v", err, damaged, p.Counters())
	}
}

// A read error that is not damage of the compressed data still stops the
// scan.
func TestScanFilesMissingFileIsAnError(t *testing.T) {
	err := ScanFiles(context.Background(), []string{filepath.Join(t.TempDir(), "gone.gz")}, testParser(), nil, func(Rejection) error { return nil })
	if err == nil {
		t.Error("no error")
	}
}

// The follower reads a damaged generation up to the damage, reports it in
// a batch, and goes on with the next files.
func TestFollowDamagedGzip(t *testing.T) {
	for _, kind := range damageKinds {
		t.Run(kind, func(t *testing.T) {
			base := damagedSet(t, kind)
			start, err := StartOfFile(base + ".3.gz")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := testParser()
			var (
				mu      sync.Mutex
				got     []string
				damaged []*DamageError
			)
			done := make(chan error, 1)
			go func() {
				done <- Follow(ctx, FollowOptions{Path: base, Start: start, Poll: 5 * time.Millisecond}, func(b Batch) error {
					mu.Lock()
					defer mu.Unlock()
					if b.Damage != nil {
						damaged = append(damaged, b.Damage)
						p.CountDamaged()
					}
					for _, l := range b.Lines {
						if r, ok, _ := p.Parse(l); ok {
							got = append(got, r.Reason)
						}
					}
					if len(got) > 0 && got[len(got)-1] == "seq 000007" {
						cancel()
					}
					return nil
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				cancel()
				<-done
				t.Fatal("the follower did not reach the live file")
			}
			mu.Lock()
			defer mu.Unlock()
			if want := wantAfterDamage(kind); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if len(damaged) != 1 || damaged[0].Path != base+".2.gz" || p.Counters().DamagedFiles != 1 {
				t.Errorf("damage reports %v", damaged)
			}
		})
	}
}

// nulRunLog is a rejection, a 1 MiB run of NUL bytes glued to the next
// rejection (no newline in between), and a third rejection.
func nulRunLog() string {
	return rejectLine("Nov 26 10:00:01", 1) + "\n" + strings.Repeat("\x00", 1<<20) +
		rejectLine("Nov 26 10:00:02", 2) + "\n" + rejectLine("Nov 26 10:00:03", 3) + "\n"
}

func TestScanNULRun(t *testing.T) {
	for name, tc := range map[string]struct {
		in    string
		want  []string
		lines uint64
	}{
		"glued":        {nulRunLog(), []string{"seq 000001", "seq 000002", "seq 000003"}, 4},
		"with newline": {rejectLine("Nov 26 10:00:01", 1) + "\n" + strings.Repeat("\x00", 5000) + "\n" + rejectLine("Nov 26 10:00:02", 2) + "\n", []string{"seq 000001", "seq 000002"}, 3},
		// A line cut short by the crash, then the run.
		"after a partial line": {"Nov 26 10:00:01 mx1 postfix/smtpd[1]: conn" + strings.Repeat("\x00", 70000) + rejectLine("Nov 26 10:00:02", 2) + "\n", []string{"seq 000002"}, 3},
		"at the end":           {rejectLine("Nov 26 10:00:01", 1) + "\n" + strings.Repeat("\x00", 3<<20), []string{"seq 000001"}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			p := testParser()
			var got []string
			if err := Scan(context.Background(), strings.NewReader(tc.in), p, func(r Rejection) error {
				got = append(got, r.Reason)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if c := p.Counters(); c.NULRuns != 1 || c.Lines != tc.lines || c.Lines != c.Matched+c.NotMatching+c.Garbage || c.TooLong != 0 {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

func TestFollowNULRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	os.WriteFile(path, []byte(nulRunLog()), 0o644)
	c := startFollow(t, path, Position{}, 5*time.Millisecond)
	got := c.waitFor(t, 4)
	p := testParser()
	var reasons []string
	for _, l := range got {
		if r, ok, _ := p.Parse(l); ok {
			reasons = append(reasons, r.Reason)
		}
	}
	if !slices.Equal(reasons, []string{"seq 000001", "seq 000002", "seq 000003"}) || len(got) != 4 || p.Counters().NULRuns != 1 {
		t.Errorf("rejections %v from %d lines, counters %+v", reasons, len(got), p.Counters())
	}
	// A run appended to the live file (the follower may or may not see
	// it before the line after it; the 1 MiB run above already spans its
	// reads), then the line after it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(strings.Repeat("\x00", 100000))
	f.WriteString(rejectLine("Nov 26 10:00:04", 4) + "\n")
	got = c.waitFor(t, 6)
	if len(got) != 6 || got[4] != nulLine || !strings.Contains(got[5], "seq 000004") {
		t.Errorf("after the second run: %d lines, the last %d bytes long", len(got), len(got[len(got)-1]))
	}
}

// The splitter cuts the same lines at the same offsets however the stream
// is cut into reads (a run or a newline after it may start a read).
func TestSplitterChunking(t *testing.T) {
	in := []byte("one\n\x00\x00\x00\ntwo\x00\x00three\n\n\x00four" + strings.Repeat("x", MaxLineLength+5) + "\nfive\x00")
	split := func(chunk int) ([]string, []int64) {
		var s splitter
		for off := 0; off < len(in); off += chunk {
			s.feed(in[off:min(off+chunk, len(in))], int64(off))
		}
		s.flush(int64(len(in)))
		lines, ends := s.take()
		return slices.Clone(lines), slices.Clone(ends)
	}
	wantLines, wantEnds := split(len(in))
	if len(wantLines) != 10 || wantLines[1] != nulLine || wantLines[2] != "two" || wantLines[3] != nulLine || wantLines[4] != "three" ||
		wantLines[5] != "" || wantLines[6] != nulLine || len(wantLines[7]) != MaxLineLength+1 || wantLines[8] != "five" || wantLines[9] != nulLine {
		t.Fatalf("%d lines, ends %v", len(wantLines), wantEnds)
	}
	if want := []int64{4, 8, 11, 13, 19, 20, 21, 21 + 4 + MaxLineLength + 5 + 1}; !slices.Equal(wantEnds[:8], want) {
		t.Errorf("ends %v, want %v", wantEnds[:8], want)
	}
	for _, chunk := range []int{1, 2, 3, 5, 4096} {
		lines, ends := split(chunk)
		if !slices.Equal(lines, wantLines) || !slices.Equal(ends, wantEnds) {
			t.Errorf("chunks of %d: %d lines, ends %v; want ends %v", chunk, len(lines), ends, wantEnds)
		}
	}
}
