package associate

import (
	"math"
	"net/netip"
	"sort"
)

// Features are what the calibrated score of an association is computed
// from: the evidence of the pair chosen, summed by family; how far it is
// ahead of the attempt's next best candidate, and of the IPv4 attempt's
// next best IPv6 attempt; how many candidates could score; how many IPv4
// attempts of the same stack were close in time (the chance of a
// look-alike at the right gap grows with them); how busy the /64 and the
// IPv4 address are; and whether the pair has identity evidence.
type Features struct {
	// Family is the pair's evidence summed by family (Families order).
	Family [numFamilies]float64
	// Lead is the evidence sum minus that of the next best candidate that
	// could score, capped at MaxLead (MaxLead when there is none).
	Lead float64
	// Crowd counts the IPv4 attempts held within CrowdWindow of the IPv6
	// attempt with its OS class, TCP option layout and window scale, from
	// other addresses than the pair's.
	Crowd int
	// Near counts those of them within NearWindow: a wave of look-alikes
	// starting together, where one of them falls at the right gap.
	Near int
	// Recent is the /64's count of recent IPv6 attempts (halved every
	// minute; a repeat sender's is 4 or more).
	Recent   float64
	Identity bool
	// Agreed: the only identity evidence is agreement
	// (history:same-ipv4-best-before), which chance gives a repeat sender
	// more often than a host's own clock or name does; the model weighs it
	// apart.
	Agreed bool
	// Rival is the pair's sum minus that of the best IPv6 attempt of
	// another /64 in the batch that could take the same IPv4 attempt, capped at
	// MaxLead (MaxLead when there is none).
	Rival float64
	// Cands counts the IPv4 candidates of the IPv6 attempt that could score.
	Cands int
	// Busy is the IPv4 address's count of attempts and Sent the /64's
	// count of IPv6 attempts, both halved every 10 minutes: one host
	// sending on both families keeps them alike, while an address that
	// sends far more than the /64 is busy with other business (an
	// IPv4-heavy sender, a NAT), and its attempts fall at the right gap
	// of somebody else's by chance.
	Busy, Sent float64
	// Habit is the part of Family's embedded sum from an IPv4 read from
	// the low 32 bits (a numbering habit, which another host's address can
	// follow too), weighed apart from the forms a protocol defines.
	Habit float64
}

// maxCrowdScan bounds the IPv4 attempts crowd looks at for one decision.
const maxCrowdScan = 4096

// MaxLead caps Features.Lead; CrowdWindow is the span Features.Crowd
// counts in, before and after the IPv6 attempt's first SYN.
const (
	MaxLead     = 6
	CrowdWindow = 3e9   // 3 s, in ns
	NearWindow  = 300e6 // 300 ms, in ns
)

// NumFeatures is the length of Features.Vector.
const NumFeatures = numFamilies + 11

// Vector is f as the model reads it: 1 (the bias), the family sums (the
// embedded one without Habit), the lead, log(1 + crowd), log(1 + near),
// log(1 + recent), 1 for identity evidence, the rival's lead,
// log(1 + cands), log(1 + busy) - log(1 + sent), Habit, and 1 for
// agreement as the only identity evidence (then the identity input is 0).
func (f Features) Vector() [NumFeatures]float64 {
	var x [NumFeatures]float64
	x[0] = 1
	copy(x[1:], f.Family[:])
	x[numFamilies+1] = f.Lead
	x[numFamilies+2] = math.Log1p(float64(f.Crowd))
	x[numFamilies+3] = math.Log1p(float64(f.Near))
	x[numFamilies+4] = math.Log1p(f.Recent)
	if f.Identity {
		x[numFamilies+5] = 1
	}
	x[numFamilies+6] = f.Rival
	x[numFamilies+7] = math.Log1p(float64(f.Cands))
	x[numFamilies+8] = math.Log1p(f.Busy) - math.Log1p(f.Sent)
	x[1+fEmbedded] -= f.Habit
	x[numFamilies+9] = f.Habit
	if f.Agreed {
		x[numFamilies+5], x[numFamilies+10] = 0, 1
	}
	return x
}

// Calibration maps Features to the probability that the association is
// right: a logistic model (Weights times Features.Vector), fitted on
// generated scenarios by tools/calibrate (docs/association.md says how
// and how well). Its family weights re-weigh the evidence of each family
// as the scenarios found it telling.
type Calibration struct {
	Weights [NumFeatures]float64
	// Map, if set, maps the model's output to the share of associations
	// found right with that output (rising, linear between its points):
	// the model alone is over-confident in the middle of its range.
	Map []MapPoint
	// Shared is the score of an association with an IPv4 address only,
	// the address all the close candidates shared (a NAT).
	Shared float64
}

// MapPoint is a point of Calibration.Map.
type MapPoint struct{ Model, Right float64 }

// Model returns the logistic model's output for f (before Map).
func (c *Calibration) Model(f Features) float64 {
	x := f.Vector()
	z := 0.0
	for i, w := range c.Weights {
		z += w * x[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// Score returns the calibrated probability for f.
func (c *Calibration) Score(f Features) float64 {
	return c.Apply(c.Model(f))
}

// Apply maps a model output through Map.
func (c *Calibration) Apply(p float64) float64 {
	m := c.Map
	if len(m) == 0 {
		return p
	}
	i := sort.Search(len(m), func(i int) bool { return m[i].Model >= p })
	switch {
	case i == 0:
		return m[0].Right
	case i == len(m):
		return m[len(m)-1].Right
	}
	a, b := m[i-1], m[i]
	if b.Model == a.Model {
		return b.Right
	}
	return a.Right + (b.Right-a.Right)*(p-a.Model)/(b.Model-a.Model)
}

// Uncalibrated is the score before calibration: the evidence sum alone,
// 0.5 at scoreBias.
var Uncalibrated = func() Calibration {
	c := Calibration{Shared: 0.5}
	c.Weights[0] = -scoreBias
	for i := range numFamilies {
		c.Weights[1+i] = 1
	}
	return c
}()

// crowd counts Features.Crowd and Features.Near for v6 paired with an
// IPv4 attempt from src: the look-alikes are other addresses' attempts (a
// host retrying fast is not its own look-alike).
func (e *Engine) crowd(v6 *entry, src netip.Addr) (crowd, near int) {
	f6 := &v6.f
	lo := sort.Search(len(e.v4f), func(i int) bool { return e.v4f[i].t0 >= f6.t0-CrowdWindow })
	// A flood of new sources puts far more attempts in the window than any
	// ordinary traffic; past maxCrowdScan the count is a crowd anyway.
	hi := min(len(e.v4f), lo+maxCrowdScan)
	for i := lo; i < hi && e.v4f[i].t0 <= f6.t0+CrowdWindow; i++ {
		f4 := &e.v4f[i]
		if f4.os == f6.os && f4.wscale == f6.wscale && f4.layoutHash == f6.layoutHash && f4.src != src {
			crowd++
			if d := f4.t0 - f6.t0; d >= -NearWindow && d <= NearWindow {
				near++
			}
		}
	}
	return crowd, near
}
