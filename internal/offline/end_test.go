package offline

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// latestFrame is the latest frame time of the capture at path, up to a
// cut.
func latestFrame(t *testing.T, path string) time.Time {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var last time.Time
	for {
		f, err := r.Next()
		if err != nil {
			return last
		}
		if f.Time.After(last) {
			last = f.Time
		}
	}
}

// TestEnd: the end of a measurement is its latest frame (any frame, not
// only the SYNs analyze keeps), over all captures and the store's SYNs; a
// capture cut short ends at its last whole frame.
func TestEnd(t *testing.T) {
	want := latestFrame(t, syns)
	end, ok, err := End(context.Background(), Config{Captures: []string{syns}})
	if err != nil || !ok || !end.Equal(want) {
		t.Fatalf("End = %v %v %v, want %v", end, ok, err, want)
	}

	b, err := os.ReadFile(syns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	cutWant := latestFrame(t, cut)
	if !cutWant.Before(want) {
		t.Fatalf("the cut file ends at %v, the whole at %v", cutWant, want)
	}
	if end, ok, err := End(context.Background(), Config{Captures: []string{cut}}); err != nil || !ok || !end.Equal(cutWant) {
		t.Errorf("cut: End = %v %v %v, want %v", end, ok, err, cutWant)
	}
	// In any order, the latest of the files.
	if end, _, err := End(context.Background(), Config{Captures: []string{syns, cut}}); err != nil || !end.Equal(want) {
		t.Errorf("two files: End = %v %v, want %v", end, err, want)
	}

	// A store's SYN event a day later is the end.
	db := filepath.Join(dir, "s.db")
	cfg := store.DefaultConfig()
	cfg.SampleSYNs, cfg.Retention = 1, 0
	st, err := store.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	later := want.Add(24 * time.Hour)
	ev := synevent.Event{Time: later, Src: netip.MustParseAddr("192.0.2.1"), SrcPort: 1000, Dst: netip.MustParseAddr("192.0.2.25"), DstPort: 25, Flags: 2, DataOffset: 5}
	if err := st.Write(&ev); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if end, ok, err := End(context.Background(), Config{Captures: []string{syns}, Store: db}); err != nil || !ok || !end.Equal(later) {
		t.Errorf("with the store: End = %v %v %v, want %v", end, ok, err, later)
	}

	// Nothing to read: no end. Not a capture: an error naming it.
	if _, ok, err := End(context.Background(), Config{}); ok || err != nil {
		t.Errorf("no input: ok %v err %v", ok, err)
	}
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("not a capture at all"), 0o644)
	if _, _, err := End(context.Background(), Config{Captures: []string{junk}}); err == nil {
		t.Error("a file that is not a capture gave no error")
	}
}
