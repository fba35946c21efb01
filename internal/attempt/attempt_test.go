package attempt

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

var (
	t0  = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	dst = netip.MustParseAddr("198.51.100.25")
)

// ev builds a SYN from src:sport at t0+off with ISN seq and TSval ts
// (ts 0 means no timestamp option).
func ev(src string, sport uint16, seq uint32, off time.Duration, ts uint32) *synevent.Event {
	e := &synevent.Event{Time: t0.Add(off), Src: netip.MustParseAddr(src), Dst: dst, SrcPort: sport, DstPort: 25,
		Seq: seq, Flags: 0x02, Window: 64240, TTL: 57}
	if e.Src.Is6() {
		e.Dst = netip.MustParseAddr("2001:db8::25")
	}
	opts := []byte{2, 4, 5, 0xb4, 4, 2}
	if ts != 0 {
		opts = append(opts, 8, 10, byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts), 0, 0, 0, 0, 1, 3, 3, 7)
	} else {
		opts = append(opts, 1, 3, 3, 8)
	}
	e.OptLen = uint8(copy(e.Options[:], opts))
	return e
}

type collector struct{ got []Attempt }

func (c *collector) emit(a *Attempt) { c.got = append(c.got, *a) }

func newG(cfg Config) (*Grouper, *collector) {
	c := &collector{}
	return New(cfg, c.emit), c
}

func feed(g *Grouper, evs ...*synevent.Event) {
	for _, e := range evs {
		g.Add(e)
	}
}

func TestWindowBoundaryInclusive(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g, ev("192.0.2.1", 1000, 7, 0, 0), ev("192.0.2.1", 1000, 7, 25*time.Second, 0))
	g.Flush()
	if len(c.got) != 1 || c.got[0].SYNs != 2 || c.got[0].Intervals[0] != 25*time.Second {
		t.Fatalf("exactly Window after the last SYN must join: %+v", c.got)
	}

	g, c = newG(DefaultConfig())
	feed(g, ev("192.0.2.1", 1000, 7, 0, 0), ev("192.0.2.1", 1000, 7, 25*time.Second+1, 0))
	g.Flush()
	if len(c.got) != 2 || c.got[0].SYNs != 1 || c.got[1].SYNs != 1 || !c.got[1].FirstSeen.Equal(t0.Add(25*time.Second+1)) {
		t.Fatalf("Window+1ns after the last SYN must start a new attempt: %+v", c.got)
	}
}

func TestSlidingWindow(t *testing.T) {
	// Each SYN within 25 s of the previous one: one attempt spanning 60 s.
	g, c := newG(DefaultConfig())
	for i := 0; i < 4; i++ {
		g.Add(ev("192.0.2.1", 1000, 7, time.Duration(i)*20*time.Second, 0))
	}
	g.Flush()
	if len(c.got) != 1 || c.got[0].SYNs != 4 || c.got[0].Duration() != 60*time.Second {
		t.Fatalf("%+v", c.got)
	}
}

func TestPortReuseAfterWindow(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g, ev("192.0.2.1", 1000, 7, 0, 0), ev("192.0.2.1", 1000, 7, time.Second, 0),
		ev("192.0.2.1", 1000, 7, 40*time.Second, 0))
	// The first attempt closes once the watermark passes 1s+25s.
	if len(c.got) != 1 || c.got[0].SYNs != 2 {
		t.Fatalf("first attempt not emitted on close: %+v", c.got)
	}
	g.Flush()
	if len(c.got) != 2 || c.got[1].SYNs != 1 || !c.got[1].FirstSeen.Equal(t0.Add(40*time.Second)) {
		t.Fatalf("%+v", c.got)
	}
}

func TestPortReuseNewISN(t *testing.T) {
	evs := []*synevent.Event{ev("192.0.2.1", 1000, 7, 0, 0), ev("192.0.2.1", 1000, 7, 500*time.Millisecond, 0),
		ev("192.0.2.1", 1000, 99, 3*time.Second, 0)}
	g, c := newG(DefaultConfig())
	feed(g, evs...)
	g.Flush()
	if len(c.got) != 2 || c.got[0].ISN != 7 || c.got[0].SYNs != 2 || c.got[1].ISN != 99 || c.got[1].SYNs != 1 {
		t.Fatalf("%+v", c.got)
	}
	if s := g.Stats(); s.ISNSplits != 1 || s.Attempts != 2 || s.Retransmissions != 1 {
		t.Fatalf("stats %+v", s)
	}

	cfg := DefaultConfig()
	cfg.SplitOnNewISN = false
	g, c = newG(cfg)
	feed(g, evs...)
	g.Flush()
	if len(c.got) != 1 || c.got[0].SYNs != 3 || c.got[0].ISN != 7 {
		t.Fatalf("SplitOnNewISN=false: %+v", c.got)
	}
}

