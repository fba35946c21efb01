package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

const syns = "../../testdata/syns.pcap" // 12 SYNs to port 25

// count feeds cfg and returns the SYNs the sink got.
func count(t *testing.T, ctx context.Context, cfg Config) (int, error) {
	t.Helper()
	n := 0
	err := Feed(ctx, cfg, SinkFunc(func(ev *synevent.Event) error {
		if ev.DstPort != 25 {
			t.Errorf("SYN to port %d", ev.DstPort)
		}
		n++
		return nil
	}))
	return n, err
}

func TestFeedCaptures(t *testing.T) {
	dp, err := Dataplane([]uint16{25})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(syns)
	if err != nil {
		t.Fatal(err)
	}
	// The same file twice: the bytes read add both up.
	for _, merge := range []bool{false, true} {
		var read atomic.Int64
		n, err := count(t, context.Background(), Config{Captures: []string{syns, syns}, Dataplane: dp, Read: &read, Merge: merge})
		if err != nil || n != 24 {
			t.Fatalf("merge %v: %d SYNs, %v; want 24", merge, n, err)
		}
		if read.Load() != 2*fi.Size() {
			t.Errorf("merge %v: %d bytes read, want %d", merge, read.Load(), 2*fi.Size())
		}
	}
	// Other ports: none of them.
	other, _ := Dataplane([]uint16{587})
	if n, err := count(t, context.Background(), Config{Captures: []string{syns}, Dataplane: other}); err != nil || n != 0 {
		t.Errorf("port 587: %d SYNs, %v", n, err)
	}
}

// A capture cut short keeps the SYNs before the cut and says so; the next
// file is read.
func TestFeedCutShort(t *testing.T) {
	b, err := os.ReadFile(syns)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	dp, _ := Dataplane([]uint16{25})
	for _, merge := range []bool{false, true} {
		core, logs := observer.New(zap.WarnLevel)
		n, err := count(t, context.Background(), Config{Captures: []string{cut, syns}, Dataplane: dp, Log: zap.New(core), Merge: merge})
		if err != nil || n <= 12 || n >= 24 {
			t.Errorf("merge %v: %d SYNs, %v; want 12 and some", merge, n, err)
		}
		if w := logs.FilterMessageSnippet("capture cut short").All(); len(w) != 1 || w[0].ContextMap()["file"] != cut {
			t.Errorf("merge %v: warnings %v", merge, logs.All())
		}
	}
}

// Feed stops when its context is done, and at the sink's first error.
func TestFeedStops(t *testing.T) {
	dp, _ := Dataplane([]uint16{25})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := count(t, ctx, Config{Captures: []string{syns}, Dataplane: dp}); err == nil || !strings.Contains(err.Error(), "interrupted after 0 SYNs") || n != 1 {
		t.Errorf("cancelled: %d SYNs, %v", n, err)
	}
	// Several captures merged: cancelled before, or after a few SYNs, the
	// feed says so, whichever reader saw it first.
	for range 20 {
		if _, err := count(t, ctx, Config{Captures: []string{syns, syns, syns}, Dataplane: dp, Merge: true}); err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("merged, cancelled: %v", err)
		}
		mid, stop := context.WithCancel(context.Background())
		n := 0
		err := Feed(mid, Config{Captures: []string{syns, syns, syns}, Dataplane: dp, Merge: true}, SinkFunc(func(*synevent.Event) error {
			if n++; n == 5 {
				stop()
			}
			return nil
		}))
		stop()
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("merged, cancelled after 5 SYNs: %v", err)
		}
	}
	boom := errors.New("boom")
	err := Feed(context.Background(), Config{Captures: []string{syns}, Dataplane: dp}, SinkFunc(func(*synevent.Event) error { return boom }))
	if !errors.Is(err, boom) {
		t.Errorf("sink error: %v", err)
	}
	if _, err := count(t, context.Background(), Config{Captures: []string{"/nonexistent.pcap"}, Dataplane: dp}); err == nil {
		t.Error("a missing capture was read")
	}
	if _, err := count(t, context.Background(), Config{Store: filepath.Join(t.TempDir(), "none.db")}); err == nil {
		t.Error("a missing store was read")
	}
}

// Captures of one time span (two interfaces) are merged by time: the SYNs
// of a capture split in two, in either order, come out as the whole
// capture's.
func TestFeedMergesByTime(t *testing.T) {
	r, err := capture.Open(syns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var halves [2]*capture.RotatingWriter
	for i := range halves {
		if halves[i], err = capture.NewRotatingWriter(filepath.Join(dir, fmt.Sprintf("half%d.pcap", i)), 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := halves[i%2].WriteFrame(f.Time, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	for _, w := range halves {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dp, _ := Dataplane([]uint16{25})
	seq := func(captures ...string) []string {
		var got []string
		err := Feed(context.Background(), Config{Captures: captures, Dataplane: dp, Merge: true}, SinkFunc(func(ev *synevent.Event) error {
			got = append(got, fmt.Sprintf("%s %s:%d", ev.Time.Format(time.RFC3339Nano), ev.Src, ev.SrcPort))
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := seq(syns)
	a, b := filepath.Join(dir, "half0.pcap"), filepath.Join(dir, "half1.pcap")
	if len(seq(a)) == 0 || len(seq(b)) == 0 {
		t.Fatal("a half has no SYN: the test tests nothing")
	}
	for _, captures := range [][]string{{a, b}, {b, a}} {
		if got := seq(captures...); !slices.Equal(got, want) {
			t.Errorf("%v:\n%q\nwant\n%q", captures, got, want)
		}
	}
	// An error in one capture stops the feed, the others' readers too.
	if _, err := count(t, context.Background(), Config{Captures: []string{a, "/nonexistent.pcap", b}, Dataplane: dp, Merge: true}); err == nil {
		t.Error("a missing capture among others was read")
	}
}
