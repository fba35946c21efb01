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

// TestPoolBand: pool makes the map one level between where it reaches lo
// and hi, the share right of the samples it scores there, with steps at
// both ends, so that what scored below lo still does; a band right less
// often than lo leaves the map as it was.
func TestPoolBand(t *testing.T) {
	c := associate.Calibration{}
	c.Weights[0], c.Weights[2] = -2, 1 // bias, order: the model is the logistic of order-2
	m := []associate.MapPoint{{Model: 0.3, Right: 0.2}, {Model: 0.5, Right: 0.4}, {Model: 0.6, Right: 0.6}, {Model: 0.8, Right: 0.8}, {Model: 0.95, Right: 0.95}}
	sampleAt := func(p float64, right bool) sample {
		var f associate.Features
		f.Family[1] = 2 + math.Log(p/(1-p))
		return sample{f: f, x: f.Vector(), right: right}
	}
	var s []sample
	for i := range 100 { // 100 in the band, 70 of them right
		s = append(s, sampleAt(0.6+0.001*float64(i), i < 70))
	}
	s = append(s, sampleAt(0.4, false), sampleAt(0.99, true)) // outside it
	got := pool(m, s, &c, 0.5, 0.9)
	for i, p := range got {
		if i > 0 && (p.Model < got[i-1].Model || p.Right < got[i-1].Right) {
			t.Fatalf("map not rising at %d: %+v", i, got)
		}
	}
	c.Map = got
	for _, tc := range []struct{ model, want float64 }{
		{0.4, 0.3}, {0.549, 0.498}, {0.551, 0.7}, {0.7, 0.7}, {0.85, 0.7}, {0.9, 0.7}, {0.91, 0.91}, {0.95, 0.95},
	} {
		if g := c.Apply(tc.model); math.Abs(g-tc.want) > 1e-9 {
			t.Errorf("model %v: score %v, want %v (map %+v)", tc.model, g, tc.want, got)
		}
	}
	for i := range s[:100] {
		s[i].right = i < 40 // the band right 0.4 of the time, under lo
	}
	if got := pool(m, s, &associate.Calibration{Weights: c.Weights}, 0.5, 0.9); len(got) != len(m) {
		t.Errorf("a band under lo was pooled: %+v", got)
	}
}

// TestPoolFromStart: a map already at lo or above at its first point is one
// level from its start, every output below the band's top counted in it.
func TestPoolFromStart(t *testing.T) {
	c := associate.Calibration{}
	c.Weights[0], c.Weights[2] = -2, 1
	m := []associate.MapPoint{{Model: 0.6, Right: 0.6}, {Model: 0.8, Right: 0.8}, {Model: 0.95, Right: 0.95}}
	var s []sample
	for i := range 100 {
		var f associate.Features
		p := 0.5 + 0.004*float64(i) // 0.5 to 0.9
		f.Family[1] = 2 + math.Log(p/(1-p))
		s = append(s, sample{f: f, x: f.Vector(), right: i < 70})
	}
	c.Map = pool(m, s, &c, 0.5, 0.9)
	for _, model := range []float64{0.52, 0.6, 0.85} {
		if g := c.Apply(model); math.Abs(g-0.7) > 1e-9 {
			t.Errorf("model %v: score %v, want the level 0.7 (map %+v)", model, g, c.Map)
		}
	}
}