func TestWindowsTripleSYN(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g, ev("192.0.2.9", 50673, 1234, 0, 0), ev("192.0.2.9", 50673, 1234, 500*time.Millisecond, 0),
		ev("192.0.2.9", 50673, 1234, 1500*time.Millisecond, 0))
	g.Flush()
	if len(c.got) != 1 {
		t.Fatalf("%+v", c.got)
	}
	a := c.got[0]
	if a.SYNs != 3 || a.NIntervals != 2 || a.Intervals[0] != 500*time.Millisecond || a.Intervals[1] != time.Second ||
		a.Intervals[2] != 0 || a.Family != 4 || a.SrcPort != 50673 || a.DstPort != 25 || a.HasTS ||
		!a.FirstSeen.Equal(t0) || a.Duration() != 1500*time.Millisecond || a.Retransmissions() != 2 {
		t.Fatalf("%+v", a)
	}
	if a.ISN != 1234 || a.First.TTL != 57 || a.First.OptLen != 10 {
		t.Fatalf("ISN %d, first SYN %+v", a.ISN, a.First)
	}
}

func TestLinuxSingleSYN(t *testing.T) {
	g, c := newG(DefaultConfig())
	g.Add(ev("2001:db8::1", 53562, 5, 0, 4242))
	if g.Live() != 1 {
		t.Fatal("not live")
	}
	g.Flush()
	if len(c.got) != 1 {
		t.Fatalf("%+v", c.got)
	}
	a := c.got[0]
	if a.SYNs != 1 || a.NIntervals != 0 || a.Family != 6 || !a.HasTS || a.TSFirst != 4242 || a.TSLast != 4242 ||
		a.Duration() != 0 || g.Live() != 0 || g.Held() != 0 {
		t.Fatalf("%+v", a)
	}
}

func TestLinuxRetransmitIntervalsAndTS(t *testing.T) {
	g, c := newG(DefaultConfig())
	var off time.Duration
	for _, gap := range []time.Duration{0, 1, 2, 4, 8, 16, 16, 16, 16, 16} {
		off += gap * time.Second
		g.Add(ev("192.0.2.3", 40000, 77, off, uint32(1000+int(off/time.Millisecond))))
	}
	g.Flush()
	a := c.got[0]
	want := [8]time.Duration{1, 2, 4, 8, 16, 16, 16, 16}
	for i := range want {
		want[i] *= time.Second
	}
	if len(c.got) != 1 || a.SYNs != 10 || a.NIntervals != 8 || a.Intervals != want || !a.HasTS ||
		a.TSFirst != 1000 || a.TSLast != 1000+uint32(off/time.Millisecond) {
		t.Fatalf("%+v", a)
	}
}

func TestOutOfOrderWithinSkew(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g,
		ev("192.0.2.2", 2000, 1, 10500*time.Millisecond, 0), // Y
		ev("192.0.2.1", 1000, 7, 11*time.Second, 222),       // X retransmission first
		ev("192.0.2.1", 1000, 7, 10*time.Second, 111),       // X original, 1 s older than the newest
	)
	s := g.Stats()
	if s.OutOfOrder != 1 || s.Late != 0 || g.Live() != 2 {
		t.Fatalf("stats %+v live %d", s, g.Live())
	}
	g.Add(ev("192.0.2.5", 5000, 1, 100*time.Second, 0)) // closes X and Y
	if len(c.got) != 2 {
		t.Fatalf("%+v", c.got)
	}
	x, y := c.got[0], c.got[1]
	if x.SrcPort != 1000 || y.SrcPort != 2000 {
		t.Fatalf("order: %v then %v", x.SrcPort, y.SrcPort)
	}
	if x.SYNs != 2 || !x.FirstSeen.Equal(t0.Add(10*time.Second)) || !x.LastSeen.Equal(t0.Add(11*time.Second)) ||
		x.NIntervals != 1 || x.Intervals[0] != time.Second || x.TSFirst != 111 || x.TSLast != 222 {
		t.Fatalf("%+v", x)
	}
}

