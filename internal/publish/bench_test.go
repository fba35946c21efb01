package publish

import (
	"context"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// enqueueAttempts writes n distinct IPv6 attempts to p (its outbox).
func enqueueAttempts(b *testing.B, p *Publisher, st *store.Store, n int) {
	base := time.Unix(1700000000, 0).UTC()
	a := record.Attempt{Family: record.IPv6, Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25, SYNs: 2, OS: "Linux",
		OSClass: "unix", RawSig: "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0", AddrType: "eui64"}
	for i := 0; i < n; i++ {
		a.FirstSeen = base.Add(time.Duration(i) * time.Millisecond)
		a.LastSeen = a.FirstSeen
		a.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)})
		a.SrcPort = uint16(i)
		if err := p.WriteAttempt(&a); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Sync(); err != nil {
		b.Fatal(err)
	}
}

func waitSent(b *testing.B, p *Publisher) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if left, err := p.Wait(ctx); err != nil {
		b.Fatalf("%d left: %v", left, err)
	}
}

// BenchmarkPublish: attempts from the sink to the acknowledgement of an
// embedded server (outbox commits, reads, async publish, deletes).
// records/s is the end-to-end rate; allocs/op are per record.
func BenchmarkPublish(b *testing.B) {
	_, st, p := setup(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	enqueueAttempts(b, p, st, b.N)
	waitSent(b, p)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkPublishDrain: the publisher alone, from its start to the
// acknowledgement of the last of b.N attempts waiting in the outbox
// (reads, async publish, deletes). CPU-µs/record is the process's CPU
// time per record, the embedded server's included (an upper bound of
// what publishing costs the sensor).
func BenchmarkPublishDrain(b *testing.B) {
	srv := startServer(b)
	st := openStore(b, filepath.Join(b.TempDir(), "s.db"))
	b.Cleanup(func() { st.Close() })
	p := newPublisher(b, srv.url(), st)
	enqueueAttempts(b, p, st, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Stop() })
	waitSent(b, p)
	took, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "CPU-µs/record")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
