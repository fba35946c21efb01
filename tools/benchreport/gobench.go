package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// benchResult is one result line of `go test -bench`: the benchmark's name
// (without the -GOMAXPROCS suffix), its iteration count, and its figures by
// unit ("ns/op", "allocs/op", or a custom unit from b.ReportMetric).
type benchResult struct {
	Name    string
	N       int64
	Metrics map[string]float64
}

// parseGoBench returns the result lines of the output of `go test -bench`.
// It returns an error that says why when the output reports a failure: a
// failed benchmark or test, a panic, or a package that did not build.
func parseGoBench(out string) ([]benchResult, error) {
	var (
		res    []benchResult
		lines  []string
		failed bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if line == "FAIL" || strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "--- FAIL") {
			failed = true
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		r, ok, err := parseBenchLine(line)
		if err != nil {
			return nil, err
		}
		if ok {
			res = append(res, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if failed {
		return res, fmt.Errorf("%s", failureReason(lines))
	}
	return res, nil
}

// parseBenchLine parses "BenchmarkName-2  3  2069439040 ns/op  70650 SYNs/s".
// A line that starts with the name but has no iteration count after it (the
// name printed before a benchmark's log output) is not a result: ok is false.
func parseBenchLine(line string) (r benchResult, ok bool, err error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return r, false, nil
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return r, false, nil
	}
	pairs := f[2:]
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return r, false, fmt.Errorf("benchmark line %q: want value-unit pairs after the iteration count", line)
	}
	r = benchResult{Name: trimProcs(f[0]), N: n, Metrics: map[string]float64{}}
	for i := 0; i < len(pairs); i += 2 {
		v, err := strconv.ParseFloat(pairs[i], 64)
		if err != nil {
			return r, false, fmt.Errorf("benchmark line %q: value %q: %w", line, pairs[i], err)
		}
		r.Metrics[pairs[i+1]] = v
	}
	return r, true, nil
}

// trimProcs removes the "-N" GOMAXPROCS suffix go test adds to a name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// failureReason is one line saying why a `go test` run failed: the failed
// benchmark or test with the first line it logged, the panic, or the first
// compiler error of a package that did not build.
func failureReason(lines []string) string {
	for i, l := range lines {
		if strings.HasPrefix(l, "--- FAIL") {
			name := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(l, "--- FAIL"), ":"))
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") {
				return name + ": " + strings.TrimSpace(lines[i+1])
			}
			return name + " failed"
		}
	}
	for _, l := range lines {
		// A panic in a benchmark follows its name on the same line.
		if i := strings.Index(l, "panic: "); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "# ") && i+1 < len(lines) {
			return "build failed: " + strings.TrimSpace(lines[i+1])
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL\t") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "go test reported FAIL"
}

// findBench returns the result of the benchmark called name.
func findBench(rs []benchResult, name string) (benchResult, error) {
	for _, r := range rs {
		if r.Name == name {
			return r, nil
		}
	}
	return benchResult{}, fmt.Errorf("no result line for %s in the output", name)
}
