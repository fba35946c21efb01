package associate

import (
	"math"
	"testing"
)

// TestCalibrationMap: the map is applied linearly between its points and
// held flat beyond them; without a map the model's output is the score.
func TestCalibrationMap(t *testing.T) {
	c := Calibration{Map: []MapPoint{{0.5, 0.4}, {0.7, 0.6}, {0.9, 0.95}}}
	for _, tc := range []struct{ in, want float64 }{
		{0.1, 0.4}, {0.5, 0.4}, {0.6, 0.5}, {0.7, 0.6}, {0.8, 0.775}, {0.9, 0.95}, {0.99, 0.95},
	} {
		if got := c.Apply(tc.in); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Apply(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	var f Features
	f.Family[1] = 7 // order
	u := Uncalibrated
	if got, want := u.Score(f), score(7); math.Abs(got-want) > 1e-12 {
		t.Errorf("uncalibrated score %v, want the evidence sum's %v", got, want)
	}
}

// TestDefaultCalibrationSane: the shipped calibration rises with the
// evidence of each family that has any weight, falls with the crowd of
// look-alikes, and rises with identity evidence.
func TestDefaultCalibrationSane(t *testing.T) {
	c := DefaultCalibration
	var f Features
	f.Family[1], f.Family[2] = 3, 5 // order, stack: a typical pair
	base := c.Model(f)
	for i := range numFamilies {
		if c.Weights[1+i] == 0 {
			continue
		}
		g := f
		g.Family[i] += 2
		if c.Model(g) <= base {
			t.Errorf("family %s: more evidence, no higher score", Families[i])
		}
	}
	g := f
	g.Crowd = 50
	if c.Model(g) >= base {
		t.Error("a crowd of look-alikes does not lower the score")
	}
	g = f
	g.Identity = true
	if c.Model(g) <= base {
		t.Error("identity evidence does not raise the score")
	}
	for i := 1; i < len(c.Map); i++ {
		if c.Map[i].Model < c.Map[i-1].Model || c.Map[i].Right < c.Map[i-1].Right {
			t.Errorf("map not rising at %d: %+v %+v", i, c.Map[i-1], c.Map[i])
		}
	}
}
