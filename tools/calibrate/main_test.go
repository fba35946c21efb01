package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxsensor/mxsensor/internal/associate"
)

// TestFitRecoversWeights: on samples drawn from a known logistic model,
// fit finds its weights again, and the map of a calibrated model is
// close to the identity and rising.
func TestFitRecoversWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var want [n]float64
	want[0], want[2], want[3] = -3, 0.8, 0.5 // bias, order, stack
	var s []sample
	for range 40000 {
		var f associate.Features
		f.Family[1], f.Family[2] = r.Float64()*6-1, r.Float64()*6-1
		x := f.Vector()
		z := 0.0
		for i := range want {
			z += want[i] * x[i]
		}
		s = append(s, sample{f: f, x: x, right: r.Float64() < 1/(1+math.Exp(-z))})
	}
	w, err := fit(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 3} {
		if math.Abs(w[i]-want[i]) > 0.15 {
			t.Errorf("weight %d: %.3f, want %.3f", i, w[i], want[i])
		}
	}
	c := associate.Calibration{Weights: w}
	m := isotonic(s, &c)
	for i, p := range m {
		if i > 0 && (p.Model < m[i-1].Model || p.Right < m[i-1].Right) {
			t.Errorf("map not rising at %d", i)
		}
		if math.Abs(p.Right-p.Model) > 0.1 {
			t.Errorf("map point %+v far from the identity for a calibrated model", p)
		}
	}
}
