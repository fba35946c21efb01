package enrich

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket: rate tokens a second, at most burst saved up.
// Callers reserve a token first and then sleep until it is due, so they are
// served in order and the long-run rate holds. A nil limiter never waits.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time // time.Now; tests freeze it
}

func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now(), now: time.Now}
}

// reserve takes a token and returns how long to wait until it is due (0:
// go now).
func (l *limiter) reserve() time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	l.last = now
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// sleep waits d, the wait reserve asked for. When ctx ends first, or its
// deadline comes before the token is due, the token is given back.
func (l *limiter) sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		l.refund()
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.refund()
		return ctx.Err()
	}
}

func (l *limiter) refund() {
	l.mu.Lock()
	l.tokens++
	l.mu.Unlock()
}
