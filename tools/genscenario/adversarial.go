package main

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"
)

// The scenario families below model what independent dense scenarios had
// and the original presets did not (issue 17): repeat senders, many hosts
// of one generic stack active in the same second, and IPv6 addresses that
// look embedded but embed another host's IPv4.

// repeatKnobs describe repeat senders, the talk's "misbehaving MTAs": one
// address or /64 retrying every few seconds for minutes up to an hour,
// mostly over IPv6 alone.
type repeatKnobs struct {
	os        []weighted[*stack]
	addrTypes []weighted[string] // native, eui64, low-byte, embedded-other

	spanMin, spanMax     time.Duration // active span, starting anywhere in the run
	periodMin, periodMax time.Duration // a sender's median retry period, log-uniform between them
	sigma                float64       // log-normal spread of each gap around the median
	pause                float64       // chance a gap is followed by a pause
	pauseMin, pauseMax   time.Duration
	burst                float64 // chance a retry is followed by 1-3 quick ones (parallel queue runners)

	dual   float64 // share of retries that try IPv6 then IPv4 (a dual-stack delivery)
	v4only float64 // share of retries over IPv4 alone
	spam   float64 // share of repeat senders that send spam (listed with the mix's listedShare)
	// v4Heavy is the share of repeat senders that retry mostly over IPv4
	// (v4HeavyOnly of their retries): a steady stream of one stack's IPv4
	// attempts beside the IPv6 retriers.
	v4Heavy, v4HeavyOnly float64
}

func defaultRepeat() repeatKnobs {
	return repeatKnobs{
		os:        []weighted[*stack]{{45, &stLinuxNew}, {10, &stLinuxOld}, {15, &stWin10}, {5, &stWin7}, {15, &stFreeBSD}, {10, &stMac}},
		addrTypes: []weighted[string]{{40, "native"}, {20, "eui64"}, {32, "low-byte"}, {8, "embedded-other"}},
		spanMin:   5 * time.Minute, spanMax: time.Hour,
		periodMin: 2 * time.Second, periodMax: 15 * time.Second, sigma: 0.5,
		pause: 0.02, pauseMin: 30 * time.Second, pauseMax: 5 * time.Minute, burst: 0.05,
		dual: 0.04, v4only: 0.02, spam: 0.5, v4Heavy: 0.4, v4HeavyOnly: 0.9,
	}
}

// Presets of the families; each starts from the default mix.
func repeatersMix() mix {
	m := defaultMix()
	m.repeaterPer, m.repeat = 18, defaultRepeat()
	return m
}

func genericMix() mix {
	m := defaultMix()
	m.spammer, m.bot = 45, 30
	m.spamOS = []weighted[*stack]{{70, &stLinuxNew}, {10, &stWin10}, {8, &stWin7}, {4, &stLinuxOld}, {4, &stMac}, {4, &stFreeBSD}}
	m.botGroupMin, m.botGroupMax, m.botSameOS = 10, 40, 1
	m.botJitter, m.campaignRate = time.Second, 4
	m.mssVary = 0.05
	m.waveRate, m.waveJoin, m.waveJitter, m.waveStack = 4, 0.15, time.Second, &stLinuxNew
	return m
}

func decoysMix() mix {
	m := defaultMix()
	m.decoyShare = 0.3
	return m
}

func adversarialMix() mix {
	m := genericMix()
	m.repeaterPer, m.repeat = 18, defaultRepeat()
	m.decoyShare = 0.3
	return m
}

// families is the address families of one retry of a repeat sender.
func (k *repeatKnobs) families(r rng) []bool {
	switch x := r.Float64(); {
	case x < k.dual:
		return []bool{true, false}
	case x < k.dual+k.v4only:
		return []bool{false}
	}
	return []bool{true}
}

// times draws a repeat sender's retry times in [from, to): one active span
// of irregular gaps, with occasional pauses and bursts. Density divides the
// period, as it multiplies the other hosts' delivery rates.
func (k *repeatKnobs) times(r rng, from, to int64, density float64) []int64 {
	start := from + r.Int64N(to-from)
	end := min(to, start+int64(r.dur(k.spanMin, k.spanMax)))
	med := float64(k.periodMin) * math.Pow(float64(k.periodMax)/float64(k.periodMin), r.Float64()) / density
	var ts []int64
	for t := start; t < end; {
		ts = append(ts, t)
		if r.chance(k.burst) {
			for range r.between(1, 3) {
				t += int64(r.dur(300*time.Millisecond, 2*time.Second))
				if t < end {
					ts = append(ts, t)
				}
			}
		}
		gap := max(med*math.Exp(k.sigma*r.NormFloat64()), float64(100*time.Millisecond))
		if r.chance(k.pause) {
			gap += float64(r.dur(k.pauseMin, k.pauseMax))
		}
		t += int64(gap)
	}
	return ts
}

// joinWaves adds the spam waves a spammer joins to its delivery times.
func joinWaves(r rng, m *mix, waves, times []int64) []int64 {
	for _, w := range waves {
		if r.chance(m.waveJoin) {
			times = append(times, w+int64(r.dur(0, m.waveJitter)))
		}
	}
	slices.Sort(times)
	return times
}

