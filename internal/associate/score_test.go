package associate

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// randomStream returns n attempts of a small, busy population, in FirstSeen
// order: hosts on both families with shared and differing stacks, clocks,
// retransmissions, names, NATs and embedded addresses, so that every branch
// of every evidence family is taken many times, and history builds up.
func randomStream(seed uint64, n int) ([]attempt.Attempt, fakeNames) {
	r := rand.New(rand.NewPCG(seed, 1))
	v4s := make([]netip.Addr, 40)
	for i := range v4s {
		v4s[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})
	}
	var v6s []netip.Addr
	for i := range 30 {
		v6s = append(v6s, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i % 10), 14: 0, 15: byte(i)}))
	}
	for i := range 6 { // 6to4 of one of the IPv4s, and an IPv4 in the low 32 bits
		v := v4s[i].As4()
		v6s = append(v6s, netip.AddrFrom16([16]byte{0x20, 0x02, v[0], v[1], v[2], v[3], 15: 1}))
		v6s = append(v6s, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x77, 12: v[0], 13: v[1], 14: v[2], 15: v[3]}))
	}
	// Teredo: server 192.0.2.200, client 192.0.2.(1+i) obfuscated.
	for i := range 3 {
		var b [16]byte
		binary.BigEndian.PutUint32(b[0:], 0x20010000)
		copy(b[4:8], []byte{192, 0, 2, 200})
		binary.BigEndian.PutUint16(b[10:], ^uint16(40000+i))
		v := v4s[i].As4()
		for j := range 4 {
			b[12+j] = ^v[j]
		}
		v6s = append(v6s, netip.AddrFrom16(b))
	}
	names := fakeNames{asn: map[netip.Addr]uint32{}, ptr: map[netip.Addr]string{}}
	for _, ip := range append(slices.Clone(v4s), v6s...) {
		if r.IntN(3) > 0 {
			names.asn[ip] = 64500 + uint32(r.IntN(4))
		}
		switch r.IntN(4) {
		case 0:
			names.ptr[ip] = fmt.Sprintf("mx%d.example%d.com", r.IntN(3), r.IntN(2))
		case 1:
			names.ptr[ip] = fmt.Sprintf("dyn-%d.isp%d.co.uk", r.IntN(100), r.IntN(2))
		}
	}
	oses := []string{"", "unknown", "Windows", "Linux", "Mac OS X", "FreeBSD"}
	// A host: one stack, one clock, an address of each family.
	type host struct {
		v4, v6 netip.Addr
		os     string
		opts   []byte
		ttl    uint8
		rate   float64
		off    uint32
	}
	newHost := func() host {
		h := host{v4: v4s[r.IntN(len(v4s))], v6: v6s[r.IntN(len(v6s))], os: oses[r.IntN(len(oses))],
			ttl: []uint8{64, 60, 52, 128, 121, 250}[r.IntN(6)], rate: []float64{1000, 250, 100}[r.IntN(3)], off: r.Uint32()}
		h.opts = linux(byte(0xa0 + 20*r.IntN(2)))
		switch r.IntN(3) {
		case 0:
			h.opts = win(byte(0xa0 + 20*r.IntN(2)))
		case 1:
			h.opts = h.opts[:4] // MSS only
		}
		if r.IntN(4) == 0 {
			h.opts[len(h.opts)-1] = byte(6 + r.IntN(3)) // another window scale (or option)
		}
		return h
	}
	hosts := make([]host, 60)
	for i := range hosts {
		hosts[i] = newHost()
	}
	var as []attempt.Attempt
	add := func(h host, src netip.Addr, at time.Duration) {
		a := attempt.Attempt{Src: src, Family: 4, SrcPort: uint16(30000 + r.IntN(200)), FirstSeen: t0.Add(at), Fingerprint: attempt.Fingerprint{OSClass: h.os}}
		if src.Is6() {
			a.Family = 6
		}
		if r.IntN(8) == 0 { // the fingerprint did not say
			a.OSClass = oses[r.IntN(2)]
		}
		opts := h.opts
		if a.Family == 6 && len(opts) >= 4 {
			opts = slices.Clone(opts)
			opts[3] -= byte(20 * r.IntN(2)) // the IPv6 MSS 20 bytes less, or not
		}
		a.First.OptLen = uint8(copy(a.First.Options[:], opts))
		a.First.TTL = h.ttl - uint8(r.IntN(9))
		a.SYNs = 1 + r.IntN(3)
		a.LastSeen = a.FirstSeen
		for i := 1; i < a.SYNs; i++ {
			d := time.Duration(300+r.IntN(900)) * time.Millisecond
			if r.IntN(8) == 0 {
				d = time.Duration(2000+r.IntN(6000)) * time.Millisecond // a slow retry: a long attempt
			}
			a.Intervals[a.NIntervals] = d
			a.NIntervals++
			a.LastSeen = a.LastSeen.Add(d)
		}
		a.HasTS = len(opts) > 8 && opts[6] == 8
		if a.HasTS {
			off := h.off
			if r.IntN(3) == 0 {
				off = r.Uint32() // a per-connection offset
			}
			// Jitter within the clock tolerance: two attempts of one clock
			// land in neighbouring offset buckets as often as in one.
			jitter := uint32(r.IntN(int(h.rate/5)+1)) - uint32(h.rate/10)
			a.TSFirst = off + uint32(h.rate*a.FirstSeen.Sub(t0).Seconds()) + jitter
			a.TSLast = off + uint32(h.rate*a.LastSeen.Sub(t0).Seconds()) + jitter
		}
		as = append(as, a)
	}
	at := time.Duration(0)
	for len(as) < n {
		at += time.Duration(r.IntN(3000)) * time.Millisecond
		h := hosts[r.IntN(len(hosts))]
		if r.IntN(5) == 0 {
			h = newHost() // noise: a host seen once
		}
		switch r.IntN(4) {
		case 0: // one family only
			add(h, []netip.Addr{h.v4, h.v6}[r.IntN(2)], at)
		default: // a delivery: one family, then the other
			first, second := h.v6, h.v4
			if r.IntN(4) == 0 {
				first, second = second, first
			}
			add(h, first, at)
			last := as[len(as)-1].LastSeen.Sub(t0)
			gap := time.Duration(r.IntN(3500)) * time.Millisecond
			if r.IntN(4) == 0 {
				gap = time.Duration(4000+r.IntN(20000)) * time.Millisecond // a late fallback
			}
			add(h, second, last+gap)
		}
	}
	sortAttempts(as)
	return as, names
}

