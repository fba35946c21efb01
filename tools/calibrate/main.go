// Command calibrate fits the association engine's calibration
// (associate.Calibration) on generated scenarios: it runs the engine,
// uncalibrated, on each scenario's capture and reject log, labels every
// association right or wrong from the scenario's truth (the IPv4 address
// is the host's own or its NAT's), and fits a logistic model of rightness
// on the decision's features. It prints the model and its reliability
// table on the data, and with -write replaces the shipped calibration.
//
//	go run ./tools/genscenario -seed 101 -mix adversarial -hosts 4000 -duration 4h -out /tmp/c/101
//	go run ./tools/calibrate [-write internal/associate/calibration_fit.go] /tmp/c/101 /tmp/c/102 ...
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/evaluate"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/offline"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// n is the number of the model's inputs.
const n = associate.NumFeatures

// sample is one association with an IPv4 attempt: its features and
// whether it was right.
type sample struct {
	f     associate.Features
	x     [n]float64
	right bool
}

// scenario is what one scenario gave: the samples, and the associations
// with an address only that all close candidates shared.
type scenario struct {
	samples             []sample
	shared, sharedRight int
}

func main() {
	write := flag.String("write", "", "write the fitted calibration as Go source to this file")
	p0f := flag.String("p0f-db", "/etc/p0f/p0f.fp", "p0f database (the built-in one when missing)")
	drop := flag.String("drop", "", "comma-separated inputs of the model (Features.Vector indexes) to leave out, to measure what they add")
	dump := flag.String("dump", "", "write the checked scenarios' associations (features, score, right) to this TSV file")
	check := flag.String("check", "", "comma-separated scenario directories scored with the fitted calibration but not fitted on")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: calibrate [-write FILE] SCENARIO_DIR...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	log := zap.NewNop()
	db, err := fingerprint.LoadDB(fingerprint.DBConfig{Path: *p0f, Builtin: true}, log)
	if err != nil {
		fail(err)
	}
	var dropped []int
	for _, d := range strings.Split(*drop, ",") {
		if d == "" {
			continue
		}
		i, err := strconv.Atoi(d)
		if err != nil || i <= 0 || i >= n {
			fail(fmt.Errorf("-drop %q: not an input index 1..%d", d, n-1))
		}
		dropped = append(dropped, i)
	}
	var all []sample
	shared, sharedRight := 0, 0
	for _, dir := range flag.Args() {
		sc, err := run(dir, db, log, &associate.Uncalibrated)
		if err != nil {
			fail(fmt.Errorf("%s: %w", dir, err))
		}
		for i := range sc.samples {
			for _, d := range dropped {
				sc.samples[i].x[d] = 0
			}
		}
		fmt.Fprintf(os.Stderr, "calibrate: %s: %d associations, %d with a shared address\n", dir, len(sc.samples), sc.shared)
		all = append(all, sc.samples...)
		shared += sc.shared
		sharedRight += sc.sharedRight
	}
	w, err := fit(all)
	if err != nil {
		fail(err)
	}
	c := associate.Calibration{Weights: w, Shared: 0.5}
	if shared > 0 {
		c.Shared = float64(sharedRight) / float64(shared)
	}
	// Second pass: the associations the model makes, the model's output
	// beside whether they were right, for the map.
	var made []sample
	var per []scenario
	for _, dir := range flag.Args() {
		sc, err := run(dir, db, log, &c)
		if err != nil {
			fail(fmt.Errorf("%s: %w", dir, err))
		}
		made = append(made, sc.samples...)
		per = append(per, sc)
	}
	c.Map = isotonic(made, &c)
	c.Map = pool(c.Map, made, &c, bandBottom, bandTop)
	fmt.Printf("calibration: %+v\n", c)
	reliability(made, &c)
	for i, dir := range flag.Args() {
		fmt.Printf("fitted on: %s\n", scenarioLine(dir, per[i].samples, &c))
	}
	var tsv strings.Builder
	for _, dir := range strings.Split(*check, ",") {
		if dir == "" {
			continue
		}
		sc, err := run(dir, db, log, &c)
		if err != nil {
			fail(fmt.Errorf("%s: %w", dir, err))
		}
		fmt.Printf("checked:   %s\n", scenarioLine(dir, sc.samples, &c))
		for _, x := range sc.samples {
			fmt.Fprintf(&tsv, "%s\t%.4f\t%t", filepath.Base(dir), c.Score(x.f), x.right)
			for _, v := range x.x[1:] {
				fmt.Fprintf(&tsv, "\t%.3f", v)
			}
			tsv.WriteByte('\n')
		}
	}
	if *dump != "" {
		if err := os.WriteFile(*dump, []byte(tsv.String()), 0o644); err != nil {
			fail(err)
		}
	}
	if *write != "" {
		if err := writeGo(*write, c, flag.Args(), len(all)); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "calibrate:", err)
	os.Exit(1)
}

