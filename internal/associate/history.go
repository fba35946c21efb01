package associate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// EvHistory is the evidence family drawn from earlier attempts: a /64's
// past associations and IPv6-only behaviour, and NAT seen on an IPv4 address.
const EvHistory = "history"

// historyTTL is how long per-prefix and per-address history is kept.
const historyTTL = time.Hour

// DefaultMaxHistory bounds each history map; when full, entries older
// than historyTTL are dropped, and if that is not enough, the map is reset.
const DefaultMaxHistory = 1 << 17

// prefixHistory is what the engine remembers of one IPv6 /64. History
// records are values in their maps, keyed compactly: with an hour of
// hosts they are a large share of what the engine holds.
type prefixHistory struct {
	last int64 // Unix ns of the latest attempt recorded
	// ipv4 is the IPv4 of the latest association backed by identity
	// evidence (a verdict of idOutput or idKeyed): only those vouch for
	// the next one.
	// An association made from timing and a generic stack alone, once
	// taken as history, would make the next one likelier, so that one
	// early error repeats itself for as long as the /64 keeps sending.
	ipv4       addr4
	last4      addr4   // last associated IPv4, however
	changes    int32   // times last4 changed
	attempts   float64 // decayed count of IPv6 attempts
	associated float64 // decayed count of associated ones
	recent     float64 // count of IPv6 attempts decayed fast (repeatHalfLife)
	// prop4 is the IPv4 of the best candidate of the latest decision, and
	// agree how many decisions in a row had it best. A dual-stack host's
	// own IPv4 is its best candidate delivery after delivery; another
	// host's attempt falls at the right gap by chance, but rarely for the
	// same IPv4 twice in a row. Two agreeing decisions vouch for a third
	// as identity evidence does.
	prop4 addr4
	agree int32
}

// addr4 is an IPv4 address in 4 bytes (0: none), to keep history records
// small.
type addr4 uint32

func toAddr4(ip netip.Addr) addr4 {
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0
	}
	b := ip.As4()
	return addr4(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
}

