package rejectlog

import (
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Set is the DNSBL rejections of a log, by address: it answers "was this
// address rejected by a DNSBL within Window of this time?". It is safe for
// concurrent use (a follower adds while the pipeline asks).
type Set struct {
	Window time.Duration
	mu     sync.Mutex
	times  map[netip.Addr][]time.Time
	sorted bool
}

// NewSet returns an empty set answering within window (0 means any time).
func NewSet(window time.Duration) *Set {
	return &Set{Window: window, times: map[netip.Addr][]time.Time{}}
}

// Add records a rejection.
func (s *Set) Add(r Rejection) {
	if !r.IP.IsValid() {
		return
	}
	ip := r.IP.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times[ip] = append(s.times[ip], r.Time)
	s.sorted = false
}

// Len is the number of distinct addresses.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times)
}

// Expire forgets rejections before t: a set that runs for months stays
// bounded by what its window can still use.
func (s *Set) Expire(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ip, ts := range s.times {
		kept := ts[:0]
		for _, x := range ts {
			if !x.Before(t) {
				kept = append(kept, x)
			}
		}
		if len(kept) == 0 {
			delete(s.times, ip)
		} else {
			s.times[ip] = kept
		}
	}
}

// Listed reports whether ip was rejected within Window of at.
func (s *Set) Listed(ip netip.Addr, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.times[ip.Unmap()]
	if len(ts) == 0 {
		return false
	}
	if s.Window <= 0 {
		return true
	}
	if !s.sorted {
		for _, v := range s.times {
			sort.Slice(v, func(i, j int) bool { return v[i].Before(v[j]) })
		}
		s.sorted = true
	}
	i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(at.Add(-s.Window)) })
	return i < len(ts) && !ts[i].After(at.Add(s.Window))
}
