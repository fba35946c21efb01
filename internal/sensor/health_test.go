package sensor

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

type fakeRing struct{ size, pending int }

func (r *fakeRing) Size() int    { return r.size }
func (r *fakeRing) Pending() int { return r.pending }

// pressedSink is a sink under pressure when told.
type pressedSink struct{ n uint64 }

func (p *pressedSink) Write(*synevent.Event) error { return nil }
func (p *pressedSink) Flush() error                { return nil }
func (p *pressedSink) Close() error                { return nil }
func (p *pressedSink) Pressure() uint64            { return p.n }

// TestHealthDegraded: a ring more than half full or a sink handling work
// early makes Health (/healthz) say degraded, with why, for DegradedHold;
// Healthy (/livez) stays ok; the check runs at most once a second.
func TestHealthDegraded(t *testing.T) {
	sink := &pressedSink{}
	cfg := DefaultConfig()
	cfg.Iface, cfg.DegradedHold = "eth0", 10*time.Second
	s, err := New(cfg, zap.NewNop(), sink)
	if err != nil {
		t.Fatal(err)
	}
	s.setState(StateRunning, nil)
	ring := &fakeRing{size: 1 << 20}
	now := time.Now()
	s.checkHealth(ring, now)
	if ok, why := s.Health(); !ok {
		t.Fatalf("idle agent not healthy: %s", why)
	}
	ring.pending = 600 << 10
	s.checkHealth(ring, now.Add(500*time.Millisecond)) // too soon: not looked at
	if ok, _ := s.Health(); !ok {
		t.Fatal("checked twice within a second")
	}
	s.checkHealth(ring, now.Add(time.Second))
	ok, why := s.Health()
	if ok || !strings.Contains(why, "behind: the ring is 58% full") {
		t.Errorf("ring 58%% full: ok %v, %q", ok, why)
	}
	if ok, why := s.Healthy(); !ok {
		t.Errorf("Healthy (livez) not ok while degraded: %s", why)
	}
	ring.pending = 0
	sink.n = 42
	s.checkHealth(ring, now.Add(2*time.Second))
	if ok, why := s.Health(); ok || !strings.Contains(why, "at the held-memory bound: 42 attempts handled early") {
		t.Errorf("sink under pressure: ok %v, %q", ok, why)
	}
	// Nothing new: ok once DegradedHold has passed since the last sign.
	s.health.until = time.Now().Add(-time.Millisecond)
	s.checkHealth(ring, now.Add(3*time.Second))
	if ok, why := s.Health(); !ok {
		t.Errorf("still degraded after the hold with nothing new: %s", why)
	}
}