func (a addr4) addr() netip.Addr {
	if a == 0 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// agreeing is how many decisions in a row must have had one IPv4 best for
// it to count as the /64's identity.
const agreeing = 2

// A /64 whose IPv6 attempts come faster than a few a minute is a repeat
// sender, the talk's misbehaving MTA: it retries every few seconds, and
// in dense traffic some other host's IPv4 attempt falls at the right gap
// with a similar stack by chance again and again. recent, halved every
// repeatHalfLife, settles at 1/(1-2^(-T/60 s)) for a period of T: 4.9 for
// 20 s, 3.4 for 30 s, 2 for a minute; a delivery every few minutes, even
// of a busy spammer, stays near 1.
const (
	repeatHalfLife = time.Minute
	repeatRecent   = 4
)

// decayRecent halves x every repeatHalfLife.
func decayRecent(x float64, dt time.Duration) float64 {
	if dt <= 0 {
		return x
	}
	return x * pow2(-dt.Seconds()/repeatHalfLife.Seconds())
}

// v4History is what the engine remembers of one IPv4 address.
type v4History struct {
	last    int64   // Unix ns of the latest attempt seen
	sent    float64 // decayed count of attempts (as prefixHistory.attempts)
	stack   uint64  // hash of the SYN's option layout, wscale and TTL class
	count   int32   // attempts seen within historyTTL of each other
	port    uint16
	nat     bool // several stacks or unrelated ports seen: a NAT or a shared address
	windows bool
}

type history struct {
	v6 map[uint64]prefixHistory // by p64
	v4 map[addr4]v4History      // uint32 keys: the pair scans look it up
	// gen changes whenever a /64 record changes, purges whenever records
	// are dropped: the engine's snapshots of them (prefixSnap) taken at
	// another purges are looked up again, and so are those taken at
	// another gen unless the engine invalidates them one by one.
	gen, purges uint64
	max         int // records per map
	// byIPv4 lists the /64s (p64) whose last associated IPv4 is the key.
	byIPv4 map[netip.Addr][]uint64
}

func newHistory(max int) *history {
	if max <= 0 {
		max = DefaultMaxHistory
	}
	return &history{max: max, v6: map[uint64]prefixHistory{}, v4: map[addr4]v4History{}, byIPv4: map[netip.Addr][]uint64{}}
}

// since is t - last as a duration.
func since(t time.Time, last int64) time.Duration { return time.Duration(t.UnixNano() - last) }

func stackHash(a *attempt.Attempt) uint64 {
	var b [40]byte
	h := uint64(14695981039346656037)
	for _, c := range optionLayout(a, &b) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	if ws := tcpOption(a, 3); len(ws) == 1 {
		h = (h ^ uint64(ws[0]) ^ 0x100) * 1099511628211
	}
	return (h ^ uint64(initialTTL(a.First.TTL))) * 1099511628211
}

// seeV4 records an IPv4 attempt (in FirstSeen order).
func (h *history) seeV4(a *attempt.Attempt) {
	if len(h.v4) >= h.max {
		for k, v := range h.v4 {
			if since(a.FirstSeen, v.last) > historyTTL {
				delete(h.v4, k)
			}
		}
		if len(h.v4) > h.max-h.max/8 { // see recordV6
			clear(h.v4)
		}
	}
	st, k := stackHash(a), toAddr4(a.Src)
	v, ok := h.v4[k]
	if !ok || since(a.FirstSeen, v.last) > historyTTL {
		h.v4[k] = v4History{last: a.FirstSeen.UnixNano(), sent: 1, port: a.SrcPort, stack: st, windows: a.OSClass == "Windows", count: 1}
		return
	}
	v.count++
	v.sent = decay(v.sent, since(a.FirstSeen, v.last)) + 1
	d := int(a.SrcPort) - int(v.port)
	if d < 0 {
		d = -d
	}
	if st != v.stack || (v.windows && a.OSClass == "Windows" && d > 1024) {
		v.nat = true
	}
	v.last, v.port, v.stack = a.FirstSeen.UnixNano(), a.SrcPort, st
	h.v4[k] = v
}

// natState says whether an IPv4 address has shown NAT, and whether it has
// been seen often enough (without NAT) to be taken for a single host.
func (h *history) natState(ip netip.Addr) (nat, single bool) {
	v, ok := h.v4[toAddr4(ip)]
	if !ok {
		return false, false
	}
	return v.nat, !v.nat && v.count >= 2
}

// decay halves counts every 10 minutes.
func decay(x float64, dt time.Duration) float64 {
	if dt <= 0 {
		return x
	}
	return x * pow2(-dt.Seconds()/600)
}

func pow2(e float64) float64 {
	// 2^e for e <= 0, good enough for decay.
	r := 1.0
	for e <= -1 {
		r /= 2
		e++
	}
	return r * (1 + e*0.6931471805599453*(1+e*0.6931471805599453/2))
}

// historyRule scores a candidate IPv4 against the /64's past (as
// prefixOf saw it). maxHistory is the most it gives.
func (e *Engine) historyRule(v6 *entry, f4 *feat) weighed {
	if s := e.prefixOf(v6); s.ok {
		return s.verdict(f4.src)
	}
	return weighed{}
}

func (s *prefixSnap) verdict(ip netip.Addr) weighed {
	switch {
	case s.ipv4 == ip:
		return weighed{maxHistory, vSameIPv4}
	case s.agreed == ip:
		return weighed{maxHistory, vBestBefore}
	case s.heavy:
		// A prefix sending many IPv6 attempts that rarely pair: a
		// misbehaving MTA or IPv6-only software, not a dual-stack host.
		return weighed{-4, vHeavyPrefix}
	case s.changing:
		return weighed{-2, vKeepsChanging}
	}
	return weighed{}
}

const maxHistory = 2

// unlink removes /64 k from byIPv4[ip].
func (h *history) unlink(k uint64, ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	l := h.byIPv4[ip]
	if i := slices.Index(l, k); i >= 0 {
		l = slices.Delete(l, i, i+1)
	}
	if len(l) == 0 {
		delete(h.byIPv4, ip)
	} else {
		h.byIPv4[ip] = l
	}
}

// recordV6 updates the /64's history with the decision for one attempt:
// v4 is the IPv4 it was associated with (invalid: none), identity whether
// the association had identity evidence, close the IPv4 addresses of its
// candidates close to the best, best first (chosen or not).
func (h *history) recordV6(v6 *attempt.Attempt, v4 netip.Addr, identity bool, close []netip.Addr) {
	if len(h.v6) >= h.max {
		for k, v := range h.v6 {
			if since(v6.FirstSeen, v.last) > historyTTL {
				h.unlink(k, v.ipv4.addr())
				delete(h.v6, k)
			}
		}
		// Reset unless the purge freed an eighth: the next full scan is
		// then at least max/8 records away (amortised O(1)).
		if len(h.v6) > h.max-h.max/8 {
			clear(h.v6)
			clear(h.byIPv4)
		}
		h.purges++
	}
	h.gen++
	k := p64(v6.Src)
	t := v6.FirstSeen.UnixNano()
	p, ok := h.v6[k]
	if !ok {
		p = prefixHistory{last: t}
	}
	dt := time.Duration(t - p.last)
	p.attempts = decay(p.attempts, dt) + 1
	p.recent = decayRecent(p.recent, dt) + 1
	switch {
	case len(close) == 0:
	case p.prop4 != 0 && slices.Contains(close, p.prop4.addr()):
		p.agree++
	default:
		p.prop4, p.agree = toAddr4(close[0]), 1
	}
	p.associated = decay(p.associated, dt)
	if v4.IsValid() {
		p.associated++
		c := toAddr4(v4)
		if p.last4 != 0 && p.last4 != c {
			p.changes++
		}
		p.last4 = c
		if identity && p.ipv4 != c {
			h.unlink(k, p.ipv4.addr())
			h.byIPv4[c.addr()] = append(h.byIPv4[c.addr()], k)
			p.ipv4 = c
		}
	}
	if t > p.last {
		p.last = t
	}
	h.v6[k] = p
}