// entryOf makes an entry of a as Engine.Add does.
func entryOf(e *Engine, a *attempt.Attempt) *entry {
	en := e.alloc(a.Family)
	e.fill(en, a)
	return en
}

// explainPair records the verdicts of a pair of attempts as e explains the
// pair it emits (with e's configuration and history).
func explainPair(e *Engine, a6, a4 *attempt.Attempt) *record {
	v6, v4 := entryOf(e, a6), entryOf(e, a4)
	rec := &record{}
	e.pairSum(v6, &v4.f, v4, rec)
	rec.named()
	return rec
}

// of returns the verdicts of family f.
func (r *record) of(f int) []noted {
	var out []noted
	for _, w := range r.ev {
		if int(verdicts[w.v].fam) == f {
			out = append(out, w)
		}
	}
	return out
}

// has reports whether ws holds a verdict named what.
func has(ws []noted, what string) bool {
	return slices.ContainsFunc(ws, func(w noted) bool { return w.what == what })
}

// TestPruningExact: pairSum without a record (the candidate scan, which
// stops once a pair cannot reach the threshold) returns exactly the sum of
// the verdicts it records for every pair that reaches e.minSum, and a value
// below e.minSum for every other, under every configuration of families.
// Along the way: no family gives more than the maximum pruning counts on
// (a pair within reach of the threshold shows it), and keyed (the order
// gate) finds exactly the pairs with a recorded idKeyed verdict.
func TestPruningExact(t *testing.T) {
	cfgs := map[string]Config{}
	for _, names := range []bool{false, true} {
		base := DefaultConfig()
		if names {
			base.Names = fakeNames{} // replaced below
		}
		cfgs[fmt.Sprintf("names=%v", names)] = base
		for _, f := range Families {
			c := base
			c.Disable = map[string]bool{f: true}
			cfgs[fmt.Sprintf("names=%v,-%s", names, f)] = c
		}
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			as, names := randomStream(uint64(len(name)), 20000)
			if cfg.Names != nil {
				cfg.Names = names
			}
			var pairs, above, wrong, keyed int
			e := New(cfg, nil, func(*Association) {})
			e.noIndex = true // every pair in the horizon
			rec := &record{}
			e.check = func(v6, v4 *entry, sum float64) {
				pairs++
				full := e.pairSum(v6, &v4.f, v4, rec.reset())
				rec.named()
				if k := slices.ContainsFunc(rec.ev, func(w noted) bool { return w.v.id() == idKeyed }); k != e.keyed(v6, &v4.f, v4) {
					t.Errorf("%v %v: keyed %v, recorded %v", v6.f.src, v4.f.src, !k, evidenceStrings(rec.ev))
				} else if k {
					keyed++
				}
				max := [numFamilies]float64{fClock: maxClock, fASN: maxASN, fPTR: maxPTR, fPort: maxPort,
					fHistory: maxHistory, fRetrans: retransMax(&v6.f, &v4.f)}
				for f, m := range max {
					if f != fEmbedded && f != fOrder && f != fStack && rec.fam[f] > m {
						t.Errorf("%v %v: %s gives %v, more than %v: %v", v6.f.src, v4.f.src, Families[f], rec.fam[f], m, evidenceStrings(rec.ev))
					}
				}
				if full < e.minSum && sum < e.minSum {
					return
				}
				above++
				if full != sum {
					wrong++
					if wrong <= 5 {
						t.Errorf("%v %v: pruned %v, recorded %v (%v)", v6.f.src, v4.f.src, sum, full, evidenceStrings(rec.ev))
					}
				}
			}
			for i := range as {
				e.Add(&as[i])
			}
			e.Flush()
			if wrong > 0 {
				t.Errorf("%d of %d pairs above the threshold scored differently", wrong, above)
			}
			if pairs < 100000 || above < 20 {
				t.Errorf("only %d pairs, %d above the threshold: the stream does not exercise the scorer", pairs, above)
			}
		})
	}
}

