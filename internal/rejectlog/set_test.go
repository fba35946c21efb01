package rejectlog

import (
	"net/netip"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := NewSet(time.Hour)
	ip := netip.MustParseAddr("192.0.2.7")
	s.Add(Rejection{IP: ip, Time: t0})
	s.Add(Rejection{IP: netip.MustParseAddr("::ffff:192.0.2.8"), Time: t0})
	for _, tc := range []struct {
		ip   netip.Addr
		at   time.Time
		want bool
	}{
		{ip, t0, true}, {ip, t0.Add(time.Hour), true}, {ip, t0.Add(-time.Hour), true},
		{ip, t0.Add(time.Hour + 1), false}, {ip, t0.Add(-time.Hour - 1), false},
		{netip.MustParseAddr("192.0.2.8"), t0, true}, {netip.MustParseAddr("192.0.2.9"), t0, false},
	} {
		if got := s.Listed(tc.ip, tc.at); got != tc.want {
			t.Errorf("Listed(%v, %v) = %v", tc.ip, tc.at.Sub(t0), got)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len %d", s.Len())
	}
	if !NewSetAny(s).Listed(ip, t0.Add(1000*time.Hour)) {
		t.Error("window 0 must mean any time")
	}
}

// NewSetAny returns s's rejections with no time window.
func NewSetAny(s *Set) *Set { return &Set{times: s.times} }

func TestSetExpire(t *testing.T) {
	s := NewSet(time.Hour)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	s.Add(Rejection{IP: a, Time: t0})
	s.Add(Rejection{IP: a, Time: t0.Add(3 * time.Hour)})
	s.Add(Rejection{IP: b, Time: t0})
	s.Expire(t0.Add(2 * time.Hour))
	if s.Len() != 1 || s.Listed(b, t0) || !s.Listed(a, t0.Add(3*time.Hour)) || s.Listed(a, t0) {
		t.Errorf("after Expire: len %d", s.Len())
	}
}
