// Command xdpbench times the sensor's XDP program beside its baselines with
// BPF_PROG_TEST_RUN (one fresh frame per run) and prints the table of
// figure, baseline, ratio and bar (issue 9). Needs root.
//
//	go run ./tools/xdpbench [-runs 2000] [-batches 9] [-live-frames 20000] [-live-rate 100000] [-live-rounds 7] [-json]
//
// Then the live run: the sensor's program and pass-only attached in turn to
// a veth in throw-away namespaces, fed each non-target frame at a fixed
// rate, timed by the kernel's own statistics (run_time_ns / run_cnt), with
// no system call or copy per frame inside the figure. -live-rounds 0 skips it.
//
// With -json it prints one JSON object instead of the markdown: the settings,
// every program's result on every frame, the rows of figure, baseline, ratio
// and bar, and the per-frame table as markdown (tools/benchreport reads it).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mxsensor/mxsensor/internal/xdpbench"
)

// report is the -json output.
type report struct {
	Runs, Batches int
	Results       []xdpbench.Result
	Rows          []xdpbench.Row
	// FrameTable is the per-frame table of the markdown output.
	FrameTable string
	Live       xdpbench.LiveConfig
	LiveRows   []xdpbench.LiveRow
	// LiveTable is the live run's table of the markdown output, "" when
	// it did not run.
	LiveTable string
}

func main() {
	runs := flag.Int("runs", 2000, "runs per batch")
	batches := flag.Int("batches", 9, "batches per program and frame (the median is kept)")
	asJSON := flag.Bool("json", false, "print the results as JSON instead of markdown tables")
	live := xdpbench.DefaultLiveConfig()
	flag.IntVar(&live.Frames, "live-frames", live.Frames, "live run: frames per program, frame and round")
	flag.IntVar(&live.Rate, "live-rate", live.Rate, "live run: frames per second")
	flag.IntVar(&live.Rounds, "live-rounds", live.Rounds, "live run: rounds per program and frame (the median is kept); 0 skips the live run")
	flag.Parse()
	if err := run(*runs, *batches, live, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "xdpbench:", err)
		os.Exit(1)
	}
}

func run(runs, batches int, live xdpbench.LiveConfig, asJSON bool) error {
	s, err := xdpbench.Load()
	if err != nil {
		return err
	}
	defer s.Close()
	frames := xdpbench.Frames()
	rs, err := xdpbench.MeasureAll(s, frames, runs, batches)
	if err != nil {
		return err
	}
	rows := xdpbench.Rows(rs, frames)
	var liveRows []xdpbench.LiveRow
	if live.Rounds > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		lr, err := xdpbench.MeasureLive(ctx, s, frames, live)
		if err != nil {
			return err
		}
		liveRows = xdpbench.LiveRows(lr)
	}
	var lt string
	if len(liveRows) > 0 {
		lt = liveTable(live, liveRows)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report{Runs: runs, Batches: batches, Results: rs, Rows: rows,
			FrameTable: frameTable(s.Programs, frames, rs), Live: live, LiveRows: liveRows, LiveTable: lt})
	}
	fmt.Print(frameTable(s.Programs, frames, rs))
	fmt.Println()
	fmt.Print(barTable(rows))
	if lt != "" {
		fmt.Println()
		fmt.Print(lt)
	}
	return nil
}

// liveTable is the markdown table of the live run.
func liveTable(cfg xdpbench.LiveConfig, rows []xdpbench.LiveRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Each program on its own veth pair, native XDP, fed alternately a burst of %d frames at a time: %d\n"+
		"frames each per round, %d frames/s in all, the round of the median ratio of %d; the kernel's run_time_ns /\n"+
		"run_cnt, which includes two sched_clock() reads per run for both programs.\n\n",
		xdpbench.LiveBurst, cfg.Frames, cfg.Rate, cfg.Rounds)
	b.WriteString("| frame | mxsensor | pass-only | difference | ratio | bar | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f ns | %.1f ns | %+.1f ns | %.2f | <= %.1f | %s |\n", r.Frame, r.Ours, r.Baseline,
			r.ExtraNs, r.Ratio, r.Bar, metCell(r.Met))
	}
	return b.String()
}

// frameTable is the markdown table of every program's time and verdict on
// every frame.
func frameTable(progs []xdpbench.Program, frames []xdpbench.Frame, rs []xdpbench.Result) string {
	var b strings.Builder
	b.WriteString("| program |")
	for _, f := range frames {
		b.WriteString(" " + f.Name + " |")
	}
	b.WriteString("\n|---|")
	for range frames {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, p := range progs {
		fmt.Fprintf(&b, "| %s |", p.Name)
		for _, f := range frames {
			for _, r := range rs {
				if r.Program == p.Name && r.Frame == f.Name {
					fmt.Fprintf(&b, " %.1f ns (%s) |", r.NsPerRun, verdict(r.Verdict))
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// barTable is the markdown table of figure, baseline, ratio and bar.
func barTable(rows []xdpbench.Row) string {
	var b strings.Builder
	b.WriteString("| figure | mxsensor | baseline | ratio | bar | met |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %.1f ns | %s: %.1f ns | %.2f | <= %.1f | %s |\n", row.Frame, row.Ours, row.BaselineName,
			row.Baseline, row.Ratio, row.Bar, metCell(row.Met))
	}
	return b.String()
}

func metCell(met bool) string {
	if met {
		return "yes"
	}
	return "**no**"
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
