package dataplane

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts bpf_ktime_get_ns() (CLOCK_MONOTONIC) to wall-clock time.
// The offset between the two clocks moves when NTP steps the wall clock, so
// the agent calls Sync now and then.
type Clock struct {
	offset int64 // realtime - monotonic, ns
}

// NewClock returns a synchronised clock.
func NewClock() *Clock {
	c := &Clock{}
	c.Sync()
	return c
}

// Sync re-reads the offset, taking the tightest of a few readings.
func (c *Clock) Sync() {
	best := int64(-1)
	for i := 0; i < 3; i++ {
		var r1, m, r2 unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r1)
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r2)
		gap := r2.Nano() - r1.Nano()
		if best < 0 || gap < best {
			best = gap
			c.offset = (r1.Nano()+r2.Nano())/2 - m.Nano()
		}
	}
}

// Wall converts a monotonic kernel timestamp to wall-clock time.
func (c *Clock) Wall(ktimeNs uint64) time.Time {
	return time.Unix(0, int64(ktimeNs)+c.offset)
}
