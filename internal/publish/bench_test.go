package publish

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// BenchmarkPublish: attempts from the sink to the acknowledgement of an
// embedded server (outbox commits, reads, async publish, deletes).
// records/s is the end-to-end rate; allocs/op are per record.
func BenchmarkPublish(b *testing.B) {
	_, st, p := setup(b)
	base := time.Unix(1700000000, 0).UTC()
	a := record.Attempt{Family: record.IPv6, Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25, SYNs: 2, OS: "Linux",
		OSClass: "unix", RawSig: "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0", AddrType: "eui64"}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if left, err := p.Wait(ctx); err != nil {
		b.Fatalf("%d left: %v", left, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
