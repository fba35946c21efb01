package associate

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
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
// look-alikes, and rises with identity evidence, less so when that is
// only agreement.
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
	id := c.Model(g)
	if id <= base {
		t.Error("identity evidence does not raise the score")
	}
	g.Agreed = true
	if a := c.Model(g); a >= id {
		t.Errorf("agreement alone counts as much as other identity evidence (%.3f, %.3f)", a, id)
	}
	for i := 1; i < len(c.Map); i++ {
		if c.Map[i].Model < c.Map[i-1].Model || c.Map[i].Right < c.Map[i-1].Right {
			t.Errorf("map not rising at %d: %+v %+v", i, c.Map[i-1], c.Map[i])
		}
	}
}

// TestDecisionFeatures: the features of a decision count what competed for
// it. Two IPv6 attempts of one stack fall before one IPv4 attempt, one at
// the round trip's gap and one slower: the pair chosen leads the other
// IPv6 attempt (Rival) by the order evidence between them; the IPv4
// address sent once 10 minutes before is counted half (Busy); a low-32 embedding of the
// IPv4 address is a habit (Habit), not a protocol's form.
func TestDecisionFeatures(t *testing.T) {
	as := []attempt.Attempt{
		mk("192.0.2.10", 33000, -10*time.Minute, 1, "Linux", linux(0xb4), 58),
		mk("2001:db8:1::c000:20a", 40000, 0, 1, "Linux", linux(0xa0), 58),
		mk("2001:db8:2::11", 40100, 150*time.Millisecond, 1, "Linux", linux(0xa0), 58),
		mk("192.0.2.10", 33100, 200*time.Millisecond, 1, "Linux", linux(0xb4), 58),
	}
	var got []Features
	cfg := DefaultConfig()
	cfg.Observe = func(a *Association) {
		if a.V4 != nil {
			got = append(got, a.Features)
		}
	}
	run(t, cfg, nil, as...)
	if len(got) != 1 {
		t.Fatalf("%d associations, want 1", len(got))
	}
	f := got[0]
	if f.Rival <= 0 || f.Rival >= MaxLead {
		t.Errorf("Rival %.1f: the other IPv6 attempt scored too, lower", f.Rival)
	}
	if f.Cands != 1 {
		t.Errorf("Cands %d, want 1", f.Cands)
	}
	if math.Abs(f.Busy-1.5) > 0.01 || f.Sent != 0 {
		t.Errorf("Busy %.2f, Sent %.2f: want 1.5 (the address sent twice, once 10 minutes before) and 0", f.Busy, f.Sent)
	}
	if f.Habit <= 0 || f.Habit >= 4+4*identityConfidence {
		t.Errorf("Habit %.2f: the low-32 embedding is a habit", f.Habit)
	}
	if x := f.Vector(); x[1+fEmbedded] != 0 {
		t.Errorf("the model's embedded input %.2f: the habit is weighed apart", x[1+fEmbedded])
	}
}

// TestFastRetrierNotItsOwnRival: one dual-stack host retrying every 50 ms
// competes with itself for its IPv4 attempts; that is no evidence of
// another host, so every IPv6 attempt gets its IPv4 address (the attempt
// or the address alone), none is refused by the calibrated score.
func TestFastRetrierNotItsOwnRival(t *testing.T) {
	var as []attempt.Attempt
	for i := range 60 {
		at := time.Duration(i) * 50 * time.Millisecond
		as = append(as,
			mk("fd79::2", uint16(20000+2*i), at, 1, "Linux", linux(0xa0), 64),
			mk("10.79.0.2", uint16(20001+2*i), at+500*time.Microsecond, 1, "Linux", linux(0xb4), 64))
	}
	for i := range as {
		as[i].HasTS = false // a per-connection clock offset: no clock evidence
	}
	cfg := DefaultConfig()
	n := 0
	e := New(cfg, nil, func(a *Association) {
		n++
		if a.V4Addr != netip.MustParseAddr("10.79.0.2") {
			t.Errorf("%v: %v %q", a.V6.SrcPort, a.V4Addr, a.Evidence)
		}
	})
	for i := range as {
		e.Add(&as[i])
	}
	e.Flush()
	if n != 60 {
		t.Errorf("%d decisions, want 60", n)
	}
}

// TestAgreedOnlyIdentity: a pair whose only identity evidence is agreement
// is marked Agreed; with any other identity evidence beside it, it is not.
func TestAgreedOnlyIdentity(t *testing.T) {
	for _, tc := range []struct {
		ws               []weighed
		identity, agreed bool
	}{
		{[]weighed{{2, vBestBefore}, {1, vSameOS}}, true, true},
		{[]weighed{{2, vBestBefore}, {4, vSameClock}}, true, false},
		{[]weighed{{2, vSameIPv4}}, true, false},
		{[]weighed{{1, vSameOS}}, false, false},
	} {
		r := &record{}
		for _, w := range tc.ws {
			r.note(w)
		}
		r.finish(false)
		if r.identity != tc.identity || r.agreed != tc.agreed {
			t.Errorf("%+v: identity %v agreed %v, want %v %v", tc.ws, r.identity, r.agreed, tc.identity, tc.agreed)
		}
	}
}
