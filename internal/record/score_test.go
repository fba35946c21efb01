package record

import (
	"math"
	"strconv"
	"testing"
)

func TestScoreBin(t *testing.T) {
	for _, c := range []struct {
		s    float64
		want int
	}{
		{0, 0}, {0.0999, 0}, {0.1, 1}, {0.5, 5}, {0.8999, 8}, {0.9, 9}, {0.9499, 9}, {0.95, 10},
		{0.9899, 10}, {0.99, 11}, {0.9999, 11}, {1, 11}, {-0.1, 0}, {1.5, 11}, {math.NaN(), 0},
	} {
		if got := ScoreBin(c.s); got != c.want {
			t.Errorf("ScoreBin(%v) = %d, want %d", c.s, got, c.want)
		}
	}
	// Every written score (4 decimals) falls in the bin its decimals say.
	for k := 0; k <= 10000; k++ {
		s, _ := strconv.ParseFloat(strconv.FormatFloat(float64(k)/10000, 'f', 4, 64), 64)
		i := ScoreBin(s)
		lo, hi := int(math.Round(ScoreEdges[i]*10000)), int(math.Round(ScoreEdges[i+1]*10000))
		if k < lo || k > hi || (k == hi && i != NumScoreBins-1) {
			t.Fatalf("score %.4f in bin %d [%v, %v)", s, i, ScoreEdges[i], ScoreEdges[i+1])
		}
	}
}
