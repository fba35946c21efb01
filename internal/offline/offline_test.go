package offline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

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
	var read atomic.Int64
	n, err := count(t, context.Background(), Config{Captures: []string{syns, syns}, Dataplane: dp, Read: &read})
	if err != nil || n != 24 {
		t.Fatalf("%d SYNs, %v; want 24", n, err)
	}
	if read.Load() != 2*fi.Size() {
		t.Errorf("%d bytes read, want %d", read.Load(), 2*fi.Size())
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
	core, logs := observer.New(zap.WarnLevel)
	n, err := count(t, context.Background(), Config{Captures: []string{cut, syns}, Dataplane: dp, Log: zap.New(core)})
	if err != nil || n <= 12 || n >= 24 {
		t.Errorf("%d SYNs, %v; want 12 and some", n, err)
	}
	if w := logs.FilterMessageSnippet("capture cut short").All(); len(w) != 1 || w[0].ContextMap()["file"] != cut {
		t.Errorf("warnings %v", logs.All())
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