// BenchmarkPairSum times one candidate pair as the candidate scan scores
// it, BenchmarkEvaluate as the pair emitted is explained.
func BenchmarkPairSum(b *testing.B) { benchPairs(b, false) }

func BenchmarkEvaluate(b *testing.B) { benchPairs(b, true) }

func benchPairs(b *testing.B, explain bool) {
	as, _ := randomStream(1, 400)
	e := New(DefaultConfig(), nil, func(*Association) {})
	var v6, v4 []*entry
	for i := range as {
		en := entryOf(e, &as[i])
		if as[i].Family == 6 {
			v6 = append(v6, en)
		} else {
			v4 = append(v4, en)
		}
	}
	rec := &record{}
	b.ResetTimer()
	var sink float64
	for i := range b.N {
		x, y := v6[i%len(v6)], v4[(i/len(v6))%len(v4)]
		y.f.t0 = x.f.t0 // a candidate
		if explain {
			sink += e.pairSum(x, &y.f, y, rec.reset())
			rec.named()
		} else {
			sink += e.pairSum(x, &y.f, y, nil)
		}
	}
	_ = sink
}

func TestEvidenceStrings(t *testing.T) {
	ws := []noted{{w: 3, what: "order:a"}, {w: 0, what: "port:far-behind-nat"}, {w: -2.5, what: "asn:different-origin"}, {w: 7.6, what: "embedded:6to4"}}
	want := []string{"order:a(+3.0)", "port:far-behind-nat(+0.0)", "asn:different-origin(-2.5)", "embedded:6to4(+7.6)"}
	if got := evidenceStrings(ws); !slices.Equal(got, want) {
		t.Errorf("evidenceStrings = %q, want %q", got, want)
	}
	e := New(DefaultConfig(), nil, func(*Association) {})
	for range 2 { // formatted, then from the cache
		if got := e.evidence(ws); !slices.Equal(got, want) {
			t.Errorf("evidence = %q, want %q", got, want)
		}
	}
}

