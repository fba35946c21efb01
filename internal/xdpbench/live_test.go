//go:build linux

package xdpbench

import (
	"context"
	"testing"
)

// The live run feeds both programs every non-target frame and takes their
// times from the kernel's statistics: each has run at least once per frame
// sent, and its time is there.
func TestMeasureLive(t *testing.T) {
	requireRoot(t)
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := LiveConfig{Frames: 2000, Rate: 200000, Rounds: 3}
	rs, err := MeasureLive(context.Background(), s, Frames(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Program+"/"+r.Frame] = true
		if r.Runs < uint64(cfg.Frames) || r.NsPerRun <= 0 {
			t.Errorf("%s on %s: %d runs, %.1f ns per run; want at least %d runs and a time", r.Program, r.Frame, r.Runs, r.NsPerRun, cfg.Frames)
		}
	}
	for _, f := range Frames() {
		for _, p := range []string{"mxsensor", "pass-only"} {
			if seen[p+"/"+f.Name] == f.SYN {
				t.Errorf("%s on %s: in the results %v, want %v (non-target frames only)", p, f.Name, !f.SYN, !f.SYN)
			}
		}
	}
	if rows := LiveRows(rs); len(rows) != 3 {
		t.Errorf("%d rows, want one per non-target frame", len(rows))
	}
}

func TestLiveRows(t *testing.T) {
	rs := []LiveResult{
		{Program: "mxsensor", Frame: "a", NsPerRun: 39},
		{Program: "pass-only", Frame: "a", NsPerRun: 30},
		{Program: "mxsensor", Frame: "b", NsPerRun: 40},
		{Program: "pass-only", Frame: "b", NsPerRun: 30},
		{Program: "mxsensor", Frame: "c", NsPerRun: 40},
	}
	rows := LiveRows(rs)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	want := []struct {
		ratio, extra float64
		met          bool
	}{{1.3, 9, true}, {40.0 / 30, 10, false}, {0, 0, false}}
	for i, w := range want {
		r := rows[i]
		if r.Ratio != w.ratio || r.ExtraNs != w.extra || r.Met != w.met || r.Bar != NonTargetBar || r.BaselineName != "pass-only" {
			t.Errorf("row %s: ratio %.3f extra %.1f met %v bar %.1f, want %.3f %.1f %v %.1f", r.Frame, r.Ratio, r.ExtraNs, r.Met, r.Bar,
				w.ratio, w.extra, w.met, NonTargetBar)
		}
	}
}
