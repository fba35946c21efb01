package associate

import (
	"math"
	"sort"
)

// Features are what the calibrated score of an association is computed
// from: the evidence sum of the pair chosen, how far it is ahead of the
// attempt's next best candidate, how many IPv4 attempts of the same stack
// were close in time (the chance of a look-alike at the right gap grows
// with them), and whether the pair has identity evidence.
type Features struct {
	Sum float64 // evidence sum of the pair chosen
	// Lead is Sum minus the sum of the next best candidate that could
	// score, capped at MaxLead (MaxLead when there is none).
	Lead float64
	// Crowd counts the IPv4 attempts held within CrowdWindow of the IPv6
	// attempt with its OS class, TCP option layout and window scale.
	Crowd    int
	Identity bool
}

// MaxLead caps Features.Lead; CrowdWindow is the span Features.Crowd
// counts in, before and after the IPv6 attempt's first SYN.
const (
	MaxLead     = 6
	CrowdWindow = 3e9 // 3 s, in ns
)

// Calibration maps Features to the probability that the association is
// right: a logistic model, fitted on generated scenarios by
// tools/calibrate (docs/association.md says how and how well).
type Calibration struct {
	Bias, Sum, Lead, Crowd, Identity float64
}

// Score returns the calibrated probability for f.
func (c Calibration) Score(f Features) float64 {
	z := c.Bias + c.Sum*f.Sum + c.Lead*f.Lead + c.Crowd*math.Log1p(float64(f.Crowd))
	if f.Identity {
		z += c.Identity
	}
	return 1 / (1 + math.Exp(-z))
}

// Uncalibrated is the score before calibration: the evidence sum alone,
// 0.5 at scoreBias.
var Uncalibrated = Calibration{Bias: -scoreBias, Sum: 1}

// crowd counts Features.Crowd for v6.
func (e *Engine) crowd(v6 *entry) int {
	f6 := &v6.f
	lo := sort.Search(len(e.v4f), func(i int) bool { return e.v4f[i].t0 >= f6.t0-CrowdWindow })
	n := 0
	for i := lo; i < len(e.v4f) && e.v4f[i].t0 <= f6.t0+CrowdWindow; i++ {
		f4 := &e.v4f[i]
		if f4.os == f6.os && f4.wscale == f6.wscale && f4.layoutHash == f6.layoutHash {
			n++
		}
	}
	return n
}