// discard is a pipeline sink that keeps nothing.
type discard struct{}

func (discard) WriteAttempt(*record.Attempt) error         { return nil }
func (discard) WriteAssociation(*record.Association) error { return nil }
func (discard) Flush() error                               { return nil }

// run analyses one scenario as `mxsensor analyze` does with its defaults,
// uncalibrated, and labels what the engine decided.
func run(dir string, db *fingerprint.DB, log *zap.Logger, cal *associate.Calibration) (scenario, error) {
	var sc scenario
	tf, err := os.Open(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		return sc, err
	}
	truth, err := evaluate.ReadTruth(tf)
	tf.Close()
	if err != nil {
		return sc, err
	}
	set := rejectlog.NewSet(24 * time.Hour)
	ctx := context.Background()
	// The mail log's yearless lines take the capture's year, as analyze
	// reads them.
	end, ok, err := offline.End(ctx, offline.Config{Captures: []string{filepath.Join(dir, "syns.pcap")}})
	if err != nil || !ok {
		return sc, fmt.Errorf("%s: the capture's end: %v", dir, err)
	}
	if _, err := rejectlog.ScanArgs(ctx, []string{filepath.Join(dir, "mail.log")}, rejectlog.Options{Location: time.UTC, End: func() time.Time { return end }}, nil,
		func(r rejectlog.Rejection) error { set.Add(r); return nil }); err != nil {
		return sc, err
	}
	acfg := associate.DefaultConfig()
	acfg.Calibration = cal
	// The map is fitted over the whole range --min-score may take, not
	// only above the default threshold.
	acfg.Threshold = bandBottom
	acfg.Observe = func(a *associate.Association) {
		known, right := truth.AddrCorrect(a.V6.Src, a.V6.SrcPort, a.V6.FirstSeen, a.V4Addr)
		switch {
		case !known:
		case a.V4 != nil:
			sc.samples = append(sc.samples, sample{f: a.Features, x: a.Features.Vector(), right: right})
		case len(a.Evidence) > 0 && strings.HasPrefix(a.Evidence[0], "ambiguous:"):
			sc.shared++
			if right {
				sc.sharedRight++
			}
		}
	}
	pl, err := pipeline.New(pipeline.Config{Attempt: attempt.DefaultConfig(), Associate: acfg}, db, set, discard{})
	if err != nil {
		return sc, err
	}
	dp, err := offline.Dataplane([]uint16{25})
	if err != nil {
		return sc, err
	}
	if err := offline.Feed(ctx, offline.Config{Captures: []string{filepath.Join(dir, "syns.pcap")}, Dataplane: dp, Log: log}, pl); err != nil {
		return sc, err
	}
	return sc, pl.Close()
}

// fit is a logistic regression by Newton's method, with a small ridge so
// that a feature that never varies cannot make it diverge.
func fit(s []sample) ([n]float64, error) {
	var w [n]float64
	const ridge = 1e-3
	for iter := 0; iter < 50; iter++ {
		var g [n]float64
		var h [n][n]float64
		for _, x := range s {
			z := 0.0
			for i := range w {
				z += w[i] * x.x[i]
			}
			p := 1 / (1 + math.Exp(-z))
			y := 0.0
			if x.right {
				y = 1
			}
			for i := range w {
				g[i] += (p - y) * x.x[i]
				for j := range w {
					h[i][j] += p * (1 - p) * x.x[i] * x.x[j]
				}
			}
		}
		for i := range w {
			g[i] += ridge * w[i]
			h[i][i] += ridge
		}
		d, err := solve(h, g)
		if err != nil {
			return w, err
		}
		step := 0.0
		for i := range w {
			w[i] -= d[i]
			step = math.Max(step, math.Abs(d[i]))
		}
		if step < 1e-9 {
			break
		}
	}
	return w, nil
}

