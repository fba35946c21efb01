package rejectlog

import (
	"net/netip"
	"sort"
	"time"
)

// Set is the DNSBL rejections of a log, by address: it answers "was this
// address rejected by a DNSBL within Window of this time?".
type Set struct {
	Window time.Duration
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
	s.times[ip] = append(s.times[ip], r.Time)
	s.sorted = false
}

// Len is the number of distinct addresses.
func (s *Set) Len() int { return len(s.times) }

// Listed reports whether ip was rejected within Window of at.
func (s *Set) Listed(ip netip.Addr, at time.Time) bool {
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