func TestBeyondSkew(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g,
		ev("192.0.2.1", 1000, 7, 100*time.Second, 0),
		ev("192.0.2.1", 1000, 7, 97*time.Second, 0), // 3 s late: joins its open attempt
		ev("192.0.2.2", 2000, 8, 50*time.Second, 0), // 50 s late, new key: own attempt
		ev("192.0.2.1", 1000, 9, 60*time.Second, 0), // 40 s late, before the open attempt: own attempt
	)
	s := g.Stats()
	if s.OutOfOrder != 3 || s.Late != 3 || s.SYNs != 4 {
		t.Fatalf("stats %+v", s)
	}
	g.Flush()
	total := 0
	for _, a := range c.got {
		total += a.SYNs
		if a.Duration() < 0 {
			t.Fatalf("negative duration %+v", a)
		}
	}
	if total != 4 || len(c.got) != 3 {
		t.Fatalf("lost SYNs: %+v", c.got)
	}
	for _, a := range c.got {
		if a.SrcPort == 1000 && a.ISN == 7 && (a.SYNs != 2 || !a.FirstSeen.Equal(t0.Add(97*time.Second))) {
			t.Fatalf("%+v", a)
		}
	}
}

func TestManyConcurrent(t *testing.T) {
	g, c := newG(DefaultConfig())
	const n = 20000
	// Round 0: every attempt's first SYN, then two retransmission rounds.
	for round := 0; round < 3; round++ {
		for i := 0; i < n; i++ {
			src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			g.Add(ev(src.String(), uint16(1024+i%60000), uint32(i), time.Duration(round)*time.Second+time.Duration(i)*time.Microsecond, 0))
		}
	}
	if g.Live() != n {
		t.Fatalf("live %d", g.Live())
	}
	g.Flush()
	if len(c.got) != n {
		t.Fatalf("%d attempts", len(c.got))
	}
	for _, a := range c.got {
		if a.SYNs != 3 || a.NIntervals != 2 {
			t.Fatalf("%+v", a)
		}
	}
	checkSorted(t, c.got)
}

func TestMaxLiveForced(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxLive = 10
	g, c := newG(cfg)
	for i := 0; i < 25; i++ {
		g.Add(ev("192.0.2.1", uint16(1000+i), 1, time.Duration(i)*time.Millisecond, 0))
		if g.Held() > 10 {
			t.Fatalf("held %d", g.Held())
		}
	}
	if s := g.Stats(); s.ForcedEmits != 15 || len(c.got) != 15 {
		t.Fatalf("stats %+v emitted %d", s, len(c.got))
	}
	g.Flush()
	if len(c.got) != 25 {
		t.Fatalf("%d", len(c.got))
	}
	checkSorted(t, c.got) // oldest first even when forced
}

func TestFlushOrdering(t *testing.T) {
	g, c := newG(DefaultConfig())
	// Same FirstSeen for several; fed in scrambled order.
	feed(g,
		ev("2001:db8::1", 10, 1, time.Second, 0),
		ev("192.0.2.9", 10, 1, time.Second, 0),
		ev("192.0.2.1", 20, 1, time.Second, 0),
		ev("192.0.2.1", 10, 1, time.Second, 0),
		ev("192.0.2.1", 10, 1, 2*time.Second, 0), // retransmission
		ev("192.0.2.200", 5, 1, 0, 0),            // 1 s out of order, earliest
	)
	g.Flush()
	want := []string{"192.0.2.200:5", "192.0.2.1:10", "192.0.2.1:20", "192.0.2.9:10", "[2001:db8::1]:10"}
	if len(c.got) != len(want) {
		t.Fatalf("%+v", c.got)
	}
	for i, a := range c.got {
		if s := netip.AddrPortFrom(a.Src, a.SrcPort).String(); s != want[i] {
			t.Fatalf("position %d: %s, want %s", i, s, want[i])
		}
	}
}

func TestAdvance(t *testing.T) {
	g, c := newG(DefaultConfig())
	g.Add(ev("192.0.2.1", 1000, 7, 0, 0))
	g.Advance(t0.Add(26 * time.Second)) // idle 26 s but the skew keeps it open
	if len(c.got) != 0 {
		t.Fatal("closed within window+skew")
	}
	g.Advance(t0.Add(27*time.Second + 1))
	if len(c.got) != 1 || g.Live() != 0 {
		t.Fatalf("%+v", c.got)
	}
	g.Advance(t0) // backwards: no effect
}

