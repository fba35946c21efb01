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

// The clock rules. Stacks that stamp every connection from one host-wide
// clock (Linux before 4.10, macOS) give TSvals that one clock explains
// across both families: a random 32-bit offset matching by chance has odds
// of about 1e-7, so that is strong evidence, and identity evidence. Stacks
// with a per-address-pair or per-connection random offset (Linux 4.10+,
// FreeBSD 12+) never match, which says nothing; but a clock rate measured
// on both attempts (from retransmissions) that differs rules the pair out.
// They speak only when clockApplies; maxClock is the most they give.
const maxClock = 0.5 + 5

// clockApplies: both SYNs carry TCP timestamps.
func clockApplies(f6, f4 *feat) bool { return f6.hasTS && f4.hasTS }

// ratesDiffer: both attempts' clock rates were measured, and differ.
func ratesDiffer(f6, f4 *feat) bool {
	return f6.rate != 0 && f4.rate != 0 && math.Abs(f6.rate-f4.rate) > 0.15*max(f6.rate, f4.rate)
}

// clockRate compares the rates measured on both attempts.
func clockRate(f6, f4 *feat) weighed {
	if f6.rate == 0 || f4.rate == 0 {
		return weighed{}
	}
	return pick(!ratesDiffer(f6, f4), weighed{0.5, vSameRate}, weighed{-3, vDifferentRate})
}

// clockOne: one clock explains both attempts' first TSvals, at the rate
// measured on either, or else at one of tsRates.
func clockOne(f6, f4 *feat) weighed {
	if !clockApplies(f6, f4) || ratesDiffer(f6, f4) {
		return weighed{}
	}
	dt := time.Duration(f4.t0 - f6.t0).Seconds()
	dts := float64(int32(f4.tsFirst - f6.tsFirst))
	one := false
	switch {
	case f6.rate != 0:
		one = clockFits(f6.rate, dt, dts)
	case f4.rate != 0:
		one = clockFits(f4.rate, dt, dts)
	default:
		for _, r := range tsRates {
			if one = clockFits(r, dt, dts); one {
				break
			}
		}
	}
	if !one {
		return weighed{}
	}
	return weighed{5, vSameClock}
}

// clockFits: dts ticks in dt seconds is one clock at rate r.
func clockFits(r, dt, dts float64) bool { return math.Abs(dts-r*dt) <= clockTolerance(r, dt) }
