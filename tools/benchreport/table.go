package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/xdpbench"
)

// met says whether a figure meets its bar; figures shown for information
// have no bar.
type met int

const (
	noBar met = iota
	barMet
	barMissed
)

// row is one line of the summary table. Short says by how much an absolute
// bar was missed ("15.3× short"), for the met column.
type row struct {
	Bench, Figure, Result, Baseline, Ratio, Bar string
	Met                                         met
	Short                                       string
}

func metIf(ok bool) met {
	if ok {
		return barMet
	}
	return barMissed
}

// failedRow is the line of a figure (or of a whole benchmark, figure "–")
// that could not be measured.
func failedRow(bench, figure string, err error) row {
	reason := strings.Join(strings.Fields(err.Error()), " ")
	if len(reason) > 200 {
		reason = reason[:200] + "…"
	}
	return row{Bench: bench, Figure: figure, Result: "failed: " + reason, Baseline: "–", Ratio: "–", Bar: "–"}
}

// xdpRows turns xdpbench's rows into summary lines; xdpbench decides the
// bars (SYN path against the reflector plus record, non-target against
// pass-only).
func xdpRows(rs []xdpbench.Row) []row {
	var out []row
	for _, r := range rs {
		out = append(out, row{Bench: "XDP program", Figure: "ns per packet, " + r.Frame,
			Result:   fmt.Sprintf("%.1f ns", r.Ours),
			Baseline: fmt.Sprintf("%s: %.1f ns", r.BaselineName, r.Baseline),
			Ratio:    fmt.Sprintf("%.2f", r.Ratio), Bar: fmt.Sprintf("≤ %.1f", r.Bar), Met: metIf(r.Met)})
	}
	return out
}

// xdpLiveRows: the non-target frames of xdpbench's live run, the kernel's
// own run time of the sensor's program beside pass-only's, with the
// difference (the program's own cost) in the result.
func xdpLiveRows(rs []xdpbench.LiveRow) []row {
	var out []row
	for _, r := range rs {
		out = append(out, row{Bench: "XDP program", Figure: "ns per packet, live veth, " + r.Frame,
			Result:   fmt.Sprintf("%.1f ns (%+.1f ns)", r.Ours, r.ExtraNs),
			Baseline: fmt.Sprintf("%s: %.1f ns", r.BaselineName, r.Baseline),
			Ratio:    fmt.Sprintf("%.2f", r.Ratio), Bar: fmt.Sprintf("≤ %.1f", r.Bar), Met: metIf(r.Met)})
	}
	return out
}

// Bars of the benchmarks without a baseline (issues 9 and 19).
const (
	ringMinRecordsPerSec  = 5e6
	pipelineMinSYNsPerSec = 1e6
	pipelineMaxBytesLive  = 400
)

// offlineMaxWallRatio is the bar of analyze's wall time over p0f -r's on
// the same capture (issue 19).
const offlineMaxWallRatio = 0.2

// ringRows: records per second from the ring into SYN events on one core,
// and allocations per record.
func ringRows(r benchResult) ([]row, error) {
	const bench = "ring drain"
	var out []row
	var errs []string
	if ns, ok := r.Metrics["ns/op"]; ok && ns > 0 {
		rate := 1e9 / ns
		out = append(out, row{Bench: bench, Figure: "records per second, one core", Baseline: "–", Ratio: "–",
			Result: fmt.Sprintf("%.1f M/s (%.1f ns/record)", rate/1e6, ns),
			Bar:    fmt.Sprintf("≥ %s/s", millions(ringMinRecordsPerSec)), Met: metIf(rate >= ringMinRecordsPerSec),
			Short: shortOf(ringMinRecordsPerSec, rate)})
	} else {
		errs = append(errs, "ns/op")
		out = append(out, failedRow(bench, "records per second, one core", fmt.Errorf("no ns/op in the output")))
	}
	if a, ok := r.Metrics["allocs/op"]; ok {
		out = append(out, row{Bench: bench, Figure: "allocations per record", Baseline: "–", Ratio: "–",
			Result: fmt.Sprintf("%g", a), Bar: "0", Met: metIf(a == 0)})
	} else {
		errs = append(errs, "allocs/op")
		out = append(out, failedRow(bench, "allocations per record", fmt.Errorf("no allocs/op in the output (-benchmem?)")))
	}
	return out, missing(errs)
}

