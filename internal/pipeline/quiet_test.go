package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// TestQuietSensorFlushes: on a live pipeline, attempts close and IPv6
// attempts are decided by the clock, on Flush, without another SYN: ten
// dual-stack connects, then silence. (They once waited for the next SYN.)
func TestQuietSensorFlushes(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	now := t0
	var out recorder
	p, err := New(Config{Live: true, Now: func() time.Time { return now },
		Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig()}, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	count := func() (attempts, decisions int) {
		for _, r := range out.got {
			if _, ok := r.(record.Attempt); ok {
				attempts++
			} else {
				decisions++
			}
		}
		return attempts, decisions
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		v6 := synevent.Event{Time: at, Src: netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 0, byte(i), 15: 1}), Dst: netip.MustParseAddr("2001:db8::25"),
			SrcPort: uint16(40000 + i), DstPort: 25, Seq: uint32(i), TTL: 64}
		v4 := synevent.Event{Time: at.Add(2 * time.Millisecond), Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Dst: netip.MustParseAddr("198.51.100.25"),
			SrcPort: uint16(50000 + i), DstPort: 25, Seq: uint32(i), TTL: 64}
		for _, ev := range []*synevent.Event{&v6, &v4} {
			now = ev.Time
			if err := p.Write(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := now
	// The agent flushes every FlushInterval; silence from here on.
	for now = last; now.Before(last.Add(45 * time.Second)); now = now.Add(200 * time.Millisecond) {
		if err := p.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if a, d := count(); a != 20 || d != 10 {
		t.Errorf("%d attempts and %d IPv6 decisions emitted 45 s after the last SYN, want 20 and 10", a, d)
	}
	// The IPv4 attempts are let go once no IPv6 attempt can pair with
	// them any more: two horizons after they started.
	for ; now.Before(last.Add(70 * time.Second)); now = now.Add(200 * time.Millisecond) {
		if err := p.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if h := p.Live(); h != 0 {
		t.Errorf("%d attempts still held 70 s after the last SYN", h)
	}
}