// TestIndexMatchesScan: the engine decides the same with its candidate
// index as when it scans every pair within the horizon, under every
// configuration of families.
func TestIndexMatchesScan(t *testing.T) {
	for _, names := range []bool{false, true} {
		for _, off := range append([]string{""}, Families...) {
			cfg := DefaultConfig()
			cfg.Threshold = 0.5 // the uncalibrated sum's own, with a family off
			if off != "" {
				cfg.Disable = map[string]bool{off: true}
			}
			as, nm := randomStream(uint64(len(off))+7, 20000)
			if names {
				cfg.Names = nm
			}
			bl := listed{}
			for i := range as {
				if i%7 == 0 && as[i].Family == 4 {
					bl[as[i].Src] = true
				}
			}
			decide := func(noIndex bool) (out []string, visited int) {
				e := New(cfg, bl, func(a *Association) {
					s := fmt.Sprintf("%v/%d %v %v %.6f %q %v", a.V6.Src, a.V6.SrcPort, a.V6.FirstSeen.UnixNano(), a.V4Addr, a.Score, a.Evidence, a.Spammer)
					if a.V4 != nil {
						s += fmt.Sprintf(" %d %d", a.V4.SrcPort, a.V4.FirstSeen.UnixNano())
					}
					out = append(out, s)
				})
				e.noIndex = noIndex
				e.check = func(*entry, *entry, float64) { visited++ }
				for i := range as {
					e.Add(&as[i])
				}
				e.Flush()
				return out, visited
			}
			scan, nScan := decide(true)
			idx, nIdx := decide(false)
			name := fmt.Sprintf("names=%v,-%s", names, off)
			if !slices.Equal(scan, idx) {
				n := 0
				for i := range min(len(scan), len(idx)) {
					if scan[i] != idx[i] && n < 3 {
						t.Errorf("%s: scan %s\n   index %s", name, scan[i], idx[i])
						n++
					}
				}
				t.Errorf("%s: %d decisions differ (%d, %d)", name, n, len(scan), len(idx))
			}
			assoc := 0
			for _, s := range scan {
				if !strings.Contains(s, " invalid IP ") {
					assoc++
				}
			}
			if assoc < 200 {
				t.Errorf("%s: only %d of %d associated: the stream does not exercise the engine", name, assoc, len(scan))
			}
			if off != "order" && nIdx*2 > nScan {
				t.Errorf("%s: the index visited %d pairs, the scan %d", name, nIdx, nScan)
			}
			t.Logf("%s: pairs visited: scan %d, index %d", name, nScan, nIdx)
		}
	}
}