// solve solves h d = g by Gaussian elimination with partial pivoting.
func solve(h [n][n]float64, g [n]float64) ([n]float64, error) {
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(h[r][c]) > math.Abs(h[p][c]) {
				p = r
			}
		}
		if math.Abs(h[p][c]) < 1e-12 {
			return g, fmt.Errorf("singular system (too few samples?)")
		}
		h[c], h[p] = h[p], h[c]
		g[c], g[p] = g[p], g[c]
		for r := c + 1; r < n; r++ {
			f := h[r][c] / h[c][c]
			for k := c; k < n; k++ {
				h[r][k] -= f * h[c][k]
			}
			g[r] -= f * g[c]
		}
	}
	var d [n]float64
	for r := n - 1; r >= 0; r-- {
		v := g[r]
		for k := r + 1; k < n; k++ {
			v -= h[r][k] * d[k]
		}
		d[r] = v / h[r][r]
	}
	return d, nil
}

// minBin is the least number of associations one point of the map stands
// for.
const minBin = 400

// isotonic returns the map from the model's output to the share right:
// the associations sorted by output, cut into bins of at least minBin,
// each bin's mean output and share right, adjacent bins pooled until the
// share rises with the output.
func isotonic(s []sample, c *associate.Calibration) []associate.MapPoint {
	type bin struct{ sumP, right, n float64 }
	ps := make([]float64, len(s))
	idx := make([]int, len(s))
	for i := range s {
		ps[i] = c.Model(s[i].f)
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	var bins []bin
	cur := bin{}
	for k, i := range idx {
		cur.sumP += ps[i]
		cur.n++
		if s[i].right {
			cur.right++
		}
		// Close a bin at minBin, but never between equal outputs.
		if cur.n >= minBin && (k+1 == len(idx) || ps[idx[k+1]] != ps[i]) {
			bins = append(bins, cur)
			cur = bin{}
		}
	}
	if cur.n > 0 {
		if len(bins) > 0 && cur.n < minBin {
			b := &bins[len(bins)-1]
			b.sumP, b.right, b.n = b.sumP+cur.sumP, b.right+cur.right, b.n+cur.n
		} else {
			bins = append(bins, cur)
		}
	}
	// Pool adjacent violators.
	var st []bin
	for _, b := range bins {
		st = append(st, b)
		for len(st) > 1 && st[len(st)-2].right/st[len(st)-2].n >= st[len(st)-1].right/st[len(st)-1].n {
			x, y := st[len(st)-2], st[len(st)-1]
			st = append(st[:len(st)-2], bin{x.sumP + y.sumP, x.right + y.right, x.n + y.n})
		}
	}
	out := make([]associate.MapPoint, len(st))
	for i, b := range st {
		out[i] = associate.MapPoint{Model: b.sumP / b.n, Right: b.right / b.n}
	}
	return out
}

// bandBottom and bandTop bound the pooled band of the map (pool): the
// least --min-score that means anything, and the default one
// (associate.DefaultThreshold).
const (
	bandBottom = 0.5
	bandTop    = associate.DefaultThreshold
)

// pool flattens the map between the outputs where it reaches lo and hi
// into one level: the share right of the associations it scores in
// [lo, hi). In that band the pairs have timing and a common stack and no
// identity evidence, and the order the model puts them in does not carry
// from one scenario to another: checked on scenarios not fitted on, the
// band as one level had a largest bin error per scenario of 0.10 against
// 0.16 for the isotonic map, and as two levels 0.14 (docs/association.md).
// The map stays a step at lo and at hi, so the associations made at the
// threshold lo are the same as before. A map that starts at lo or above
// is one level from its start.
func pool(m []associate.MapPoint, s []sample, c *associate.Calibration, lo, hi float64) []associate.MapPoint {
	// at returns the output where m reaches r, and whether m starts at r
	// or above (then every output up to there scores the first point).
	at := func(r float64) (out float64, first, ok bool) {
		for i, p := range m {
			if p.Right >= r {
				if i == 0 {
					return p.Model, true, true
				}
				q := m[i-1]
				return q.Model + (p.Model-q.Model)*(r-q.Right)/(p.Right-q.Right), false, true
			}
		}
		return 0, false, false
	}
	mlo, fromStart, okLo := at(lo)
	mhi, _, okHi := at(hi)
	if !okLo || !okHi || mhi <= mlo {
		return m
	}
	n, right := 0, 0
	for _, x := range s {
		if p := c.Model(x.f); (fromStart || p > mlo) && p <= mhi {
			n++
			if x.right {
				right++
			}
		}
	}
	if n == 0 {
		return m
	}
	level := float64(right) / float64(n)
	if level < lo || level > hi {
		fmt.Fprintf(os.Stderr, "calibrate: the band [%g, %g) is right %.3f of the time, outside it: map not pooled\n", lo, hi, level)
		return m
	}
	var out []associate.MapPoint
	for _, p := range m {
		if p.Model < mlo {
			out = append(out, p)
		}
	}
	if !fromStart {
		out = append(out, associate.MapPoint{Model: mlo, Right: lo})
	}
	out = append(out, associate.MapPoint{Model: mlo, Right: level},
		associate.MapPoint{Model: mhi, Right: level}, associate.MapPoint{Model: mhi, Right: hi})
	for _, p := range m {
		if p.Model > mhi {
			out = append(out, p)
		}
	}
	return out
}

// reliability prints the calibrated scores in the score bins (eval's)
// beside the share of them that were right, and the Brier score.
func reliability(s []sample, c *associate.Calibration) {
	var n [record.NumScoreBins]int
	var sum, right [record.NumScoreBins]float64
	brier := 0.0
	for _, x := range s {
		p := c.Score(x.f)
		b := record.ScoreBin(p)
		n[b]++
		sum[b] += p
		y := 0.0
		if x.right {
			y = 1
		}
		right[b] += y
		brier += (p - y) * (p - y)
	}
	fmt.Println("| score | pairs | mean score | right |")
	fmt.Println("|---|---|---|---|")
	for b := range n {
		if n[b] == 0 {
			continue
		}
		fmt.Printf("| %.2f-%.2f | %d | %.3f | %.3f |\n", record.ScoreEdges[b], record.ScoreEdges[b+1], n[b], sum[b]/float64(n[b]), right[b]/float64(n[b]))
	}
	fmt.Printf("Brier score %.4f over %d associations\n", brier/float64(len(s)), len(s))
}

// scenarioLine is one scenario's associations, their share right, and
// the largest calibration error of its score bins (eval's) with at least
// 100.
func scenarioLine(dir string, s []sample, c *associate.Calibration) string {
	var cnt [record.NumScoreBins]int
	var sum, right [record.NumScoreBins]float64
	ok := 0
	for _, x := range s {
		p := c.Score(x.f)
		b := record.ScoreBin(p)
		cnt[b]++
		sum[b] += p
		if x.right {
			right[b]++
			ok++
		}
	}
	worst, at := 0.0, ""
	for b := range cnt {
		if cnt[b] < 100 {
			continue
		}
		if d := math.Abs(sum[b]-right[b]) / float64(cnt[b]); d > worst {
			worst, at = d, fmt.Sprintf(" (%.2f-%.2f: %d, score %.3f, right %.3f)", record.ScoreEdges[b], record.ScoreEdges[b+1], cnt[b], sum[b]/float64(cnt[b]), right[b]/float64(cnt[b]))
		}
	}
	return fmt.Sprintf("%-40s %6d right %.4f  max cal.err %.3f%s", dir, len(s), float64(ok)/float64(max(1, len(s))), worst, at)
}

func writeGo(path string, c associate.Calibration, dirs []string, count int) error {
	var b strings.Builder
	b.WriteString("// Code generated by tools/calibrate; DO NOT EDIT.\n\n")
	b.WriteString("package associate\n\n")
	fmt.Fprintf(&b, "// DefaultCalibration was fitted on %d associations of %d generated\n// scenarios (docs/association.md).\n", count, len(dirs))
	b.WriteString("// Weights: bias, the evidence families (Families order), lead,\n// log(1+crowd), log(1+near), log(1+recent), identity, rival,\n// log(1+cands), log(1+busy)-log(1+sent), habit, agreed.\n")
	b.WriteString("var DefaultCalibration = Calibration{\n\tWeights: [NumFeatures]float64{")
	for i, w := range c.Weights {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.6f", w)
	}
	b.WriteString("},\n\t// The model's output -> the share right.\n\tMap: []MapPoint{")
	for i, m := range c.Map {
		if i%3 == 0 {
			b.WriteString("\n\t\t")
		} else {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "{%.6f, %.6f},", m.Model, m.Right)
	}
	fmt.Fprintf(&b, "\n\t},\n\tShared: %.4f,\n}\n", c.Shared)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
