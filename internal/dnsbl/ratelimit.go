package dnsbl

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Limiter is a response rate limiter: one token bucket per source prefix
// (/24 for IPv4, /56 for IPv6 by default), refilled at Rate tokens a second
// up to Burst. At most MaxPrefixes buckets are kept; when full, the least
// recently used one is evicted (O(1)), so a flood of spoofed sources costs
// bounded memory and constant time per packet.
type Limiter struct {
	rate, burst    float64
	v4bits, v6bits int
	max            int

	mu  sync.Mutex
	m   map[netip.Prefix]*list.Element
	lru list.List // of *bucket, most recent first
}

type bucket struct {
	key    netip.Prefix
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter; rate <= 0 returns nil, which allows
// everything.
func NewLimiter(rate float64, burst, v4bits, v6bits, maxPrefixes int) *Limiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if maxPrefixes < 1 {
		maxPrefixes = 1
	}
	return &Limiter{rate: rate, burst: float64(burst), v4bits: min(max(v4bits, 0), 32), v6bits: min(max(v6bits, 0), 128),
		max: maxPrefixes, m: make(map[netip.Prefix]*list.Element)}
}

// Key returns the bucket key of a source address.
func (l *Limiter) Key(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	bits := l.v6bits
	if ip.Is4() {
		bits = l.v4bits
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Allow takes a token for a response to ip at time now and reports whether
// there was one.
func (l *Limiter) Allow(ip netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	key := l.Key(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if el, ok := l.m[key]; ok {
		b = el.Value.(*bucket)
		l.lru.MoveToFront(el)
		if dt := now.Sub(b.last); dt > 0 {
			b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
			b.last = now
		}
	} else {
		if len(l.m) >= l.max {
			old := l.lru.Back()
			delete(l.m, old.Value.(*bucket).key)
			l.lru.Remove(old)
		}
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.m[key] = l.lru.PushFront(b)
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