// pipelineRows: SYN events per second through the pipeline, and heap bytes
// per live attempt.
func pipelineRows(r benchResult) ([]row, error) {
	const bench = "pipeline"
	var out []row
	var errs []string
	if v, ok := r.Metrics["SYNs/s"]; ok {
		out = append(out, row{Bench: bench, Figure: "SYN events per second", Baseline: "–", Ratio: "–",
			Result: group(uint64(v)) + "/s", Bar: "≥ " + group(pipelineMinSYNsPerSec) + "/s",
			Met: metIf(v >= pipelineMinSYNsPerSec), Short: shortOf(pipelineMinSYNsPerSec, v)})
	} else {
		errs = append(errs, "SYNs/s")
		out = append(out, failedRow(bench, "SYN events per second", fmt.Errorf("no SYNs/s in the output")))
	}
	if v, ok := r.Metrics["B/live-attempt"]; ok {
		res := group(uint64(v)) + " B"
		if live, ok := r.Metrics["live-attempts"]; ok {
			res += fmt.Sprintf(" (%s live attempts)", group(uint64(live)))
		}
		out = append(out, row{Bench: bench, Figure: "heap bytes per live attempt", Baseline: "–", Ratio: "–",
			Result: res, Bar: fmt.Sprintf("≤ %d B", pipelineMaxBytesLive), Met: metIf(v <= pipelineMaxBytesLive),
			Short: overOf(pipelineMaxBytesLive, v)})
	} else {
		errs = append(errs, "B/live-attempt")
		out = append(out, failedRow(bench, "heap bytes per live attempt", fmt.Errorf("no B/live-attempt in the output")))
	}
	return out, missing(errs)
}

// fleetRows: records per second of the publisher (outbox to an embedded
// server) and of the collector's ingest (stream to store), each beside the
// records per second the pipeline emits (attempts and associations): a
// ratio of 1 keeps up with one sensor at the pipeline's full rate. The
// publisher's CPU per record is for information. No bars: docs/fleet.md
// sizes a fleet from them.
func fleetRows(pipe, pub, ing benchResult) ([]row, error) {
	const bench = "fleet"
	var out []row
	var errs []string
	base, haveBase := pipe.Metrics["records/s"]
	baseline := "–"
	if haveBase {
		baseline = "pipeline: " + group(uint64(base)) + " records/s"
	} else {
		errs = append(errs, "records/s of BenchmarkPipeline")
	}
	rate := func(r benchResult, figure string) {
		v, ok := r.Metrics["records/s"]
		if !ok {
			errs = append(errs, "records/s of "+r.Name)
			out = append(out, failedRow(bench, figure, fmt.Errorf("no records/s in the output")))
			return
		}
		x := row{Bench: bench, Figure: figure, Result: group(uint64(v)) + "/s", Baseline: baseline, Ratio: "–", Bar: "–"}
		if haveBase {
			x.Ratio = fmt.Sprintf("%.2f", ratio(v, base))
		}
		out = append(out, x)
	}
	rate(pub, "publisher records per second (outbox to an embedded server)")
	if v, ok := pub.Metrics["CPU-µs/record"]; ok {
		out = append(out, row{Bench: bench, Figure: "publisher CPU per record, the embedded server's included",
			Result: fmt.Sprintf("%.1f µs", v), Baseline: "–", Ratio: "–", Bar: "–"})
	}
	rate(ing, "collector ingest records per second (stream to store)")
	return out, missing(errs)
}

func missing(units []string) error {
	if len(units) == 0 {
		return nil
	}
	return fmt.Errorf("the benchmark did not report %s", strings.Join(units, ", "))
}

