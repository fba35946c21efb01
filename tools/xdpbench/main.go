// Command xdpbench times the sensor's XDP program beside its baselines with
// BPF_PROG_TEST_RUN (one fresh frame per run) and prints the table of
// figure, baseline, ratio and bar (issue 9). Needs root.
//
//	go run ./tools/xdpbench [-runs 2000] [-batches 9]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mxsensor/mxsensor/internal/xdpbench"
)

func main() {
	runs := flag.Int("runs", 2000, "runs per batch")
	batches := flag.Int("batches", 9, "batches per program and frame (the median is kept)")
	flag.Parse()
	s, err := xdpbench.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdpbench:", err)
		os.Exit(1)
	}
	defer s.Close()
	frames := xdpbench.Frames()
	rs, err := xdpbench.MeasureAll(s, frames, *runs, *batches)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdpbench:", err)
		os.Exit(1)
	}
	fmt.Println("| program | " + join(frames) + " |")
	fmt.Print("|---|")
	for range frames {
		fmt.Print("---|")
	}
	fmt.Println()
	for _, p := range s.Programs {
		fmt.Printf("| %s |", p.Name)
		for _, f := range frames {
			for _, r := range rs {
				if r.Program == p.Name && r.Frame == f.Name {
					fmt.Printf(" %.1f ns (%s) |", r.NsPerRun, verdict(r.Verdict))
				}
			}
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Println("| figure | mxsensor | baseline | ratio | bar | met |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, row := range xdpbench.Rows(rs, frames) {
		fmt.Printf("| %s | %.1f ns | %s: %.1f ns | %.2f | <= %.1f | %s |\n", row.Frame, row.Ours, row.BaselineName, row.Baseline,
			row.Ratio, row.Bar, map[bool]string{true: "yes", false: "**no**"}[row.Met])
	}
}

func join(fs []xdpbench.Frame) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += " | "
		}
		s += f.Name
	}
	return s
}

func verdict(v uint32) string {
	switch v {
	case 1:
		return "DROP"
	case 2:
		return "PASS"
	case 3:
		return "TX"
	}
	return fmt.Sprint(v)
}
