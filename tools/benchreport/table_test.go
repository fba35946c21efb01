package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/xdpbench"
)

// metOf returns the met value of the row whose figure starts with prefix.
func metOf(t *testing.T, rows []row, prefix string) met {
	t.Helper()
	for _, r := range rows {
		if strings.HasPrefix(r.Figure, prefix) {
			return r.Met
		}
	}
	t.Fatalf("no row %q in %+v", prefix, rows)
	return noBar
}

func TestRingRows(t *testing.T) {
	for _, tc := range []struct {
		ns, allocs   float64
		rate, allocM met
	}{
		{49.2, 0, barMet, barMet},    // 20 M/s
		{200, 0, barMet, barMet},     // exactly 5 M/s
		{201, 0, barMissed, barMet},  // just under
		{49.2, 1, barMet, barMissed}, // one allocation per record
	} {
		rows, err := ringRows(benchResult{Name: "BenchmarkRingDrain", N: 1, Metrics: map[string]float64{"ns/op": tc.ns, "allocs/op": tc.allocs}})
		if err != nil {
			t.Fatal(err)
		}
		if got := metOf(t, rows, "records per second"); got != tc.rate {
			t.Errorf("%v ns/record: rate met %v, want %v", tc.ns, got, tc.rate)
		}
		if got := metOf(t, rows, "allocations"); got != tc.allocM {
			t.Errorf("%v allocs: met %v, want %v", tc.allocs, got, tc.allocM)
		}
	}
	// Without -benchmem there is no allocs/op: a failure, not a met bar.
	rows, err := ringRows(benchResult{Metrics: map[string]float64{"ns/op": 49}})
	if err == nil || !strings.HasPrefix(rows[1].Result, "failed:") || rows[1].Met != noBar {
		t.Errorf("missing allocs/op: err %v, rows %+v", err, rows)
	}
}

func TestPipelineRows(t *testing.T) {
	for _, tc := range []struct {
		rate, bytes      float64
		rateMet, bytesOK met
	}{
		{65526, 1709, barMissed, barMissed},
		{1e6, 400, barMet, barMet},
		{999999, 401, barMissed, barMissed},
		{2.5e6, 100, barMet, barMet},
	} {
		rows, err := pipelineRows(benchResult{Metrics: map[string]float64{"SYNs/s": tc.rate, "B/live-attempt": tc.bytes, "live-attempts": 1230}})
		if err != nil {
			t.Fatal(err)
		}
		if got := metOf(t, rows, "SYN events"); got != tc.rateMet {
			t.Errorf("%v SYNs/s: met %v, want %v", tc.rate, got, tc.rateMet)
		}
		if got := metOf(t, rows, "heap bytes"); got != tc.bytesOK {
			t.Errorf("%v B: met %v, want %v", tc.bytes, got, tc.bytesOK)
		}
	}
	rows, _ := pipelineRows(benchResult{Metrics: map[string]float64{"SYNs/s": 65526, "B/live-attempt": 1709}})
	if rows[0].Short != "15.3× short" || rows[1].Short != "4.3× over" || rows[1].Bar != "≤ 400 B" {
		t.Errorf("shortfalls %q, %q", rows[0].Short, rows[1].Short)
	}
	if _, err := pipelineRows(benchResult{Metrics: map[string]float64{"SYNs/s": 65526}}); err == nil {
		t.Error("no error without B/live-attempt")
	}
}

func TestOfflineRows(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		p0f, analyze time.Duration
		want         met
	}{
		{10 * s, 1 * s, barMet},
		{10 * s, 2 * s, barMet}, // 0.2: at the bar
		{10 * s, 2100 * time.Millisecond, barMissed},
		{2 * s, 1 * s, barMissed}, // faster, not five times
		{0, 1 * s, barMissed},     // no baseline
	} {
		rows := offlineRows(offline{Capture: "c", P0f: timing{Wall: tc.p0f}, Analyze: timing{Wall: tc.analyze}})
		if got := metOf(t, rows, "wall time"); got != tc.want {
			t.Errorf("p0f %v, analyze %v: met %v, want %v", tc.p0f, tc.analyze, got, tc.want)
		}
		if rows[0].Bar != "≤ 0.2" {
			t.Errorf("bar %q, want ≤ 0.2", rows[0].Bar)
		}
		if got := metOf(t, rows, "user CPU"); got != noBar {
			t.Errorf("user CPU has a bar")
		}
	}
}