// otherV4 draws the IPv4 addresses decoys embed: those of spammers, bots
// and legitimate MTAs (hosts that deliver over IPv4), half the time from
// the decoy's own network, as a provider numbering its IPv6 after its IPv4
// plan would.
type otherV4 struct {
	all   []netip.Addr
	byNet map[int][]netip.Addr
	ix    netIndex
}

func newOtherV4(p *population) *otherV4 {
	o := &otherV4{byNet: map[int][]netip.Addr{}, ix: indexNetworks(p)}
	for _, h := range p.hosts {
		if !h.v4.IsValid() || h.role != "spammer" && h.role != "bot" && h.role != "legit" {
			continue
		}
		o.all = append(o.all, h.v4)
		if n, ok := o.ix.of(h.v4); ok {
			o.byNet[n] = append(o.byNet[n], h.v4)
		}
	}
	return o
}

// draw returns an address that is not own, or false after a bounded search.
func (o *otherV4) draw(r rng, near netip.Addr, own netip.Addr) (netip.Addr, bool) {
	if len(o.all) == 0 {
		return netip.Addr{}, false
	}
	n, ok := o.ix.of(near)
	for range 64 {
		c := o.all[r.IntN(len(o.all))]
		if same := o.byNet[n]; ok && len(same) > 0 && r.chance(0.5) {
			c = same[r.IntN(len(same))]
		}
		if c != own {
			return c, true
		}
	}
	return netip.Addr{}, false
}

// decimalIID writes v's octets as decimal numbers in hex digits, one per
// group (2001:db8::192:0:2:1 for 192.0.2.1).
func decimalIID(v [4]byte) uint64 {
	var iid uint64
	for _, o := range v {
		iid = iid<<16 | uint64(o/100)<<8 | uint64(o/10%10)<<4 | uint64(o%10)
	}
	return iid
}

// setV6Look gives h an address of /64 px in one of the families' forms:
// native, eui64, low-byte (::1 to ::ff) or embedded-other (another host's
// IPv4 in the low 32 bits, in hex or, one time in five, decimal groups).
func (p *population) setV6Look(h *host, px [8]byte, t string, o *otherV4) bool {
	for range 64 {
		var iid uint64
		switch t {
		case "native":
			iid = p.randomIID()
		case "eui64":
			iid = p.eui64()
		case "low-byte":
			iid = uint64(p.r.between(1, 0xff))
		case "embedded-other":
			v, ok := o.draw(p.r, addr6(px, 0), h.v4)
			if !ok {
				t, iid = "native", p.randomIID()
				break
			}
			b := v.As4()
			iid = uint64(binary.BigEndian.Uint32(b[:]))
			if p.r.chance(0.2) {
				iid = decimalIID(b)
			}
		}
		if a := addr6(px, iid); p.claim6(a) {
			h.addrType = t
			h.v6 = append(h.v6, a)
			return true
		}
	}
	return false
}

// addRepeaters adds n repeat senders: one IPv4 of their own, one to four
// IPv6 addresses in one /64 (EUI-64: one).
func (p *population) addRepeaters(n int, o *otherV4) {
	for range n {
		k := p.m.repeat
		if p.r.chance(k.v4Heavy) {
			k.v4only = k.v4HeavyOnly
		}
		nw := &p.nets[p.r.IntN(len(p.nets))]
		h := &host{role: "misbehaving", st: pick(p.r, k.os), software: "rfc6724", v4: p.ipv4(nw, -1, 0), rep: &k}
		h.spammer = p.r.chance(k.spam)
		h.listed = h.spammer && p.r.chance(p.m.listedShare)
		px := p.prefix64(nw)
		t := pick(p.r, k.addrTypes)
		na := 1
		if t != "eui64" && p.r.chance(0.4) {
			na = p.r.between(2, 4)
		}
		for range na {
			p.setV6Look(h, px, t, o)
		}
		p.add(h)
	}
}

// addDecoys replaces, with chance decoyShare, the native or EUI-64 address
// of a spammer, bot or legitimate MTA by one of the same /64 that looks
// embedded: another host's IPv4 in the low 32 bits (three in four), or a
// low byte that is the last octet of another host's IPv4 (nearby, mostly)
// and not of its own.
func (p *population) addDecoys(o *otherV4) {
	for _, h := range p.hosts {
		if h.rep != nil || h.role != "spammer" && h.role != "bot" && h.role != "legit" ||
			h.addrType != "native" && h.addrType != "eui64" || len(h.v6) != 1 || !p.r.chance(p.m.decoyShare) {
			continue
		}
		old := h.v6[0]
		b := old.As16()
		px := [8]byte(b[:8])
		if !p.r.chance(0.25) {
			h.v6 = h.v6[:0]
			if !p.setV6Look(h, px, "embedded-other", o) {
				h.v6 = append(h.v6, old)
			}
			continue
		}
		v, ok := o.draw(p.r, old, h.v4)
		if ok && (!h.v4.IsValid() || v.As4()[3] != h.v4.As4()[3]) {
			if a := addr6(px, uint64(v.As4()[3])); p.claim6(a) {
				h.v6[0], h.addrType = a, "low-byte"
			}
		}
	}
}