// TestNearGap: beyond nearGap, and wherever the later attempt starts before
// the earlier ends, the order evidence is below farOrder, whatever the
// stack, the family order and the retransmission timing.
func TestNearGap(t *testing.T) {
	e := New(DefaultConfig(), nil, func(*Association) {})
	v6 := attempt.Attempt{Family: 6, Src: netip.MustParseAddr("2001:db8::1")}
	v4 := attempt.Attempt{Family: 4, Src: netip.MustParseAddr("192.0.2.1")}
	for _, osClass := range []string{"Windows", "Linux"} {
		v6.OSClass, v4.OSClass = osClass, osClass
		for _, mean := range []time.Duration{0, 300 * time.Millisecond, time.Second, 2900 * time.Millisecond, 5 * time.Second} {
			for _, v6first := range []bool{true, false} {
				for gap := -5 * time.Second; gap <= 10*time.Second; gap += 10 * time.Millisecond {
					first, second := &v6, &v4
					if !v6first {
						first, second = &v4, &v6
					}
					first.FirstSeen = t0
					first.LastSeen = t0.Add(2 * time.Second)
					first.NIntervals, first.Intervals[0] = 0, 0
					if mean > 0 {
						first.NIntervals, first.Intervals[0] = 1, mean
					}
					second.FirstSeen = first.LastSeen.Add(gap)
					second.LastSeen = second.FirstSeen
					x, y := entryOf(e, &v6), entryOf(e, &v4)
					w := orderRule(&x.f, &y.f, windows(&x.f, &y.f)).w
					if (gap > nearGap || (gap < 0 && second.FirstSeen.After(first.FirstSeen))) && w >= farOrder {
						t.Errorf("%s mean %v v6first %v gap %v: order %v >= farOrder", osClass, mean, v6first, gap, w)
					}
				}
			}
		}
	}
}

// TestMaxHeld: a flood of new sources, faster than the horizon lets the
// engine forget them, stays within MaxHeld (both families together), what
// it drops or decides early is counted, and the oldest go first.
func TestMaxHeld(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxHeld = 500
	var decided []netip.Addr
	e := New(cfg, nil, func(as *Association) { decided = append(decided, as.V6.Src) })
	held := 0
	const n = 20000 // in 2 s: all within one horizon
	v6 := func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	for i := range n {
		a := attempt.Attempt{Family: 4, SrcPort: uint16(i), SYNs: 1}
		a.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a.Family = 6
			a.Src = v6(i)
		}
		a.FirstSeen = t0.Add(time.Duration(i) * 100 * time.Microsecond)
		a.LastSeen = a.FirstSeen
		e.Add(&a)
		held = max(held, len(e.v4)+len(e.v6))
	}
	if held > cfg.MaxHeld {
		t.Errorf("held %d attempts, MaxHeld %d", held, cfg.MaxHeld)
	}
	st := e.Stats()
	if st.DroppedIPv4+st.EarlyIPv6 != n-uint64(cfg.MaxHeld) || st.DroppedIPv4 != st.EarlyIPv6 {
		t.Errorf("stats %+v, want %d in all, half each", st, n-cfg.MaxHeld)
	}
	for k, ip := range decided {
		if ip != v6(2*k+1) {
			t.Fatalf("decision %d is for %v, want %v (oldest first)", k, ip, v6(2*k+1))
		}
	}
}

// TestEvictionLinear: with the engine at MaxHeld, the attempts held are
// moved in memory (shifted down, or copied by a reallocation) at most a few
// times each, however large MaxHeld is: eviction is O(1) amortised. (It
// once shifted every attempt held for every attempt added.) Moves are seen
// as the held slices' elements changing address, so nothing is timed.
func TestEvictionLinear(t *testing.T) {
	for _, maxHeld := range []int{1000, 64000} {
		cfg := DefaultConfig()
		cfg.MaxHeld = maxHeld
		e := New(cfg, nil, func(*Association) {})
		n := 4 * maxHeld
		moved := 0
		for i := range n {
			// Where the second-oldest attempt held is now: after the next
			// eviction it must be the oldest, at the same address, unless
			// the slice was reallocated.
			var next *feat
			if len(e.v4f) > 1 {
				next = &e.v4f[1]
			}
			a := attempt.Attempt{Family: 4, SrcPort: uint16(i), SYNs: 1}
			a.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			a.FirstSeen = t0.Add(time.Duration(i) * time.Microsecond)
			a.LastSeen = a.FirstSeen
			e.Add(&a)
			if i >= maxHeld && next != nil && &e.v4f[0] != next {
				moved += len(e.v4f)
			}
		}
		if per := float64(moved) / float64(n-maxHeld); per > 8 {
			t.Errorf("MaxHeld %d: %.1f held attempts moved per attempt added at the bound, want O(1)", maxHeld, per)
		}
	}
}