func TestEnricher(t *testing.T) {
	cfg := DefaultConfig()
	calls := 0
	cfg.Enrich = func(ev *synevent.Event, fp *Fingerprint) {
		calls++
		fp.Label, fp.OSClass, fp.Dist = "s:unix:Linux:x", "unix", int(ev.TTL)
	}
	g, c := newG(cfg)
	feed(g, ev("192.0.2.1", 1, 1, 0, 0), ev("192.0.2.1", 1, 1, time.Second, 0))
	g.Flush()
	if calls != 1 || c.got[0].Label != "s:unix:Linux:x" || c.got[0].Dist != 57 {
		t.Fatalf("%d %+v", calls, c.got)
	}
	// An earlier SYN arriving out of order is the one fingerprinted.
	calls = 0
	g, c = newG(cfg)
	early := ev("192.0.2.1", 1, 1, 0, 0)
	early.TTL, early.Options[0] = 50, 3
	feed(g, ev("192.0.2.1", 1, 1, time.Second, 0), early)
	g.Flush()
	if a := c.got[0]; calls != 2 || a.Dist != 50 || a.First.TTL != 50 || a.First.Options[0] != 3 || a.SYNs != 2 {
		t.Fatalf("%d %+v", calls, c.got)
	}
}

func TestTSval(t *testing.T) {
	for _, tc := range []struct {
		opts []byte
		v    uint32
		ok   bool
	}{
		{nil, 0, false},
		{[]byte{1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0}, 256, true},
		{[]byte{2, 4, 5, 0xb4, 0, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0}, 0, false}, // after EOL
		{[]byte{8, 10, 0, 0, 1}, 0, false},                                  // truncated
		{[]byte{3, 0, 8, 10}, 0, false},                                     // bad length
		{[]byte{3}, 0, false},
	} {
		v, ok := TSval(tc.opts)
		if v != tc.v || ok != tc.ok {
			t.Errorf("%x: %d %v", tc.opts, v, ok)
		}
	}
}

func TestRetransmissionNoAlloc(t *testing.T) {
	g, _ := newG(DefaultConfig())
	e := ev("2001:db8::1", 1000, 7, 0, 5)
	g.Add(e)
	allocs := testing.AllocsPerRun(1000, func() {
		e.Time = e.Time.Add(time.Millisecond)
		g.Add(e)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per retransmission", allocs)
	}
	if g.Live() != 1 {
		t.Fatal("split")
	}
}

func checkSorted(t *testing.T, got []Attempt) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		a, b := &got[i-1], &got[i]
		if b.FirstSeen.Before(a.FirstSeen) {
			t.Fatalf("out of order at %d: %v after %v", i, b.FirstSeen, a.FirstSeen)
		}
		if b.FirstSeen.Equal(a.FirstSeen) {
			if c := a.Src.Compare(b.Src); c > 0 || c == 0 && a.SrcPort > b.SrcPort {
				t.Fatalf("tie order at %d: %v:%d after %v:%d", i, b.Src, b.SrcPort, a.Src, a.SrcPort)
			}
		}
	}
}

// randomStream returns SYNs from a few hosts and ports with port reuse, ISN
// changes, Windows/Linux retransmission patterns and arrival disorder up to
// maxDisorder (< MaxSkew).
func randomStream(r *rand.Rand, n int, maxDisorder time.Duration) []*synevent.Event {
	type syn struct {
		t   time.Duration
		e   *synevent.Event
		arr time.Duration
	}
	hosts := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "::ffff:192.0.2.1"}
	var out []syn
	var clock time.Duration
	for len(out) < n {
		clock += time.Duration(r.Int64N(int64(8 * time.Second)))
		h := hosts[r.IntN(len(hosts))]
		port := uint16(1000 + r.IntN(4))
		isn := uint32(r.IntN(3))
		pattern := [][]time.Duration{{0}, {0, 500 * time.Millisecond, 1500 * time.Millisecond},
			{0, time.Second, 3 * time.Second, 7 * time.Second}, {0, 20 * time.Second, 45 * time.Second}}[r.IntN(4)]
		for _, p := range pattern {
			at := clock + p
			if r.IntN(20) == 0 {
				at = clock // exact ties
			}
			out = append(out, syn{t: at, e: ev(h, port, isn, at, uint32(at/time.Millisecond))})
		}
	}
	// Sort by time, then perturb arrival by up to maxDisorder.
	for i := range out {
		out[i].arr = out[i].t + time.Duration(r.Int64N(int64(maxDisorder)+1))
	}
	sortStable(out, func(a, b syn) bool { return a.arr < b.arr })
	evs := make([]*synevent.Event, len(out))
	for i := range out {
		evs[i] = out[i].e
	}
	return evs
}

