package associate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// TestBoundedOver24h streams a day of SYNs (10 per second, ever-new
// sources) through the grouper and the engine: the state they hold stays
// bounded by the windows, not by the length of the stream.
func TestBoundedOver24h(t *testing.T) {
	if testing.Short() {
		t.Skip("long stream")
	}
	var maxHeld, maxPending, assoc int
	e := New(DefaultConfig(), nil, func(a *Association) {
		if a.V4 != nil {
			assoc++
		}
	})
	g := attempt.New(attempt.DefaultConfig(), func(a *attempt.Attempt) { e.Add(a) })
	var ev synevent.Event
	ev.Dst, ev.DstPort, ev.TTL = netip.MustParseAddr("198.51.100.25"), 25, 58
	ev.OptLen = uint8(copy(ev.Options[:], linux(0xb4)))
	const perSecond, seconds = 2, 24 * 3600
	for i := 0; i < perSecond*seconds; i++ {
		ev.Time = t0.Add(time.Duration(i) * time.Second / perSecond)
		n := uint32(i / 2)
		if i%2 == 0 { // IPv6 first, then IPv4 of the same host 5 ms later
			ev.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(n >> 16), 5: byte(n >> 8), 6: byte(n), 15: 1})
			ev.Options[3] = 0xa0
		} else {
			ev.Src = netip.AddrFrom4([4]byte{byte(10 + n>>24&0x7f), byte(n >> 16), byte(n >> 8), byte(n)})
			ev.Time = ev.Time.Add(-time.Second/perSecond + 5*time.Millisecond)
			ev.Options[3] = 0xb4
		}
		ev.SrcPort, ev.Seq = uint16(1024+i%60000), uint32(i)
		ev.TTL = uint8(40 + (i/2)%7*3) // hosts at different distances
		g.Add(&ev)
		if i%1000 == 0 {
			maxHeld = max(maxHeld, g.Held())
			maxPending = max(maxPending, e.Pending())
		}
	}
	g.Flush()
	e.Flush()
	// 25 s window + skew at 10 SYN/s is ~300 attempts; the engine keeps
	// two horizons (60 s) of attempts: ~600. Allow a wide margin.
	if maxHeld > 2000 || maxPending > 3000 {
		t.Errorf("state grew: grouper held %d, engine pending %d", maxHeld, maxPending)
	}
	if len(e.hist.v6) > e.hist.max || len(e.hist.v4) > e.hist.max {
		t.Errorf("history maps: %d / %d", len(e.hist.v6), len(e.hist.v4))
	}
	if assoc < perSecond*seconds/2*9/10 {
		t.Errorf("only %d of %d IPv6 attempts associated", assoc, perSecond*seconds/2)
	}
	t.Logf("max held %d, max pending %d, associated %d", maxHeld, maxPending, assoc)
}