// timing is one command's best run: wall-clock and user CPU time.
type timing struct {
	Wall, User time.Duration
}

// offline is one capture timed through p0f -r and mxsensor analyze.
type offline struct {
	Capture      string // "3,000 hosts, density 3, 1 h: 146,034 SYNs"
	P0f, Analyze timing
}

// offlineRows: analyze's wall time beside p0f's on the same capture (bar:
// at most offlineMaxWallRatio of it), and their user CPU for information.
func offlineRows(o offline) []row {
	const bench = "analyze vs p0f -r"
	wall := ratio(o.Analyze.Wall.Seconds(), o.P0f.Wall.Seconds())
	return []row{
		{Bench: bench, Figure: "wall time, " + o.Capture, Result: secs(o.Analyze.Wall),
			Baseline: "p0f -r: " + secs(o.P0f.Wall), Ratio: fmt.Sprintf("%.2f", wall), Bar: fmt.Sprintf("≤ %g", offlineMaxWallRatio),
			Met: metIf(o.P0f.Wall > 0 && wall <= offlineMaxWallRatio), Short: overOf(offlineMaxWallRatio, wall)},
		{Bench: bench, Figure: "user CPU, " + o.Capture, Result: secs(o.Analyze.User),
			Baseline: "p0f -r: " + secs(o.P0f.User),
			Ratio:    fmt.Sprintf("%.2f", ratio(o.Analyze.User.Seconds(), o.P0f.User.Seconds())), Bar: "–"},
	}
}

// floodReport is what tools/floodbench -json prints (the fields read here).
type floodReport struct {
	Frames    uint64      `json:"frames"`
	DurationS float64     `json:"duration_s"`
	Cases     []floodCase `json:"cases"`
	Table     string      `json:"table"`
}

type floodCase struct {
	Case             string            `json:"case"`
	Sent             uint64            `json:"sent"`
	RSTs             uint64            `json:"rsts"`
	MachineCPUS      float64           `json:"machine_cpu_s"`
	AgentCPUS        float64           `json:"agent_cpu_s"`
	RSTsPerCPUSecond float64           `json:"rsts_per_cpu_second"`
	AgentMaxRSSBytes uint64            `json:"agent_max_rss_bytes"`
	Counters         map[string]uint64 `json:"counters"`
}

// floodRows: for XDP native and generic, whether every matched SYN left a
// ring record or was counted as lost, and RSTs per CPU-second of the whole
// machine beside the kernel path's; the agent's CPU for information; and
// the store case's rows (storeRows).
func floodRows(f floodReport) ([]row, error) {
	const bench = "live flood"
	cases := map[string]floodCase{}
	for _, c := range f.Cases {
		cases[c.Case] = c
	}
	kernel, haveKernel := cases["kernel"]
	var out []row
	var absent []string
	for _, mode := range []string{"native", "generic"} {
		name := "XDP " + mode
		c, ok := cases[mode]
		if !ok || c.Counters == nil {
			absent = append(absent, mode)
			out = append(out, failedRow(bench, name, fmt.Errorf("no %s case in floodbench's output", mode)))
			continue
		}
		rec, lost, matched := c.Counters["records"], c.Counters["records_lost"], c.Counters["syn_matched"]
		out = append(out, row{Bench: bench, Figure: "SYNs recorded + lost, " + name,
			Result:   fmt.Sprintf("%s + %s of %s", group(rec), group(lost), group(matched)),
			Baseline: "–", Ratio: "–", Bar: "= syn_matched", Met: metIf(matched > 0 && rec+lost == matched)})
		r := row{Bench: bench, Figure: "RSTs per CPU-second, " + name, Result: group(uint64(c.RSTsPerCPUSecond)),
			Bar: "> 1"}
		if haveKernel {
			r.Baseline = "kernel path: " + group(uint64(kernel.RSTsPerCPUSecond))
			r.Ratio = fmt.Sprintf("%.2f", ratio(c.RSTsPerCPUSecond, kernel.RSTsPerCPUSecond))
			r.Met = metIf(kernel.RSTsPerCPUSecond > 0 && c.RSTsPerCPUSecond > kernel.RSTsPerCPUSecond)
		} else {
			r.Baseline, r.Ratio, r.Met = "no kernel case", "–", barMissed
		}
		out = append(out, r)
		perSYN := "–"
		if c.Sent > 0 {
			perSYN = fmt.Sprintf("%.2f µs/SYN", c.AgentCPUS*1e6/float64(c.Sent))
		}
		out = append(out, row{Bench: bench, Figure: "agent CPU, " + name,
			Result: fmt.Sprintf("%.2f s (%s)", c.AgentCPUS, perSYN), Baseline: "–", Ratio: "–", Bar: "–"})
	}
	if c, ok := cases["store"]; ok && c.Counters != nil {
		out = append(out, storeRows(c)...)
	} else {
		absent = append(absent, "store")
		out = append(out, failedRow(bench, "XDP native, --out and --db", errors.New("no store case in floodbench's output")))
	}
	if !haveKernel {
		absent = append(absent, "kernel")
	}
	if len(absent) > 0 {
		return out, fmt.Errorf("floodbench reported no %s case", strings.Join(absent, ", "))
	}
	return out, nil
}

