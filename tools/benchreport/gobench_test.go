package main

import (
	"strings"
	"testing"
)

const ringOutput = `goos: linux
goarch: amd64
pkg: github.com/mxsensor/mxsensor/internal/dataplane
cpu: Oxide Virtual Turin-like Processor             
BenchmarkRingDrain-2   	 2000000	        49.18 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/mxsensor/mxsensor/internal/dataplane	9.555s
`

const pipelineOutput = `goos: linux
goarch: amd64
pkg: github.com/mxsensor/mxsensor/internal/pipeline
cpu: Oxide Virtual Turin-like Processor             
BenchmarkPipeline-2   	       3	2228655678 ns/op	      1709 B/live-attempt	     65526 SYNs/s	      1230 live-attempts
PASS
ok  	github.com/mxsensor/mxsensor/internal/pipeline	13.576s
`

func TestParseGoBench(t *testing.T) {
	rs, err := parseGoBench(ringOutput)
	if err != nil {
		t.Fatal(err)
	}
	r, err := findBench(rs, "BenchmarkRingDrain")
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 2000000 || r.Metrics["ns/op"] != 49.18 || r.Metrics["allocs/op"] != 0 || r.Metrics["B/op"] != 0 ||
		len(r.Metrics) != 3 {
		t.Errorf("ring drain: %+v", r)
	}

	rs, err = parseGoBench(pipelineOutput)
	if err != nil {
		t.Fatal(err)
	}
	r, err = findBench(rs, "BenchmarkPipeline")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"ns/op": 2228655678, "B/live-attempt": 1709, "SYNs/s": 65526, "live-attempts": 1230}
	if r.N != 3 || len(r.Metrics) != len(want) {
		t.Errorf("pipeline: %+v", r)
	}
	for u, v := range want {
		if r.Metrics[u] != v {
			t.Errorf("pipeline %s = %v, want %v", u, r.Metrics[u], v)
		}
	}
	if _, err := findBench(rs, "BenchmarkRingDrain"); err == nil {
		t.Error("found a benchmark that is not in the output")
	}
}

// A benchmark that logs prints its name on a line of its own first; sub-
// benchmarks keep their path; names keep a dash that is not the CPU suffix.
func TestParseGoBenchNames(t *testing.T) {
	out := "BenchmarkLogs-2\n    x_test.go:12: scenario of 146034 SYNs\nBenchmarkLogs-2   \t 10\t 5.5 ns/op\n" +
		"BenchmarkSub/ipv6-ext-8 \t 100\t 7 ns/op\nBenchmarkNoProcs-x \t 1\t 2 ns/op\nBenchmarkSingle \t 1\t 3 ns/op\n"
	rs, err := parseGoBench(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "BenchmarkLogs BenchmarkSub/ipv6-ext BenchmarkNoProcs-x BenchmarkSingle"; got != want {
		t.Errorf("names %q, want %q", got, want)
	}
	if rs[0].N != 10 || rs[0].Metrics["ns/op"] != 5.5 {
		t.Errorf("logging benchmark: %+v", rs[0])
	}
}

func TestParseGoBenchFailures(t *testing.T) {
	for _, tc := range []struct{ name, out, reason string }{
		{"failed benchmark", `goos: linux
pkg: github.com/mxsensor/mxsensor/internal/pipeline
BenchmarkPipeline-2
--- FAIL: BenchmarkPipeline-2
    bench_test.go:36: genscenario: exit status 1
        genscenario: -out is required
FAIL
exit status 1
FAIL	github.com/mxsensor/mxsensor/internal/pipeline	1.204s
FAIL
`, "BenchmarkPipeline-2: bench_test.go:36: genscenario: exit status 1"},
		{"build failed", `# github.com/mxsensor/mxsensor/internal/pipeline [github.com/mxsensor/mxsensor/internal/pipeline.test]
internal/pipeline/pipeline.go:120:9: undefined: associate.NewIndex
FAIL	github.com/mxsensor/mxsensor/internal/pipeline [build failed]
FAIL
`, "build failed: internal/pipeline/pipeline.go:120:9: undefined: associate.NewIndex"},
		{"panic", `BenchmarkRingDrain-2   	panic: runtime error: index out of range [3] with length 3

goroutine 7 [running]:
FAIL	github.com/mxsensor/mxsensor/internal/dataplane	0.101s
FAIL
`, "panic: runtime error: index out of range [3] with length 3"},
		{"failed test in the package", "--- FAIL: TestRing (0.00s)\nFAIL\n", "TestRing (0.00s) failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGoBench(tc.out)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.reason {
				t.Errorf("reason %q, want %q", err, tc.reason)
			}
		})
	}
}

func TestParseGoBenchMalformed(t *testing.T) {
	for _, out := range []string{
		"BenchmarkX-2 \t 3\t 12 ns/op\t 7\n",
		"BenchmarkX-2 \t 3\t fast ns/op\n",
		"BenchmarkX-2 \t 3\n",
	} {
		if rs, err := parseGoBench(out); err == nil {
			t.Errorf("%q: no error, got %+v", out, rs)
		}
	}
}
