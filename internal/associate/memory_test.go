package associate

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBytesPerHeld: what a held attempt and a history record cost stays
// within BytesPerHeld and BytesPerHistory, the figures memory budgets are
// divided by. Every attempt is a new source with a TCP timestamp of an
// unknown rate (indexed in a clock bucket per rate: the largest entry).
func TestBytesPerHeld(t *testing.T) {
	const n = 66000 // a map just grown: the most per entry
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7}
	mk := func(i, fam int) *attempt.Attempt {
		a := &attempt.Attempt{Family: fam, SrcPort: uint16(i), SYNs: 1, HasTS: true, TSFirst: uint32(i * 7919), TSLast: uint32(i * 7919)}
		a.Src = netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
		if fam == 6 {
			a.Src = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i), 15: 1})
		}
		a.First.OptLen = uint8(copy(a.First.Options[:], opts))
		a.First.TTL, a.OSClass = 64, "Linux"
		a.FirstSeen = t0.Add(time.Duration(i) * time.Microsecond)
		a.LastSeen = a.FirstSeen
		return a
	}
	for _, fam := range []int{4, 6} {
		before := liveHeap()
		cfg := DefaultConfig()
		cfg.Horizon, cfg.MaxHeld = time.Hour, 0
		e := New(cfg, nil, func(*Association) {})
		for i := range n {
			e.Add(mk(i, fam))
		}
		if e.Pending() != n {
			t.Fatalf("held %d, want %d", e.Pending(), n)
		}
		per := float64(liveHeap()-before) / n
		runtime.KeepAlive(e)
		t.Logf("IPv%d: %.0f bytes per held attempt (history included)", fam, per)
		if per > BytesPerHeld {
			t.Errorf("IPv%d: %.0f bytes per held attempt, BytesPerHeld is %d", fam, per, BytesPerHeld)
		}
	}
	// The history alone: every IPv6 attempt decided (with an IPv4 address
	// to link its /64 to), every IPv4 address seen.
	h := newHistory(n)
	before := liveHeap()
	for i := range n {
		a4, a6 := mk(i, 4), mk(i, 6)
		h.seeV4(a4)
		h.recordV6(a6, a4.Src, true, []netip.Addr{a4.Src})
	}
	if len(h.v4) != n || len(h.v6) != n {
		t.Fatalf("history holds %d and %d records, want %d", len(h.v4), len(h.v6), n)
	}
	per := float64(liveHeap()-before) / n
	runtime.KeepAlive(h)
	t.Logf("%.0f bytes per history record (of each map)", per)
	if per > BytesPerHistory {
		t.Errorf("%.0f bytes per history record, BytesPerHistory is %d", per, BytesPerHistory)
	}
}
