package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// discard is a ResultSink that keeps nothing: the benchmark times the
// pipeline, not the disk.
type discard struct{}

func (discard) WriteAttempt(*record.Attempt) error         { return nil }
func (discard) WriteAssociation(*record.Association) error { return nil }
func (discard) Flush() error                               { return nil }

// scenarioEvents generates a scenario (by default of high density: 3000
// hosts, density 3, one hour: about 160,000 SYNs; or genscenario's args)
// and returns its SYN events.
func scenarioEvents(b testing.TB, args ...string) []synevent.Event {
	b.Helper()
	return captureEvents(b, genScenario(b, args...))
}

// genScenario runs genscenario with args into a temporary directory.
func genScenario(b testing.TB, args ...string) string {
	b.Helper()
	dir := b.TempDir()
	if len(args) == 0 {
		args = []string{"-seed", "9", "-hosts", "3000", "-density", "3", "-duration", "1h"}
	}
	args = append([]string{"run", "../../tools/genscenario", "-out", dir}, args...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		b.Fatalf("genscenario: %v\n%s", err, out)
	}
	return dir
}

// captureEvents reads the SYN events of a scenario's capture.
func captureEvents(b testing.TB, dir string) []synevent.Event {
	b.Helper()
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

// records turns events into what the live agent reads: ring records
// (pointer-free, so the benchmark's own 146,000 events do not weigh on
// every garbage collection of the pipeline's heap) and their times.
func records(evs []synevent.Event) ([]dataplane.Record, []int64) {
	recs, ts := make([]dataplane.Record, len(evs)), make([]int64, len(evs))
	for i := range evs {
		e, r := &evs[i], &recs[i]
		*r = dataplane.Record{TsNs: e.KernelNs, Ifindex: e.Ifindex, RxQueue: e.RxQueue, VlanOuter: e.VLAN,
			VlanInner: e.VLANInner, Sport: e.SrcPort, Dport: e.DstPort, Seq: e.Seq, Ack: e.Ack, Window: e.Window,
			UrgPtr: e.Urgent, TcpFlags: e.Flags, Doff: e.DataOffset, OptLen: e.OptLen, Options: e.Options, Ttl: e.TTL,
			IpId: e.IPID, IpFlags: e.IPFlags, Tos: e.TOS, FlowLabel: e.FlowLabel, IpHdrLen: e.IPHdrLen,
			IpOptLen: e.IPOptLen, ExtCount: e.ExtHeaders, PayloadLen: e.PayloadLen, Action: uint8(e.Action)}
		if e.Src.Is4() {
			r.Family = 4
			s, d := e.Src.As4(), e.Dst.As4()
			copy(r.Saddr[:], s[:])
			copy(r.Daddr[:], d[:])
		} else {
			r.Family = 6
			r.Saddr, r.Daddr = e.Src.As16(), e.Dst.As16()
		}
		ts[i] = e.Time.UnixNano()
	}
	return recs, ts
}

// runRecords writes the records through p, as the agent would decode them
// into ev, and closes it.
func runRecords(b *testing.B, p *Pipeline, recs []dataplane.Record, ts []int64, ev *synevent.Event) {
	for i := range recs {
		ev.FromRecord(&recs[i], time.Unix(0, ts[i]))
		if err := p.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}

func newBenchPipeline(b *testing.B) *Pipeline { return newShardedBenchPipeline(b, 1) }

func newShardedBenchPipeline(b *testing.B, shards int) *Pipeline {
	b.Helper()
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig(), Shards: shards},
		fingerprint.Builtin(), rejectlog.NewSet(24*time.Hour), discard{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPipeline: SYN events per second through grouping, fingerprinting
// and association (issue 19's bar: 1 M/s), heap bytes per live attempt
// (bar: 400) and, apart, per history record.
func BenchmarkPipeline(b *testing.B) {
	if os.Getenv("MXS_BENCH_PIPELINE") == "" && testing.Short() {
		b.Skip("generates a scenario")
	}
	evs := scenarioEvents(b)
	recs, ts := records(evs)
	// Each event as the agent gets it: a ring record decoded into one
	// reused event.
	for i := range evs {
		var got synevent.Event
		got.FromRecord(&recs[i], time.Unix(0, ts[i]))
		want := evs[i]
		if !got.Time.Equal(want.Time) {
			b.Fatalf("record round trip: time %v, want %v", got.Time, want.Time)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if got != want {
			b.Fatalf("record round trip: %+v, want %+v", got, want)
		}
	}
	evs = nil
	runtime.GC()
	var ev synevent.Event
	var out uint64 // records out: attempts and associations
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		p := newBenchPipeline(b)
		runRecords(b, p, recs, ts, &ev)
		st := p.Stats()
		out += st.Attempts + st.Associated
	}
	took := time.Since(start).Seconds()
	b.ReportMetric(float64(len(recs)*b.N)/took, "SYNs/s")
	// What a publisher or a collector gets from the pipeline at that rate.
	b.ReportMetric(float64(out)/took, "records/s")
	b.StopTimer()

	// Memory: the heap held per live attempt, halfway through the hour.
	p := newBenchPipeline(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range recs[:len(recs)/2] {
		ev.FromRecord(&recs[i], time.Unix(0, ts[i]))
		_ = p.Write(&ev)
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
	// The history (per /64 and IPv4 address, bounded by MaxHistory) is
	// not per attempt: it is measured apart, by forgetting it.
	hist := p.e.HistoryRecords()
	p.e.ForgetHistory()
	runtime.GC()
	runtime.GC()
	var noHist runtime.MemStats
	runtime.ReadMemStats(&noHist)
	if live := p.Live(); live > 0 {
		b.ReportMetric(float64(int64(noHist.HeapAlloc)-int64(before.HeapAlloc))/float64(live), "B/live-attempt")
		b.ReportMetric(float64(live), "live-attempts")
	}
	if hist > 0 {
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(noHist.HeapAlloc))/float64(hist), "B/history-record")
		b.ReportMetric(float64(hist), "history-records")
	}
	runtime.KeepAlive(p)
	runtime.KeepAlive(recs) // the records are not the pipeline's: keep them out of the difference
	runtime.KeepAlive(ts)
}

// BenchmarkPipelineShards: SYN events per second with grouping and
// fingerprinting on 1 (the caller's goroutine) and 2 shards; run with
// -cpu 1,2 for the scaling of the parallel front end.
func BenchmarkPipelineShards(b *testing.B) {
	if os.Getenv("MXS_BENCH_PIPELINE") == "" && testing.Short() {
		b.Skip("generates a scenario")
	}
	recs, ts := records(scenarioEvents(b))
	runtime.GC()
	for _, shards := range []int{1, 2} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			var ev synevent.Event
			cpu0, start := cpuTime(b), time.Now()
			for range b.N {
				runRecords(b, newShardedBenchPipeline(b, shards), recs, ts, &ev)
			}
			b.ReportMetric(float64(len(recs)*b.N)/time.Since(start).Seconds(), "SYNs/s")
			// The CPU all goroutines spent: what sharding costs, and the
			// figure a loaded machine disturbs least.
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(len(recs)*b.N), "cpu-ns/SYN")
		})
	}
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
