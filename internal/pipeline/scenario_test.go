package pipeline

import (
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// goldenEvents are a few dual-stack deliveries through the pipeline: IPv6
// attempts associated with an IPv4 attempt, with a blocklisted one (a
// spammer), with an address only (two IPv4 attempts alike), and alone; a
// retransmission; a Linux and a Windows stack. The lines they give are in
// testdata/*.golden.
func goldenEvents() ([]synevent.Event, *rejectlog.Set) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	linux := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	windows := []byte{2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2}
	mk := func(at time.Duration, src, dst string, sport uint16, opts []byte, ttl uint8, win uint16) synevent.Event {
		ev := synevent.Event{Time: t0.Add(at), Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
			SrcPort: sport, DstPort: 25, Seq: uint32(sport) * 7919, TTL: ttl, Window: win, Flags: 0x02, DataOffset: 5}
		ev.OptLen = uint8(copy(ev.Options[:], opts))
		ev.DataOffset += uint8(len(opts) / 4)
		return ev
	}
	evs := []synevent.Event{
		// A Linux host: IPv6 first, IPv4 3 ms later; the IPv4 SYN is retransmitted.
		mk(0, "2001:db8:1::1", "2001:db8::25", 41000, linux, 64, 64800),
		mk(3*time.Millisecond, "192.0.2.1", "198.51.100.25", 51000, linux, 64, 64240),
		mk(1003*time.Millisecond, "192.0.2.1", "198.51.100.25", 51000, linux, 64, 64240),
		// A blocklisted Linux host.
		mk(10*time.Second, "2001:db8:2::abcd:ff:fe00:1", "2001:db8::25", 42000, linux, 64, 64800),
		mk(10*time.Second+5*time.Millisecond, "203.0.113.7", "198.51.100.25", 52000, linux, 64, 64240),
		// One IPv4 address, two alike attempts around one IPv6 attempt.
		mk(20*time.Second, "2001:db8:3::5", "2001:db8::25", 43000, linux, 64, 64800),
		mk(20*time.Second+3*time.Millisecond, "192.0.2.50", "198.51.100.25", 53000, linux, 64, 64240),
		mk(20*time.Second+4*time.Millisecond, "192.0.2.50", "198.51.100.25", 53001, linux, 64, 64240),
		// An IPv6 attempt alone.
		mk(30*time.Second, "2001:db8:4::9", "2001:db8::25", 44000, windows, 128, 8192),
	}
	set := rejectlog.NewSet(24 * time.Hour)
	set.Add(rejectlog.Rejection{Time: t0.Add(time.Hour), IP: netip.MustParseAddr("203.0.113.7"), Zone: "zen.example"})
	return evs, set
}
