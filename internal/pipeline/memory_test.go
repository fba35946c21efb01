package pipeline

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// TestHeldMemoryBound: a flood of SYNs from new IPv4 and IPv6 sources
// (each with a TCP timestamp, the largest state), far more than the
// budget holds and all within one attempt window, keeps the pipeline's
// live heap within HeldMemory; what the bound cost is counted.
func TestHeldMemoryBound(t *testing.T) {
	const budget = 8 << 20
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig(), HeldMemory: budget}, fingerprint.Builtin(), nil, discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7}
	ev := synevent.Event{DstPort: 25, TTL: 64, Window: 64240}
	ev.OptLen = uint8(copy(ev.Options[:], opts))
	var peak uint64
	const n = 60000
	for i := range n {
		ev.Src, ev.Dst = netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), netip.MustParseAddr("198.51.100.25")
		if i%2 == 1 {
			ev.Src, ev.Dst = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i), 15: 1}), netip.MustParseAddr("2001:db8::25")
		}
		ev.SrcPort, ev.Seq, ev.Time = uint16(i), uint32(i), t0.Add(time.Duration(i)*100*time.Microsecond)
		ev.Options[8], ev.Options[9], ev.Options[10] = byte(i>>16), byte(i>>8), byte(i)
		if err := p.Write(&ev); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 4999 {
			peak = max(peak, heap()-min(base, heap()))
		}
	}
	t.Logf("peak live heap over the start: %.1f MiB for a %d MiB budget; %d attempts held", float64(peak)/(1<<20), budget>>20, p.Live())
	// Room for what the runtime holds besides the held state.
	if peak > budget+1<<20 {
		t.Errorf("live heap grew %.1f MiB, over the %d MiB budget", float64(peak)/(1<<20), budget>>20)
	}
	if s := p.Stats(); s.ForcedAttempts == 0 || s.DroppedIPv4+s.EarlyIPv6 == 0 {
		t.Errorf("the bounds were not hit: %+v", s)
	}
}