// TestIndexFindsEveryScoringPair: at many points of random streams, every
// pair that can score (pairSum >= minSum) within the horizon is among the
// candidates the index gives, from either side.
func TestIndexFindsEveryScoringPair(t *testing.T) {
	for _, names := range []bool{false, true} {
		for _, off := range []string{"", "history", "clock", "embedded"} {
			cfg := DefaultConfig()
			if off != "" {
				cfg.Disable = map[string]bool{off: true}
			}
			as, nm := randomStream(uint64(len(off))+11, 12000)
			if names {
				cfg.Names = nm
			}
			name := fmt.Sprintf("names=%v,-%s", names, off)
			e := New(cfg, nil, func(*Association) {})
			adds, scoring, missed := 0, 0, 0
			e.afterAdd = func() {
				if adds++; adds%8 != 0 {
					return
				}
				for _, v6 := range e.v6 {
					seen := map[*entry]bool{}
					e.candidates(v6, func(_ *feat, v4 *entry) { seen[v4] = true })
					for i, v4 := range e.v4 {
						if e.pairSum(v6, &e.v4f[i], v4, nil) >= e.minSum {
							scoring++
							if !seen[v4] {
								missed++
							}
						}
					}
				}
				for _, v4 := range e.v4 {
					seen := map[*entry]bool{}
					e.laterCandidates(v4, e.v6, func(l *entry) bool { seen[l] = true; return true })
					for _, l := range e.v6 {
						if d := l.f.t0 - v4.f.t0; d <= int64(cfg.Horizon) && d >= -int64(cfg.Horizon) && e.pairSum(l, &v4.f, v4, nil) >= e.minSum {
							scoring++
							if !seen[l] {
								missed++
							}
						}
					}
				}
			}
			for i := range as {
				e.Add(&as[i])
			}
			if missed > 0 {
				t.Errorf("%s: the index missed %d of %d scoring pairs", name, missed, scoring)
			}
			if scoring < 1000 {
				t.Errorf("%s: only %d scoring pairs checked", name, scoring)
			}
		}
	}
}

// TestCraftedFloodBounded: a flood of new sources of both families, all
// with one stack and one TCP timestamp (a flood tool's fixed template),
// makes every pair look alike and score. Each decision still visits a
// bounded number of candidates (once every IPv4 attempt held in its near
// window and clock bucket), and what the bounds left out is counted.
func TestCraftedFloodBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxHeld = 20000
	e := New(cfg, nil, func(*Association) {})
	visits := 0
	e.check = func(_, _ *entry, _ float64) { visits++ }
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 1, 3, 3, 7}
	const n = 40000 // 4 s: one near window
	for i := range n {
		a := attempt.Attempt{Family: 4, SrcPort: uint16(i), SYNs: 1, HasTS: true, TSFirst: 0x12345678, TSLast: 0x12345678, Fingerprint: attempt.Fingerprint{OSClass: "Linux"}}
		a.Src = netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a.Family = 6
			a.Src = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i), 15: 1})
		}
		a.First.OptLen = uint8(copy(a.First.Options[:], opts))
		a.First.TTL = 64
		a.FirstSeen = t0.Add(time.Duration(i) * 100 * time.Microsecond)
		a.LastSeen = a.FirstSeen
		e.Add(&a)
	}
	e.Flush()
	per := float64(visits) / (n / 2)
	st := e.Stats()
	t.Logf("%.0f candidates visited per IPv6 decision; stats %+v", per, st)
	if per > 2*maxNear {
		t.Errorf("%.0f candidates visited per IPv6 decision, want at most %d", per, 2*maxNear)
	}
	if st.CappedScans == 0 || st.Unindexed == 0 {
		t.Errorf("the bounds on one decision's work were not counted: %+v", st)
	}
}