// storeRows: the flood through the agent's whole pipeline and its store
// (floodbench's store case): every matched SYN recorded or counted as lost,
// the agent's CPU per SYN it recorded, and its peak memory.
func storeRows(c floodCase) []row {
	const bench, name = "live flood", "XDP native, --out and --db"
	rec, lost, matched := c.Counters["records"], c.Counters["records_lost"], c.Counters["syn_matched"]
	perSYN := "–"
	if rec > 0 {
		perSYN = fmt.Sprintf("%.2f µs", c.AgentCPUS*1e6/float64(rec))
	}
	return []row{
		{Bench: bench, Figure: "SYNs recorded + lost, " + name,
			Result:   fmt.Sprintf("%s + %s of %s", group(rec), group(lost), group(matched)),
			Baseline: "–", Ratio: "–", Bar: "= syn_matched", Met: metIf(matched > 0 && rec+lost == matched)},
		{Bench: bench, Figure: "agent CPU per SYN recorded, " + name, Result: perSYN, Baseline: "–", Ratio: "–", Bar: "–"},
		{Bench: bench, Figure: "agent max RSS, " + name, Result: fmt.Sprintf("%.0f MB", float64(c.AgentMaxRSSBytes)/1e6),
			Baseline: "–", Ratio: "–", Bar: "–"},
	}
}

// markdown renders the summary table.
func markdown(rows []row) string {
	var b strings.Builder
	b.WriteString("| benchmark | figure | result | baseline | ratio | bar | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		m := "–"
		switch r.Met {
		case barMet:
			m = "yes"
		case barMissed:
			m = "**no**"
			if r.Short != "" {
				m += " (" + r.Short + ")"
			}
		}
		cells := []string{r.Bench, r.Figure, r.Result, r.Baseline, r.Ratio, r.Bar, m}
		for i, c := range cells {
			if c == "" {
				c = "–"
			}
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

// shortOf says how far v falls short of a minimum bar, "" if it does not.
func shortOf(bar, v float64) string {
	if v >= bar || v <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f× short", bar/v)
}

// overOf says how far v is over a maximum bar, "" if it is not.
func overOf(bar, v float64) string {
	if v <= bar {
		return ""
	}
	return fmt.Sprintf("%.1f× over", v/bar)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func millions(v float64) string { return fmt.Sprintf("%g M", v/1e6) }

// group formats n with thousands separators: 1234567 is "1,234,567".
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for len(s) > 3 {
		head := len(s) % 3
		if head == 0 {
			head = 3
		}
		b.WriteString(s[:head] + ",")
		s = s[head:]
	}
	b.WriteString(s)
	return b.String()
}
