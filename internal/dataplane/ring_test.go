package dataplane

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// fillRing pushes n SYN records into the ring through the real program.
func fillRing(t testing.TB, obj *Objects, n int) {
	frame := syn4(nil).Build()
	out := make([]byte, 256)
	for i := 0; i < n; i++ {
		if _, err := obj.Program().Run(&ebpf.RunOptions{Data: frame, DataOut: out}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRingDrainNoAllocs: draining records allocates nothing per record.
func TestRingDrainNoAllocs(t *testing.T) {
	h := newHarness(t, Config{Ports: []uint16{25}, Mode: ModeObserve, ReplyTTL: 64, RateLimitEntries: 16, RingSize: 1 << 20})
	fillRing(t, h.obj, 300)
	h.ring.SetDeadline(time.Now().Add(5 * time.Second))
	var seq uint32
	allocs := testing.AllocsPerRun(250, func() {
		rec, err := h.ring.Next()
		if err != nil {
			t.Fatal(err)
		}
		seq += rec.Seq
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record", allocs)
	}
}

// BenchmarkRingDrain measures records per second from the ring into decoded
// Records (filling the ring is not timed).
func BenchmarkRingDrain(b *testing.B) {
	h := newHarness(b, Config{Ports: []uint16{25}, Mode: ModeObserve, ReplyTTL: 64, RateLimitEntries: 16, RingSize: 16 << 20})
	const batch = 50000
	b.ReportAllocs()
	b.StopTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		fillRing(b, h.obj, n)
		b.StartTimer()
		for i := 0; i < n; i++ {
			if _, err := h.ring.Next(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		done += n
	}
}
