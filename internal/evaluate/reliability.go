package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// Reliability binning of the association score: is a score s right about
// a fraction s of the time? The bins are record.ScoreEdges.
const (
	reliabilityBins = record.NumScoreBins
	// calibrationMinCount is the smallest bin whose gap between mean score
	// and fraction correct counts toward MaxCalibrationError: below it the
	// fraction is too noisy to judge the score by.
	calibrationMinCount = 100
	// noIPv4Window is how far from an IPv6 attempt an IPv4 attempt of the
	// same host makes an association possible at all (either side).
	noIPv4Window = 60 * time.Second
)

// Bin is one score bin of the reliability table: the associations with a
// score in [Lo, Hi) ([Lo, Hi] for the last), their mean score and the
// fraction of them correct at the address level.
type Bin struct {
	Lo, Hi    float64
	Count     int
	MeanScore float64
	Correct   float64
}

// reliability accumulates the bins while scoring.
type reliability struct {
	count   [reliabilityBins]int
	sum     [reliabilityBins]float64
	vari    [reliabilityBins]float64 // sum of score(1-score): the variance of the count correct
	correct [reliabilityBins]int
	brier   float64
	n       int
}

func (r *reliability) add(score float64, correct bool) {
	i := record.ScoreBin(score)
	c := 0.0
	if correct {
		c = 1
		r.correct[i]++
	}
	r.count[i]++
	r.sum[i] += score
	r.vari[i] += score * (1 - score)
	r.brier += (score - c) * (score - c)
	r.n++
}

// fill sets the reliability fields of res.
func (r *reliability) fill(res *Result) {
	res.Reliability = make([]Bin, reliabilityBins)
	res.MaxCalibrationError, res.CalibrationBins = 0, 0
	for i := range res.Reliability {
		b := Bin{Lo: record.ScoreEdges[i], Hi: record.ScoreEdges[i+1], Count: r.count[i]}
		if b.Count > 0 {
			b.MeanScore = r.sum[i] / float64(b.Count)
			b.Correct = float64(r.correct[i]) / float64(b.Count)
		}
		if b.Count >= calibrationMinCount {
			res.CalibrationBins++
			res.MaxCalibrationError = max(res.MaxCalibrationError, math.Abs(b.MeanScore-b.Correct))
		}
		res.Reliability[i] = b
	}
	if r.n > 0 {
		res.Brier = r.brier / float64(r.n)
	}
	res.CalibrationNoise = r.noise()
}

// noiseRuns is how many perfectly calibrated outcomes noise draws.
const noiseRuns = 4000

// noise returns the 90th percentile of the maximum calibration error of a
// perfectly calibrated score with these bins: each bin's count correct
// drawn from the normal approximation of its sum of Bernoulli(score)
// trials, with a fixed seed so that a result is reproducible.
func (r *reliability) noise() float64 {
	var sd [reliabilityBins]float64
	some := false
	for i, n := range r.count {
		if n >= calibrationMinCount {
			sd[i] = math.Sqrt(r.vari[i]) / float64(n)
			some = true
		}
	}
	if !some {
		return 0
	}
	rnd := rand.New(rand.NewPCG(17, 1))
	worst := make([]float64, noiseRuns)
	for k := range worst {
		for _, s := range sd {
			if s > 0 {
				worst[k] = max(worst[k], math.Abs(rnd.NormFloat64()*s))
			}
		}
	}
	slices.Sort(worst)
	return worst[noiseRuns*9/10]
}

// markNoIPv4 sets noIPv4 on every IPv6 attempt whose host made no IPv4
// attempt within noIPv4Window of it; v4 holds each host's IPv4 attempt
// times (sorted here).
func (t *Truth) markNoIPv4(v4 map[int][]int64) {
	for _, ts := range v4 {
		slices.Sort(ts)
	}
	w := int64(noIPv4Window)
	for k, ta := range t.v6 {
		ts := v4[ta.host]
		i, _ := slices.BinarySearch(ts, k.ns-w) // first at or after k.ns-w
		ta.noIPv4 = i == len(ts) || ts[i] > k.ns+w
		t.v6[k] = ta
	}
}

// appendReliability appends the lines about wrong associations and the
// score's calibration that follow the four lines of WriteText.
func (r Result) appendReliability(b []byte) []byte {
	b = fmt.Appendf(b, "wrong associations with no IPv4 attempt of the host within %d s: %d of %d (%.4f)\n",
		int(noIPv4Window.Seconds()), r.AddrWrongNoIPv4, r.AddrAssociated-r.AddrCorrect, r.NoIPv4Wrong)
	b = fmt.Appendf(b, "score reliability (address level): Brier %.4f  max calibration error %.4f over %d bins with >= %d associations\n",
		r.Brier, r.MaxCalibrationError, r.CalibrationBins, calibrationMinCount)
	b = fmt.Appendf(b, "  (chance alone: a perfectly calibrated score would show more than %.4f one time in ten with these bins)\n", r.CalibrationNoise)
	b = fmt.Appendf(b, "  %-12s %8s %10s %8s\n", "score", "count", "mean score", "correct")
	for i, bin := range r.Reliability {
		closing := ")"
		if i == len(r.Reliability)-1 {
			closing = "]"
		}
		name := fmt.Sprintf("[%.2f,%.2f%s", bin.Lo, bin.Hi, closing)
		if bin.Count == 0 {
			b = fmt.Appendf(b, "  %-12s %8d %10s %8s\n", name, 0, "-", "-")
		} else {
			b = fmt.Appendf(b, "  %-12s %8d %10.4f %8.4f\n", name, bin.Count, bin.MeanScore, bin.Correct)
		}
	}
	return b
}
