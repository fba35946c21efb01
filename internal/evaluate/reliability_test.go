package evaluate

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// scored is one hand-made association: its score, and whether it names the
// host's own IPv4 address.
type scored struct {
	score   float64
	correct bool
}

// scoredRun makes a truth with one host per association (each with an IPv4
// attempt next to its IPv6 one) and the associations to an address only.
func scoredRun(t *testing.T, as []scored) Result {
	t.Helper()
	var truth, assoc strings.Builder
	for i, a := range as {
		v4 := fmt.Sprintf("10.%d.%d.1", i/256, i%256)
		fmt.Fprintf(&truth, `{"type":"host","host":%d,"ipv4":["%s"]}`+"\n", i, v4)
		fmt.Fprintf(&truth, `{"type":"attempt","host":%d,"family":"ipv6","src":"2001:db8::%x","sport":1,"first_seen":"2026-11-26T10:00:00Z"}`+"\n", i, i)
		fmt.Fprintf(&truth, `{"type":"attempt","host":%d,"family":"ipv4","src":"%s","sport":2,"first_seen":"2026-11-26T10:00:01Z"}`+"\n", i, v4)
		if !a.correct {
			v4 = "198.51.100.1"
		}
		fmt.Fprintf(&assoc, `{"src":"2001:db8::%x","sport":1,"first_seen":"2026-11-26T10:00:00Z","ipv4":{"src":"%s","sport":null,"first_seen":null},"score":%.4f}`+"\n", i, v4, a.score)
	}
	// An unassociated attempt enters no bin and not the Brier score.
	fmt.Fprintf(&truth, `{"type":"attempt","host":0,"family":"ipv6","src":"2001:db8:ffff::1","sport":1,"first_seen":"2026-11-26T10:00:00Z"}`+"\n")
	fmt.Fprintf(&assoc, `{"src":"2001:db8:ffff::1","sport":1,"first_seen":"2026-11-26T10:00:00Z","ipv4":null,"score":0.5}`+"\n")
	tr, err := ReadTruth(strings.NewReader(truth.String()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Score(tr, strings.NewReader(assoc.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func repeat(n int, s scored) []scored {
	out := make([]scored, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestReliability(t *testing.T) {
	type bin struct {
		i, count         int
		mean, correctPct float64
	}
	for _, c := range []struct {
		name      string
		as        []scored
		bins      []bin // the non-empty bins
		brier     float64
		maxErr    float64
		calibBins int
	}{{
		name: "bin edges",
		// 0.3 belongs to [0.3,0.4); above 0.9 the bins are finer: 0.95
		// and 0.9899 to [0.95,0.99), 0.99 and 1.0 to the last bin, closed.
		as:    []scored{{0.05, false}, {0.3, true}, {0.35, false}, {0.95, true}, {1, true}, {0.9, false}, {0.99, false}, {0.9899, true}},
		bins:  []bin{{0, 1, 0.05, 0}, {3, 2, 0.325, 0.5}, {9, 1, 0.9, 0}, {10, 2, (0.95 + 0.9899) / 2, 1}, {11, 2, 0.995, 0.5}},
		brier: (0.05*0.05 + 0.7*0.7 + 0.35*0.35 + 0.05*0.05 + 0 + 0.9*0.9 + 0.99*0.99 + 0.0101*0.0101) / 8,
	}, {
		name: "only bins of 100 or more count toward the calibration error",
		as: append(append(append(repeat(80, scored{0.85, true}), repeat(20, scored{0.85, false})...),
			repeat(99, scored{0.15, true})...), repeat(100, scored{0.55, true})...),
		bins:      []bin{{1, 99, 0.15, 1}, {5, 100, 0.55, 1}, {8, 100, 0.85, 0.8}},
		brier:     (80*0.15*0.15 + 20*0.85*0.85 + 99*0.85*0.85 + 100*0.45*0.45) / 299,
		maxErr:    0.45,
		calibBins: 2,
	}, {
		name: "calibrated",
		as:   append(repeat(90, scored{0.9, true}), repeat(10, scored{0.9, false})...),
		bins: []bin{{9, 100, 0.9, 0.9}},
		// (90*0.01 + 10*0.81) / 100
		brier:     0.09,
		calibBins: 1,
	}} {
		t.Run(c.name, func(t *testing.T) {
			r := scoredRun(t, c.as)
			if len(r.Reliability) != 12 {
				t.Fatalf("%d bins", len(r.Reliability))
			}
			edges := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1}
			want := make([]Bin, 12)
			for i := range want {
				want[i] = Bin{Lo: edges[i], Hi: edges[i+1]}
			}
			for _, b := range c.bins {
				want[b.i].Count, want[b.i].MeanScore, want[b.i].Correct = b.count, b.mean, b.correctPct
			}
			for i, g := range r.Reliability {
				w := want[i]
				if g.Count != w.Count || !near(g.Lo, w.Lo) || !near(g.Hi, w.Hi) || !near(g.MeanScore, w.MeanScore) || !near(g.Correct, w.Correct) {
					t.Errorf("bin %d: got %+v, want %+v", i, g, w)
				}
			}
			if !near(r.Brier, c.brier) || !near(r.MaxCalibrationError, c.maxErr) || r.CalibrationBins != c.calibBins {
				t.Errorf("Brier %v max error %v over %d bins, want %v, %v, %d", r.Brier, r.MaxCalibrationError, r.CalibrationBins, c.brier, c.maxErr, c.calibBins)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Wrong associations are split by whether the host made an IPv4 attempt
// within 60 s (either side) of the IPv6 attempt.
func TestNoIPv4Wrong(t *testing.T) {
	truth := `{"type":"host","host":1,"ipv4":["192.0.2.1"]}
{"type":"host","host":2,"ipv4":["192.0.2.2"]}
{"type":"host","host":3,"ipv4":["192.0.2.3"]}
{"type":"host","host":4,"ipv4":["192.0.2.4"]}
{"type":"host","host":5,"ipv4":["192.0.2.5"]}
{"type":"attempt","host":3,"family":"ipv4","src":"192.0.2.3","sport":3,"first_seen":"2026-11-26T09:59:00Z"}
{"type":"attempt","host":1,"family":"ipv6","src":"2001:db8::1","sport":1,"first_seen":"2026-11-26T10:00:00Z"}
{"type":"attempt","host":2,"family":"ipv6","src":"2001:db8::2","sport":2,"first_seen":"2026-11-26T10:00:00Z"}
{"type":"attempt","host":3,"family":"ipv6","src":"2001:db8::3","sport":3,"first_seen":"2026-11-26T10:00:00Z"}
{"type":"attempt","host":4,"family":"ipv6","src":"2001:db8::4","sport":4,"first_seen":"2026-11-26T10:00:00Z"}
{"type":"attempt","host":5,"family":"ipv6","src":"2001:db8::5","sport":5,"first_seen":"2026-11-26T10:00:00Z"}
{"type":"attempt","host":2,"family":"ipv4","src":"192.0.2.2","sport":2,"first_seen":"2026-11-26T09:58:59Z"}
{"type":"attempt","host":1,"family":"ipv4","src":"192.0.2.1","sport":1,"first_seen":"2026-11-26T10:00:59Z"}
{"type":"attempt","host":2,"family":"ipv4","src":"192.0.2.2","sport":2,"first_seen":"2026-11-26T10:01:01Z"}
`
	// Host 1: IPv4 59 s after; host 2: 61 s before and after; host 3: 60 s
	// before (inside); host 4: none at all; host 5: none, but associated
	// right (an address-only association needs no attempt).
	var assoc strings.Builder
	for h, v4 := range []string{1: "198.51.100.1", 2: "198.51.100.1", 3: "198.51.100.1", 4: "198.51.100.1", 5: "192.0.2.5"} {
		if v4 != "" {
			fmt.Fprintf(&assoc, `{"src":"2001:db8::%d","sport":%d,"first_seen":"2026-11-26T10:00:00Z","ipv4":{"src":"%s","sport":null,"first_seen":null},"score":0.5}`+"\n", h, h, v4)
		}
	}
	tr, err := ReadTruth(strings.NewReader(truth))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Score(tr, strings.NewReader(assoc.String()))
	if err != nil {
		t.Fatal(err)
	}
	if r.AddrAssociated != 5 || r.AddrCorrect != 1 || r.AddrWrongNoIPv4 != 2 || r.NoIPv4Wrong != 0.5 {
		t.Errorf("%d associated, %d correct, %d wrong without IPv4 (share %v); want 5, 1, 2 (0.5)", r.AddrAssociated, r.AddrCorrect, r.AddrWrongNoIPv4, r.NoIPv4Wrong)
	}
}

// TestCalibrationNoise: one bin of n associations scored 0.5 leaves the
// fraction correct of a perfectly calibrated score a standard deviation of
// 0.5/sqrt(n) from 0.5; one time in ten it is more than 1.645 of them off.
// Bins under 100 associations do not count.
func TestCalibrationNoise(t *testing.T) {
	for _, n := range []int{100, 400} {
		var r reliability
		for i := range n {
			r.add(0.5, i%2 == 0)
		}
		for range 99 {
			r.add(0.05, false) // a small bin: ignored
		}
		want := 1.645 * 0.5 / math.Sqrt(float64(n))
		if got := r.noise(); math.Abs(got-want) > 0.1*want {
			t.Errorf("n=%d: noise %.4f, want about %.4f", n, got, want)
		}
	}
	var r reliability
	if got := r.noise(); got != 0 {
		t.Errorf("no bins: noise %v, want 0", got)
	}
}