func floodCaseOf(name string, perCPU float64, rec, lost, matched uint64) floodCase {
	c := floodCase{Case: name, Sent: 2e6, RSTs: 2e6, RSTsPerCPUSecond: perCPU}
	if name != "kernel" {
		c.Counters = map[string]uint64{"records": rec, "records_lost": lost, "syn_matched": matched}
	}
	return c
}

func TestFloodRows(t *testing.T) {
	store := floodCaseOf("store", 5e4, 457_824, 542_176, 1e6)
	store.AgentCPUS, store.AgentMaxRSSBytes = 4.42, 336_200_000
	rows, err := floodRows(floodReport{Cases: []floodCase{
		floodCaseOf("native", 289855, 2e6, 0, 2e6),
		floodCaseOf("generic", 179695, 1_999_000, 1000, 2e6), // as many as the kernel: not more
		floodCaseOf("kernel", 179695, 0, 0, 0),
		store,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]met{
		"SYNs recorded + lost, XDP native":            barMet, // the first match: the plain case
		"SYNs recorded + lost, XDP generic":           barMet,
		"RSTs per CPU-second, XDP native":             barMet,
		"RSTs per CPU-second, XDP generic":            barMissed,
		"agent CPU, XDP native":                       noBar,
		"SYNs recorded + lost, XDP native, --out":     barMet,
		"agent CPU per SYN recorded, XDP native, --o": noBar,
		"agent max RSS, XDP native, --out and --db":   noBar,
	} {
		if got := metOf(t, rows, prefix); got != want {
			t.Errorf("%s: met %v, want %v", prefix, got, want)
		}
	}
	for _, r := range rows {
		switch {
		case strings.HasPrefix(r.Figure, "agent CPU per SYN recorded") && r.Result != "9.65 µs",
			strings.HasPrefix(r.Figure, "agent max RSS") && r.Result != "336 MB":
			t.Errorf("%s: %q", r.Figure, r.Result)
		}
	}

	// Without the store case: its line says so, and an error.
	rows, err = floodRows(floodReport{Cases: []floodCase{floodCaseOf("native", 3e5, 1, 0, 1),
		floodCaseOf("generic", 3e5, 1, 0, 1), floodCaseOf("kernel", 2e5, 0, 0, 0)}})
	if err == nil || !strings.Contains(err.Error(), "store") || !strings.HasPrefix(rows[len(rows)-1].Result, "failed:") {
		t.Errorf("no store case: err %v, rows %+v", err, rows)
	}

	// A SYN neither recorded nor counted as lost misses the bar.
	rows, _ = floodRows(floodReport{Cases: []floodCase{floodCaseOf("native", 3e5, 1_999_999, 0, 2e6),
		floodCaseOf("generic", 3e5, 0, 0, 0), floodCaseOf("kernel", 2e5, 0, 0, 0)}})
	if got := metOf(t, rows, "SYNs recorded + lost, XDP native"); got != barMissed {
		t.Errorf("one SYN unaccounted for: met %v", got)
	}
	if got := metOf(t, rows, "SYNs recorded + lost, XDP generic"); got != barMissed {
		t.Errorf("no SYN matched at all: met %v", got)
	}

	// Without the kernel case there is no baseline: missed, and an error.
	rows, err = floodRows(floodReport{Cases: []floodCase{floodCaseOf("native", 3e5, 1, 0, 1), floodCaseOf("generic", 3e5, 1, 0, 1)}})
	if err == nil || metOf(t, rows, "RSTs per CPU-second, XDP native") != barMissed {
		t.Errorf("no kernel case: err %v, rows %+v", err, rows)
	}
}

func TestXDPRows(t *testing.T) {
	rows := xdpRows([]xdpbench.Row{
		{Frame: "ipv4-syn", Ours: 544, Baseline: 450, BaselineName: "reflector+record on ipv4-syn", Ratio: 1.21, Bar: 1.5, Met: true},
		{Frame: "non-target", Ours: 85.6, Baseline: 51, BaselineName: "pass-only", Ratio: 1.68, Bar: 1.3, Met: false},
	})
	if rows[0].Met != barMet || rows[1].Met != barMissed || rows[1].Ratio != "1.68" || rows[1].Bar != "≤ 1.3" {
		t.Errorf("%+v", rows)
	}
}

func TestXDPLiveRows(t *testing.T) {
	rows := xdpLiveRows([]xdpbench.LiveRow{
		{Row: xdpbench.Row{Frame: "arp", Ours: 33.5, Baseline: 31, BaselineName: "pass-only", Ratio: 1.08, Bar: 1.3, Met: true}, ExtraNs: 2.5},
		{Row: xdpbench.Row{Frame: "non-target", Ours: 45, Baseline: 30, BaselineName: "pass-only", Ratio: 1.5, Bar: 1.3}, ExtraNs: 15},
	})
	if len(rows) != 2 || rows[0].Met != barMet || rows[1].Met != barMissed || rows[0].Result != "33.5 ns (+2.5 ns)" ||
		rows[1].Figure != "ns per packet, live veth, non-target" || rows[1].Bar != "≤ 1.3" || rows[1].Baseline != "pass-only: 30.0 ns" {
		t.Errorf("%+v", rows)
	}
}

func TestMarkdown(t *testing.T) {
	got := markdown([]row{
		{Bench: "pipeline", Figure: "SYN events per second", Result: "65,526/s", Baseline: "–", Ratio: "–",
			Bar: "≥ 1,000,000/s", Met: barMissed, Short: "15.3× short"},
		{Bench: "ring drain", Figure: "allocations per record", Result: "0", Bar: "0", Met: barMet},
		failedRow("live flood", "–", errors.New("floodbench: exit status 1:\n  a | b")),
	})
	want := "| benchmark | figure | result | baseline | ratio | bar | met |\n" +
		"|---|---|---|---|---|---|---|\n" +
		"| pipeline | SYN events per second | 65,526/s | – | – | ≥ 1,000,000/s | **no** (15.3× short) |\n" +
		"| ring drain | allocations per record | 0 | – | – | 0 | yes |\n" +
		"| live flood | – | failed: floodbench: exit status 1: a \\| b | – | – | – | – |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 65526: "65,526", 2000000: "2,000,000", 123456789: "123,456,789"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFleetRows(t *testing.T) {
	pipe := benchResult{Name: "BenchmarkPipeline", Metrics: map[string]float64{"SYNs/s": 200000, "records/s": 100000}}
	pub := benchResult{Name: "BenchmarkPublishDrain", Metrics: map[string]float64{"records/s": 20000, "CPU-µs/record": 40}}
	ing := benchResult{Name: "BenchmarkIngest", Metrics: map[string]float64{"records/s": 5000}}
	rows, err := fleetRows(pipe, pub, ing)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Ratio != "0.20" || rows[2].Ratio != "0.05" || rows[0].Baseline != "pipeline: 100,000 records/s" ||
		rows[1].Result != "40.0 µs" {
		t.Errorf("rows %+v", rows)
	}
	// A pipeline result without records/s: the rates without a ratio,
	// and an error.
	rows, err = fleetRows(benchResult{Metrics: map[string]float64{}}, pub, ing)
	if err == nil || rows[0].Ratio != "–" || rows[0].Result != "20,000/s" {
		t.Errorf("no baseline: err %v, rows %+v", err, rows)
	}
}
