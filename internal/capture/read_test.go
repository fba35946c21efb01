package capture

import (
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

func TestSkippedLogFields(t *testing.T) {
	enc := zapcore.NewMapObjectEncoder()
	Skipped{Short: 2, Oversized: 1}.MarshalLogObject(enc)
	if want := map[string]any{"skipped_short": uint64(2), "skipped_oversized": uint64(1)}; !reflect.DeepEqual(enc.Fields, want) {
		t.Errorf("fields %v, want %v", enc.Fields, want)
	}
}

// TestReadFiles: the sample capture whole and cut short; the cut one keeps
// its whole frames, is warned of and counted.
func TestReadFiles(t *testing.T) {
	const sample = "../../testdata/syns.pcap"
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside the last frame, and gzipped whole.
	cut := filepath.Join(t.TempDir(), "cut.pcap.gz")
	os.WriteFile(cut, gzipBytes(t, data[:len(data)-30]), 0o644)
	core, logs := observer.New(zap.InfoLevel)
	var n int
	var read atomic.Int64
	total, truncated, err := ReadFiles([]string{sample, cut}, dataplane.DefaultConfig(), &read, zap.New(core),
		func(*synevent.Event) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 24 || truncated != 1 || total[dataplane.CntSynMatched] != 24 || total[dataplane.CntPackets] != 29 {
		t.Errorf("%d events, %d truncated, counters %v", n, truncated, total.Map())
	}
	// The bytes counted are the files' (gzip: compressed) sizes.
	if st, err := os.Stat(cut); err != nil || read.Load() != int64(len(data))+st.Size() {
		t.Errorf("%d bytes counted, want %d + the gzip file's size", read.Load(), len(data))
	}
	reads := logs.FilterMessage("capture read").All()
	if len(reads) != 2 || reads[1].ContextMap()["frames"] != uint64(14) || reads[1].ContextMap()["syn_events"] != uint64(12) {
		t.Errorf("capture read logs %v", reads)
	}
	if w := logs.FilterMessageSnippet("cut short").All(); len(w) != 1 || w[0].ContextMap()["file"] != cut {
		t.Errorf("warnings %v", w)
	}
	if _, _, err := ReadFiles([]string{filepath.Join(t.TempDir(), "none.pcap")}, dataplane.DefaultConfig(), nil, zap.NewNop(),
		func(*synevent.Event) error { return nil }); err == nil {
		t.Error("missing capture accepted")
	}
}
