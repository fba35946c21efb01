package attempt

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBytesPerHeld: the heap a held attempt costs stays within
// BytesPerHeld, the figure memory budgets are divided by. Each attempt
// here is a new source with a full set of TCP options (the largest state).
func TestBytesPerHeld(t *testing.T) {
	const n = 66000 // a map just grown: the most per entry
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, fam := range []int{4, 6} {
		before := liveHeap()
		g := New(Config{Window: time.Hour, MaxSkew: time.Second, SplitOnNewISN: true}, func(*Attempt) {})
		ev := synevent.Event{Dst: netip.MustParseAddr("198.51.100.25"), DstPort: 25, TTL: 64, Window: 64240, OptLen: 40}
		for i := range n {
			ev.Src = netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
			if fam == 6 {
				ev.Src = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i), 15: 1})
			}
			ev.SrcPort, ev.Seq, ev.Time = uint16(i), uint32(i), t0.Add(time.Duration(i)*time.Microsecond)
			g.Add(&ev)
		}
		if g.Held() != n {
			t.Fatalf("held %d, want %d", g.Held(), n)
		}
		per := float64(liveHeap()-before) / n
		runtime.KeepAlive(g)
		t.Logf("IPv%d: %.0f bytes per held attempt", fam, per)
		if per > BytesPerHeld {
			t.Errorf("IPv%d: %.0f bytes per held attempt, BytesPerHeld is %d", fam, per, BytesPerHeld)
		}
	}
}