func sortStable[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestDeterminismProperty(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		cfg := DefaultConfig()
		cfg.MaxLive = 0
		cfg.SplitOnNewISN = seed%2 == 0
		evs := randomStream(r, 300, cfg.MaxSkew/2)

		ref, rc := newG(cfg)
		feed(ref, evs...)
		ref.Flush()

		adv, ac := newG(cfg)
		var maxSeen time.Time
		for _, e := range evs {
			adv.Add(e)
			if e.Time.After(maxSeen) {
				maxSeen = e.Time
			}
			if r.IntN(3) == 0 {
				// A live timer: now is at most MaxSkew/2 past the newest SYN.
				adv.Advance(maxSeen.Add(time.Duration(r.Int64N(int64(cfg.MaxSkew / 2)))))
			}
		}
		adv.Flush()

		if !reflect.DeepEqual(rc.got, ac.got) {
			t.Fatalf("seed %d: sequences differ (%d vs %d attempts)", seed, len(rc.got), len(ac.got))
		}
		if s := ref.Stats(); s.Late != 0 {
			t.Fatalf("seed %d: late events in a within-skew stream: %+v", seed, s)
		}
		checkSorted(t, rc.got)
		total := 0
		for _, a := range rc.got {
			total += a.SYNs
			if a.Duration() < 0 {
				t.Fatalf("negative duration")
			}
			for i := 0; i < a.NIntervals; i++ {
				if a.Intervals[i] < 0 || a.Intervals[i] > cfg.Window {
					t.Fatalf("seed %d: interval %v", seed, a.Intervals[i])
				}
			}
		}
		if total != len(evs) {
			t.Fatalf("seed %d: %d SYNs emitted of %d", seed, total, len(evs))
		}
		if ref.Held() != 0 || adv.Held() != 0 {
			t.Fatal("held after flush")
		}
	}
}

// TestNoLossWithLateAndForced feeds arbitrarily disordered streams under a
// small MaxLive: every SYN must come out, nothing panics.
func TestNoLossWithLateAndForced(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		cfg := DefaultConfig()
		cfg.MaxLive = 1 + r.IntN(8)
		evs := randomStream(r, 300, 60*time.Second)
		g, c := newG(cfg)
		for _, e := range evs {
			g.Add(e)
			if r.IntN(5) == 0 {
				g.Advance(e.Time.Add(time.Duration(r.Int64N(int64(time.Minute)))))
			}
			if g.Held() > cfg.MaxLive {
				t.Fatal("MaxLive exceeded")
			}
		}
		g.Flush()
		total := 0
		for _, a := range c.got {
			total += a.SYNs
			if a.Duration() < 0 {
				t.Fatal("negative duration")
			}
		}
		if total != len(evs) || uint64(len(c.got)) != g.Stats().Attempts {
			t.Fatalf("seed %d: %d of %d SYNs", seed, total, len(evs))
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	// 1 SYN per ms; attempts of 3 SYNs (Windows-like), ~25k open attempts.
	const ring = 3 << 15
	evs := make([]synevent.Event, ring)
	for i := range evs {
		j := i / 3
		evs[i] = *ev("2001:db8::1", 0, uint32(j), 0, 0)
		evs[i].Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(j), 14: byte(j >> 8)})
		evs[i].SrcPort = uint16(1024 + j%50000)
	}
	g := New(DefaultConfig(), func(*Attempt) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &evs[i%ring]
		e.Seq = uint32(i / 3)
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		g.Add(e)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syn/s")
}

// An attempt closed by an ISN change must wait for the watermark: a SYN
// within the skew may still open an earlier attempt.
func TestReleaseWaitsForWatermark(t *testing.T) {
	g, c := newG(DefaultConfig())
	feed(g,
		ev("192.0.2.1", 1000, 1, 10*time.Second, 0),
		ev("192.0.2.1", 1000, 2, 11*time.Second, 0), // new ISN: closes the first attempt
	)
	if len(c.got) != 0 {
		t.Fatalf("released before the watermark: %+v", c.got)
	}
	g.Add(ev("192.0.2.2", 2000, 3, 9500*time.Millisecond, 0)) // 1.5 s late, within skew
	g.Flush()
	checkSorted(t, c.got)
	if len(c.got) != 3 || c.got[0].SrcPort != 2000 {
		t.Fatalf("%+v", c.got)
	}
}
