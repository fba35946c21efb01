package pipeline

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// discard is a Recorder that keeps nothing: the benchmark times the
// pipeline, not the disk.
type discard struct{}

func (discard) RecordAttempt(*attempt.Attempt, bool, []byte) (bool, error)     { return true, nil }
func (discard) RecordAssociation(*associate.Association, []byte) (bool, error) { return true, nil }

// scenarioEvents generates a high-density scenario (3000 hosts, density 3,
// one hour: about 160,000 SYNs) and returns its SYN events.
func scenarioEvents(b *testing.B) []synevent.Event {
	b.Helper()
	dir := b.TempDir()
	if out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "9", "-hosts", "3000", "-density", "3",
		"-duration", "1h", "-out", dir).CombinedOutput(); err != nil {
		b.Fatalf("genscenario: %v\n%s", err, out)
	}
	r, err := capture.Open(filepath.Join(dir, "syns.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	dp := dataplane.DefaultConfig()
	dp.Mode, dp.RateLimit = dataplane.ModeObserve, 0
	er := capture.NewEventReader(r, dp)
	var evs []synevent.Event
	for {
		ev, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, *ev)
	}
	return evs
}

func newBenchPipeline(b *testing.B) *Pipeline {
	b.Helper()
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig(), Recorder: discard{}},
		fingerprint.Builtin(), rejectlog.NewSet(24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPipeline: SYN events per second through grouping, fingerprinting
// and association (issue 9's bar: 1 M/s), and heap bytes per live attempt
// (bar: 256).
func BenchmarkPipeline(b *testing.B) {
	if os.Getenv("MXS_BENCH_PIPELINE") == "" && testing.Short() {
		b.Skip("generates a scenario")
	}
	evs := scenarioEvents(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		p := newBenchPipeline(b)
		for i := range evs {
			if err := p.Write(&evs[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/time.Since(start).Seconds(), "SYNs/s")
	b.StopTimer()

	// Memory: the heap held per live attempt, halfway through the hour.
	p := newBenchPipeline(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range evs[:len(evs)/2] {
		_ = p.Write(&evs[i])
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if path := os.Getenv("MXS_HEAP_PROFILE"); path != "" {
		// What the pipeline holds halfway, by allocation site (set
		// runtime.MemProfileRate=1 through -memprofilerate 1 for every
		// allocation): go tool pprof -sample_index=inuse_space -top PATH.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	if live := p.Live(); live > 0 {
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(live), "B/live-attempt")
		b.ReportMetric(float64(live), "live-attempts")
	}
	runtime.KeepAlive(p)
	runtime.KeepAlive(evs) // the events are not the pipeline's: keep them out of the difference
}
