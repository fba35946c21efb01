package main

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// attempt is one connect() attempt: the SYNs of one source address and port.
type attempt struct {
	host     int32 // index into population.hosts
	delivery int32
	pair     int32 // index of the other-family attempt of the delivery, -1 for none
	v6       bool
	syns     uint8
	ttl      uint8
	src      netip.Addr
	sport    uint16
	window   uint16
	ipid     uint16
	df       bool
	flow     uint32
	seq      uint32
	t0       int64 // first SYN, ns since epoch
	opts     []byte
}

// syn is one SYN on the wire: the k-th SYN of attempt a at time t.
type syn struct {
	t int64
	a int32
	k uint8
}

type traffic struct {
	attempts []attempt
	syns     []syn
	// deliveries per host, for the mail log
	deliveryTimes [][]int64
	// deliveryIDs are the deliveries' numbers, beside deliveryTimes (which
	// sensor a delivery goes to, with -sensors)
	deliveryIDs [][]int32
	deliveries  int32
	natPorts    map[netip.AddrPort][]int64
}

const (
	sensor4 = "198.51.100.25"
	sensor6 = "2001:db8:25::25"
)

// poisson returns sorted event times of a Poisson process of rate per hour in [from, to).
func poisson(r rng, ratePerHour float64, from, to int64) []int64 {
	if ratePerHour <= 0 {
		return nil
	}
	var ts []int64
	mean := float64(time.Hour) / ratePerHour
	t := float64(from) + r.ExpFloat64()*mean
	for t < float64(to) {
		ts = append(ts, int64(t))
		t += r.ExpFloat64() * mean
	}
	return ts
}

// generateTraffic draws every host's deliveries and their attempts and SYNs.
func generateTraffic(p *population, r rng, start time.Time, d time.Duration, density float64) *traffic {
	m := p.m
	from, to := start.UnixNano(), start.Add(d).UnixNano()
	tr := &traffic{deliveryTimes: make([][]int64, len(p.hosts)), deliveryIDs: make([][]int32, len(p.hosts)), natPorts: map[netip.AddrPort][]int64{}}

	// Campaign times per bot group.
	campaigns := make([][]int64, p.groups+1)
	for g := 1; g <= p.groups; g++ {
		campaigns[g] = poisson(r, m.campaignRate*density, from, to)
	}
	// Spam waves: every spammer of one stack may join (generic mix).
	var waves []int64
	if m.waveRate > 0 {
		waves = poisson(r, m.waveRate*density, from, to)
	}
	for i, h := range p.hosts {
		var times []int64
		switch h.role {
		case "spammer":
			rate := m.spamRate * density * math.Exp(r.NormFloat64()-0.5)
			times = poisson(r, rate, from, to)
			if len(waves) > 0 && h.st == m.waveStack {
				times = joinWaves(r, &m, waves, times)
			}
		case "bot":
			for _, c := range campaigns[h.group] {
				if r.chance(0.8) {
					times = append(times, c+int64(r.dur(0, m.botJitter+1)))
				}
			}
			slices.Sort(times)
		case "legit":
			times = poisson(r, m.legitRate*density, from, to)
		case "scanner":
			times = poisson(r, m.scanRate*density, from, to)
		case "misbehaving":
			if h.rep != nil {
				times = h.rep.times(r, from, to, density)
				break
			}
			for t := from + int64(r.dur(0, 5*time.Second)); t < to; t += int64(r.dur(4*time.Second, 6*time.Second)) {
				times = append(times, t)
			}
		}
		for _, t := range times {
			tr.delivery(p, r, i, h, t)
		}
	}
	slices.SortFunc(tr.syns, func(a, b syn) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		if c := cmp.Compare(a.a, b.a); c != 0 {
			return c
		}
		return cmp.Compare(a.k, b.k)
	})
	return tr
}

// families returns the address families a delivery tries, in order.
func families(r rng, h *host) []bool {
	has4, has6 := h.v4.IsValid(), len(h.v6) > 0
	switch {
	case !has6:
		return []bool{false}
	case !has4:
		return []bool{true}
	}
	switch h.role {
	case "misbehaving":
		if h.rep != nil {
			return h.rep.families(r)
		}
		if r.chance(0.03) {
			return []bool{true, false}
		}
		return []bool{true}
	case "scanner":
		return []bool{false}
	}
	v6first := h.addrType != "6to4" && h.addrType != "teredo"
	switch h.software {
	case "ipv4-only":
		return []bool{false}
	case "ipv4-first":
		return []bool{false, true}
	case "first-only":
		return []bool{v6first}
	}
	return []bool{v6first, !v6first}
}

