package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// rng wraps a seeded PCG source with the draws the generator needs.
type rng struct{ *rand.Rand }

func newRNG(seed uint64) rng {
	return rng{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (r rng) chance(p float64) bool { return r.Float64() < p }

// between returns a uniform integer in [lo, hi].
func (r rng) between(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// dur returns a uniform duration in [lo, hi).
func (r rng) dur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

func pick[T any](r rng, ws []weighted[T]) T {
	var total float64
	for _, w := range ws {
		total += w.w
	}
	x := r.Float64() * total
	for _, w := range ws {
		if x < w.w {
			return w.v
		}
		x -= w.w
	}
	return ws[len(ws)-1].v
}

// network is an origin AS: an IPv4 /16 and an IPv6 /32.
type network struct {
	v4 [2]byte
	v6 [4]byte
}

// host is one member of the population.
type host struct {
	id       int
	role     string
	st       *stack
	wscale   uint8
	v4       netip.Addr // public IPv4 seen by the sensor (invalid: none)
	v6       []netip.Addr
	addrType string
	nat      bool
	spammer  bool
	listed   bool
	software string
	group    int // bot campaign group, 0 for none

	hops4, hops6 uint8
	rtt          time.Duration
	mss4, mss6   uint16
	winMul       uint16 // window = winMul*MSS overriding the stack's (old Linux: 10 or 20)

	// mutable state while generating
	portShared   uint16
	port4, port6 uint16
	ipid         uint16
	tsOff4       uint32
	tsOff6       uint32
	bootNs       int64 // boot time (ns since epoch) for the TS clock
	v6next       int

	rep *repeatKnobs // a repeat sender's behaviour (role "misbehaving"); nil for the others
}

// natGroup is a public IPv4 shared by several hosts.
type natGroup struct {
	ip     netip.Addr
	listed bool
	size   int
	max    int
	net    *network
}

type population struct {
	r      rng
	m      mix
	start  time.Time
	nets   []network
	hosts  []*host
	used   map[netip.Addr]bool
	groups int
}

var badFirstOctet = map[byte]bool{0: true, 10: true, 100: true, 127: true, 169: true, 172: true, 192: true, 198: true, 203: true}

func (p *population) newNetwork() network {
	var n network
	for {
		n.v4[0] = byte(p.r.between(1, 223))
		if !badFirstOctet[n.v4[0]] {
			break
		}
	}
	n.v4[1] = byte(p.r.IntN(256))
	first := []uint16{0x2001, 0x2003, 0x2404, 0x2600, 0x2601, 0x2602, 0x2603, 0x2604, 0x2605, 0x2606, 0x2607, 0x2800, 0x2a00, 0x2a01, 0x2a02, 0x2a03, 0x2a0a}
	binary.BigEndian.PutUint16(n.v6[:], first[p.r.IntN(len(first))])
	second := uint16(p.r.IntN(0x10000))
	if n.v6[0] == 0x20 && n.v6[1] == 0x01 {
		second = uint16(p.r.between(0x0400, 0x0cff)) // clear of 2001:0::/32 (Teredo) and 2001:db8::/32
	}
	binary.BigEndian.PutUint16(n.v6[2:], second)
	return n
}

// ipv4 draws an unused address of n; within /24 third when third >= 0.
func (p *population) ipv4(n *network, third int, last int) netip.Addr {
	for {
		t := third
		if t < 0 {
			t = p.r.IntN(256)
		}
		l := last
		if l < 1 || l > 254 {
			l = p.r.between(1, 254)
		}
		a := netip.AddrFrom4([4]byte{n.v4[0], n.v4[1], byte(t), byte(l)})
		if !p.used[a] {
			p.used[a] = true
			return a
		}
		last = 0
	}
}

// prefix64 draws a /64 inside n.
func (p *population) prefix64(n *network) [8]byte {
	var b [8]byte
	copy(b[:4], n.v6[:])
	binary.BigEndian.PutUint32(b[4:], p.r.Uint32())
	return b
}

func addr6(pfx [8]byte, iid uint64) netip.Addr {
	var a [16]byte
	copy(a[:8], pfx[:])
	binary.BigEndian.PutUint64(a[8:], iid)
	return netip.AddrFrom16(a)
}

func (p *population) claim6(a netip.Addr) bool {
	if p.used[a] {
		return false
	}
	p.used[a] = true
	return true
}

// randomIID is a privacy/random interface ID (u/l bit clear, not ff:fe).
func (p *population) randomIID() uint64 {
	iid := p.r.Uint64() &^ (0x02 << 56)
	if iid>>24&0xffff == 0xfffe {
		iid ^= 1 << 24
	}
	return iid
}

var ouis = [][3]byte{{0x00, 0x1b, 0x21}, {0x3c, 0x97, 0x0e}, {0x00, 0x25, 0x90}, {0xf0, 0xde, 0xf1}, {0x00, 0x0c, 0x29}, {0xa4, 0x5e, 0x60}}

func (p *population) eui64() uint64 {
	o := ouis[p.r.IntN(len(ouis))]
	nic := p.r.Uint32()
	mac := [8]byte{o[0] ^ 0x02, o[1], o[2], 0xff, 0xfe, byte(nic >> 16), byte(nic >> 8), byte(nic)}
	return binary.BigEndian.Uint64(mac[:])
}

var teredoServers = []netip.Addr{
	netip.MustParseAddr("65.55.158.118"),
	netip.MustParseAddr("157.56.106.184"),
	netip.MustParseAddr("94.245.121.253"),
}

// teredo builds 2001:0:server:flags:~port:~client.
func (p *population) teredo(client netip.Addr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0x20, 0x01
	s := teredoServers[p.r.IntN(len(teredoServers))].As4()
	copy(a[4:8], s[:])
	flags := uint16(p.r.IntN(0x10000)) & 0x3cff // RFC 5991 random bits, cone bit clear
	binary.BigEndian.PutUint16(a[8:], flags)
	binary.BigEndian.PutUint16(a[10:], ^uint16(p.r.between(1024, 65535)))
	c := client.As4()
	for i := range 4 {
		a[12+i] = ^c[i]
	}
	return netip.AddrFrom16(a)
}

// sixToFour builds 2002:gw::/48 addresses: self-addressed (IID = gw) or
// behind a 6to4 router (subnet 1, EUI-64).
func (p *population) sixToFour(gw netip.Addr, self bool) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0x20, 0x02
	g := gw.As4()
	copy(a[2:6], g[:])
	if self {
		copy(a[12:], g[:])
	} else {
		a[7] = 1
		binary.BigEndian.PutUint64(a[8:], p.eui64())
	}
	return netip.AddrFrom16(a)
}

// setV6 gives h an IPv6 address of type t inside n (pfx when not nil).
func (p *population) setV6(h *host, n *network, t string, pfx *[8]byte, iid uint64) {
	h.addrType = t
	for {
		var a netip.Addr
		var px [8]byte
		if pfx != nil {
			px = *pfx
		} else {
			px = p.prefix64(n)
		}
		switch t {
		case "native":
			if iid == 0 {
				iid = p.randomIID()
			}
			a = addr6(px, iid)
		case "eui64":
			a = addr6(px, p.eui64())
		case "embedded-ipv4":
			v := h.v4.As4()
			a = addr6(px, uint64(binary.BigEndian.Uint32(v[:])))
		case "6to4":
			a = p.sixToFour(h.v4, !h.nat)
		case "teredo":
			a = p.teredo(h.v4)
		}
		if p.claim6(a) {
			h.v6 = append(h.v6, a)
			return
		}
		iid = 0
	}
}

// finish fills the per-host stack parameters and state.
func (p *population) finish(h *host) {
	r := p.r
	h.wscale = h.st.wscale
	if h.st == &stWin7 && r.chance(0.2) {
		h.wscale = 2
	}
	if h.st == &stLinuxOld && r.chance(0.3) {
		h.winMul = 10
	}
	h.hops4 = uint8(r.between(6, 24))
	h.hops6 = uint8(max(1, int(h.hops4)+r.between(-2, 2)))
	if h.addrType == "teredo" || h.addrType == "6to4" {
		h.hops6 = uint8(max(1, int(h.hops4)+r.between(-1, 4)))
	}
	h.rtt = time.Duration(math.Exp(r.NormFloat64()*0.6+math.Log(80))) * time.Millisecond
	h.mss4 = 1460
	if r.chance(p.m.mssVary) {
		h.mss4 = []uint16{1452, 1440, 1400, 1380}[r.IntN(4)]
	}
	h.mss6 = h.mss4 - 20
	switch h.addrType {
	case "6to4":
		h.mss6 = 1420 // 1480-byte tunnel MTU
	case "teredo":
		h.mss6 = 1220 // 1280-byte MTU
	}
	lo, hi := int(h.st.portLo), int(h.st.portHi)
	h.portShared = uint16(r.between(lo, hi))
	h.port4 = uint16(r.between(lo, hi) &^ 1)
	h.port6 = uint16(r.between(lo, hi) &^ 1)
	h.ipid = uint16(r.Uint32())
	h.tsOff4, h.tsOff6 = r.Uint32(), r.Uint32()
	h.bootNs = p.start.UnixNano() - int64(r.dur(time.Hour, 60*24*time.Hour))
}

func (p *population) add(h *host) {
	h.id = len(p.hosts) + 1
	if h.v6 == nil {
		h.v6 = []netip.Addr{}
	}
	p.finish(h)
	p.hosts = append(p.hosts, h)
}

// build creates n hosts.
func buildPopulation(r rng, m mix, n int, start time.Time) *population {
	p := &population{r: r, m: m, start: start, used: map[netip.Addr]bool{}}
	for range max(10, n/15) {
		p.nets = append(p.nets, p.newNetwork())
	}
	net := func() *network { return &p.nets[p.r.IntN(len(p.nets))] }

	nMis := 0
	if n >= 200 {
		nMis = max(1, n/m.misbehavingPer)
	}
	nRep := 0
	if m.repeaterPer > 0 {
		nRep = n / m.repeaterPer
	}
	rest := n - nMis - nRep
	tot := m.spammer + m.bot + m.legit + m.scanner
	nBot := int(float64(rest) * m.bot / tot)
	nLegit := int(float64(rest) * m.legit / tot)
	nScan := int(float64(rest) * m.scanner / tot)
	nSpam := rest - nBot - nLegit - nScan

	// Misbehaving MTAs: Linux, several addresses in one /64, one IPv4.
	for range nMis {
		nw := net()
		h := &host{role: "misbehaving", st: &stLinuxNew, software: "rfc6724", v4: p.ipv4(nw, -1, 0)}
		px := p.prefix64(nw)
		for range p.r.between(1, 3) {
			p.setV6(h, nw, "native", &px, 0)
		}
		p.add(h)
	}
	// Legitimate MTAs: static addresses, never NATed or listed.
	for range nLegit {
		nw := net()
		h := &host{role: "legit", st: pick(p.r, m.legitOS), software: "rfc6724", v4: p.ipv4(nw, -1, 0)}
		switch x := p.r.Float64(); {
		case x < 0.45:
			p.setV6(h, nw, "native", nil, uint64(p.r.between(1, 0x30)))
		case x < 0.6:
			p.setV6(h, nw, "embedded-ipv4", nil, 0)
		case x < 0.7:
			p.setV6(h, nw, "eui64", nil, 0)
		default:
			h.addrType = "none"
		}
		p.add(h)
	}
	// Scanners: one family, one SYN per probe.
	for range nScan {
		nw := net()
		st := &stZmap
		if p.r.chance(0.4) {
			st = &stMasscan
		}
		h := &host{role: "scanner", st: st, software: "single"}
		if p.r.chance(0.8) {
			h.v4 = p.ipv4(nw, -1, 0)
			h.addrType = "none"
		} else {
			p.setV6(h, nw, "native", nil, uint64(p.r.between(1, 0xff)))
		}
		p.add(h)
	}
	// Spammers, partly behind NAT.
	var nats []*natGroup
	for range nSpam {
		h := &host{role: "spammer", spammer: true, st: pick(p.r, m.spamOS), software: pick(p.r, m.software)}
		p.spamHost(h, net(), &nats, m.natShare)
		p.add(h)
	}
	// Bot groups: one AS, nearby addresses, mostly one OS, simultaneous.
	for left := nBot; left > 0; {
		size := min(left, p.r.between(m.botGroupMin, m.botGroupMax))
		left -= size
		p.groups++
		nw := net()
		st := pick(p.r, m.spamOS)
		sw := pick(p.r, m.software)
		at := pick(p.r, m.addrTypes)
		third := p.r.IntN(256)
		base := p.r.between(1, 254-min(size, 200))
		px := p.prefix64(nw)
		same64 := p.r.chance(m.botSame64)
		iidBase := p.r.Uint64() >> 8
		var gnat *natGroup
		if p.r.chance(m.natShare) {
			gnat = &natGroup{ip: p.ipv4(nw, third, 0), listed: p.r.chance(m.listedShare), max: size}
		}
		for i := range size {
			h := &host{role: "bot", spammer: true, st: st, software: sw, group: p.groups}
			if !p.r.chance(m.botSameOS) {
				h.st = pick(p.r, m.spamOS)
			}
			a := at
			if gnat != nil && (a == "embedded-ipv4" || a == "6to4") {
				a = "native"
			}
			if a == "teredo" && h.st.class != "Windows" {
				a = "native"
			}
			if a != "v6only" {
				if gnat != nil {
					h.v4, h.nat, h.listed = gnat.ip, true, gnat.listed
				} else {
					h.v4 = p.ipv4(nw, third, base+i)
					h.listed = p.r.chance(m.listedShare)
				}
			}
			switch a {
			case "none":
				h.addrType = "none"
			case "v6only":
				p.setV6(h, nw, "native", nil, 0)
			case "native":
				if same64 {
					p.setV6(h, nw, "native", &px, iidBase+uint64(i)+1)
				} else {
					p.setV6(h, nw, "native", nil, 0)
				}
			default:
				p.setV6(h, nw, a, nil, 0)
			}
			p.add(h)
		}
	}
	if nRep > 0 || m.decoyShare > 0 {
		o := newOtherV4(p)
		p.addRepeaters(nRep, o)
		p.addDecoys(o)
	}
	return p
}

// spamHost fills in a spammer's addresses.
func (p *population) spamHost(h *host, nw *network, nats *[]*natGroup, natShare float64) {
	m := p.m
	at := pick(p.r, m.addrTypes)
	if at == "teredo" && h.st.class != "Windows" {
		at = "native"
	}
	if at == "v6only" {
		p.setV6(h, nw, "native", nil, 0)
		return
	}
	switch {
	case at == "teredo":
		// Teredo clients sit behind a NAT of their own.
		h.nat = true
		h.v4 = p.ipv4(nw, -1, 0)
		h.listed = p.r.chance(m.listedShare)
	case at == "6to4" && p.r.chance(0.3):
		// Behind a 6to4 router that also NATs IPv4.
		h.nat = true
		h.v4 = p.ipv4(nw, -1, 0)
		h.listed = p.r.chance(m.listedShare)
	case at != "embedded-ipv4" && at != "6to4" && p.r.chance(natShare):
		h.nat = true
		var g *natGroup
		if len(*nats) > 0 && p.r.chance(0.6) {
			c := (*nats)[p.r.IntN(len(*nats))]
			if c.size < c.max {
				g = c
				nw = c.net
			}
		}
		if g == nil {
			g = &natGroup{ip: p.ipv4(nw, -1, 0), listed: p.r.chance(m.listedShare), max: p.r.between(1, m.natMaxGroup), net: nw}
			*nats = append(*nats, g)
		}
		g.size++
		h.v4, h.listed = g.ip, g.listed
	default:
		h.v4 = p.ipv4(nw, -1, 0)
		h.listed = p.r.chance(m.listedShare)
	}
	if at == "none" {
		h.addrType = "none"
		return
	}
	p.setV6(h, nw, at, nil, 0)
}
