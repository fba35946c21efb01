package associate

import (
	"math"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// EvClock is the evidence family drawn from the TCP timestamp option: the
// clock rate, and one clock behind both attempts.
const EvClock = "clock"

// tsRates are the TSval clock rates of common stacks, in Hz: 1000 (Linux
// since 4.13, the BSDs, macOS) and the jiffies rates of older Linux
// kernels (CONFIG_HZ 250, 100, 300).
var tsRates = [...]float64{1000, 250, 100, 300}

// minRateSpan is the least time between an attempt's first and last SYN
// for its TSval rate to be measured: below it tick granularity dominates.
const minRateSpan = 200 * time.Millisecond

// tsRate measures the TSval clock rate of an attempt from its first and
// last SYN, and snaps it to the nearest common rate (within 15%).
func tsRate(a *attempt.Attempt) (float64, bool) {
	if !a.HasTS || a.SYNs < 2 {
		return 0, false
	}
	d := a.Duration()
	ticks := a.TSLast - a.TSFirst
	if d < minRateSpan || ticks == 0 || ticks > 1<<31 {
		return 0, false
	}
	r := float64(ticks) / d.Seconds()
	for _, s := range tsRates {
		if math.Abs(r-s) <= 0.15*s {
			return s, true
		}
	}
	return r, true
}

// clockTolerance is how far (in seconds of the clock) two SYNs' TSvals may
// stray from one clock's prediction: the two families' one-way delays
// differ by up to tens of ms, and the sensor and the host clock drift
// apart by up to a few hundred ppm.
func clockTolerance(rate, dt float64) float64 {
	return 2 + rate*0.15 + rate*math.Abs(dt)*0.001
}

// clockEvidenceTo appends the timestamp evidence of a pair to out. Stacks
// that stamp every connection from one host-wide clock (Linux before 4.10,
// macOS) give TSvals that one clock explains across both families: a
// random 32-bit offset matching by chance has odds of about 1e-7, so that is
// strong evidence. Stacks with a per-address-pair or per-connection random
// offset (Linux 4.10+, FreeBSD 12+) never match, which says nothing; but a
// clock rate measured on both attempts (from retransmissions) that differs
// rules the pair out.
func clockEvidenceTo(out []weighed, v6, v4 *attempt.Attempt) []weighed {
	if !v6.HasTS || !v4.HasTS {
		return out
	}
	r6, ok6 := tsRate(v6)
	r4, ok4 := tsRate(v4)
	if ok6 && ok4 {
		if math.Abs(r6-r4) > 0.15*math.Max(r6, r4) {
			return append(out, weighed{-3, "clock:different-rate"})
		}
		out = append(out, weighed{0.5, "clock:same-rate"})
	}
	dt := v4.FirstSeen.Sub(v6.FirstSeen).Seconds()
	dts := float64(int32(v4.TSFirst - v6.TSFirst))
	try := tsRates[:]
	var one [1]float64
	switch {
	case ok6:
		one[0] = r6
		try = one[:]
	case ok4:
		one[0] = r4
		try = one[:]
	}
	for _, r := range try {
		if math.Abs(dts-r*dt) <= clockTolerance(r, dt) {
			return append(out, weighed{5, "clock:same-timestamp-clock"})
		}
	}
	return out
}