// delivery adds the attempts of one delivery by h starting at t.
func (tr *traffic) delivery(p *population, r rng, hi int, h *host, t int64) {
	tr.deliveries++
	tr.deliveryTimes[hi] = append(tr.deliveryTimes[hi], t)
	tr.deliveryIDs[hi] = append(tr.deliveryIDs[hi], tr.deliveries)
	fams := families(r, h)
	first := int32(len(tr.attempts))
	for _, v6 := range fams {
		a := tr.connect(r, h, v6, t)
		a.host, a.delivery, a.pair = int32(hi), tr.deliveries, -1
		idx := int32(len(tr.attempts))
		tr.attempts = append(tr.attempts, a)
		// SYN times: Windows re-sends on the same port ~0.5 s after each RST.
		st := t
		for k := range int(a.syns) {
			tr.syns = append(tr.syns, syn{t: st, a: idx, k: uint8(k)})
			if k+1 < int(a.syns) {
				st += int64(h.rtt + r.dur(490*time.Millisecond, 520*time.Millisecond))
			}
		}
		// The next address: Windows after another ~0.5 s, others at once after the RST.
		if h.st.syns > 1 {
			t = st + int64(h.rtt+r.dur(480*time.Millisecond, 560*time.Millisecond))
		} else {
			t = st + int64(h.rtt+r.dur(100*time.Microsecond, 3*time.Millisecond))
		}
	}
	if len(fams) == 2 {
		tr.attempts[first].pair = first + 1
		tr.attempts[first+1].pair = first
	}
}

// connect builds the attempt h makes over one family at t.
func (tr *traffic) connect(r rng, h *host, v6 bool, t int64) attempt {
	st := h.st
	a := attempt{v6: v6, t0: t, syns: uint8(st.syns), seq: r.Uint32(), df: st.df}
	lo, hi := int(st.portLo), int(st.portHi)
	var local uint16
	switch st.ports {
	case portShared:
		// One pool for both families; other connections of the host
		// consume ports between deliveries.
		h.portShared += uint16(1 + r.IntN(3)*r.IntN(2))
		if int(h.portShared) < lo || int(h.portShared) > hi {
			h.portShared = uint16(lo)
		}
		local = h.portShared
	case portPerFamily:
		pp := &h.port4
		if v6 {
			pp = &h.port6
		}
		*pp += uint16(2 * r.between(1, 10))
		if int(*pp) < lo || int(*pp) > hi {
			*pp = uint16(lo + r.IntN(64)*2)
		}
		local = *pp
	default:
		local = tr.freePort(r, h, v6, lo, hi, t)
	}
	mss := h.mss4
	if v6 {
		mss = h.mss6
		a.src = h.v6[h.v6next%len(h.v6)]
		h.v6next++
		a.ttl = st.ittl - h.hops6
		a.sport = local
		if st.flow {
			a.flow = r.Uint32()&0xfffff | 1
		}
	} else {
		a.src = h.v4
		a.ttl = st.ittl - h.hops4
		a.sport = local
		if h.nat {
			a.sport = tr.freePort(r, h, false, 1024, 65535, t)
		}
		if st.ipidSeq {
			h.ipid += uint16(1 + r.IntN(20))
			a.ipid = h.ipid
		} else if st.class != "Scanner" {
			a.ipid = uint16(r.Uint32())
		} else if st == &stZmap {
			a.ipid = 54321
		} else {
			a.ipid = uint16(r.Uint32())
		}
	}
	a.window = st.window(mss, v6)
	if h.winMul != 0 {
		a.window = h.winMul * mss
	}
	var tsval uint32
	if st.ts {
		ms := uint32((t - h.bootNs) / int64(time.Millisecond))
		switch st {
		case &stLinuxNew: // random offset per address pair
			if v6 {
				tsval = h.tsOff6 + ms
			} else {
				tsval = h.tsOff4 + ms
			}
		case &stFreeBSD: // random offset per connection
			tsval = r.Uint32()
		case &stLinuxOld: // jiffies: one clock for the host, at CONFIG_HZ
			hz := oldLinuxHZ[h.tsOff6%uint32(len(oldLinuxHZ))] // tsOff6 is otherwise unused here
			tsval = h.tsOff4 + uint32((t-h.bootNs)/(int64(time.Second)/hz))
		default: // one clock for the host
			tsval = h.tsOff4 + ms
		}
	}
	a.opts = st.options(make([]byte, 0, 24), mss, h.wscale, tsval)
	return a
}

// oldLinuxHZ are the CONFIG_HZ values of pre-4.13 kernels, whose TSval is
// jiffies (250 was the distributions' usual choice).
var oldLinuxHZ = [...]int64{250, 250, 250, 1000, 1000, 100}

// freePort picks a random port in [lo, hi] that h's source address of the
// family has not used within a minute of t (NAT addresses are shared).
func (tr *traffic) freePort(r rng, h *host, v6 bool, lo, hi int, t int64) uint16 {
	ip := h.v4
	if v6 {
		ip = h.v6[h.v6next%len(h.v6)]
	}
	for {
		port := uint16(r.between(lo, hi))
		k := netip.AddrPortFrom(ip, port)
		ok := true
		for _, u := range tr.natPorts[k] {
			if u > t-int64(time.Minute) && u < t+int64(time.Minute) {
				ok = false
				break
			}
		}
		if ok {
			tr.natPorts[k] = append(tr.natPorts[k], t)
			return port
		}
	}
}
