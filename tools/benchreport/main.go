// Command benchreport runs the benchmarks of issue 9 one after another, prints
// one table of figure, result, baseline, ratio and bar over all of them, and
// writes the figures into the benchmarks document (`make bench`). Needs root:
// it loads XDP programs and builds network namespaces.
//
//	go run ./tools/benchreport [-bin bin/mxsensor] [-doc docs/benchmarks.md] [-hosts 3000,10000] [-steps xdp,ring,pipeline,offline,newsources,flood,fleet]
//
// The steps: tools/xdpbench (the XDP program beside its baselines),
// BenchmarkRingDrain, BenchmarkPipeline, `mxsensor analyze` beside `p0f -r`
// on generated captures, tools/floodbench (a live SYN flood), and the
// fleet's BenchmarkPublishDrain and BenchmarkIngest beside the pipeline. Their own
// output goes to stderr as they run. A step that fails is a "failed: why"
// line in the table, the others still run, and the exit status is 1; a
// missed bar is a figure, not a failure. With -doc, the region between
// <!-- bench:begin --> and <!-- bench:end --> of that file is replaced by the
// machine, the table and the tools' own tables; the rest of it is kept.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	goCmd string // the go command
	bin   string // the mxsensor binary analyze and the flood run
	doc   string // the document to write, "" for none
	hosts []int  // the scenarios of analyze beside p0f
	steps []string
	// shared holds what one step measured for another.
	shared *shared
}

// shared are results steps share within one run.
type shared struct {
	pipeline *benchResult // BenchmarkPipeline, the fleet step's baseline
}

func main() {
	cfg := config{shared: &shared{}}
	var hosts, steps string
	flag.StringVar(&cfg.goCmd, "go", "go", "the go command")
	flag.StringVar(&cfg.bin, "bin", "bin/mxsensor", "the mxsensor binary (make build)")
	flag.StringVar(&cfg.doc, "doc", "", "write the figures between the bench markers of this file (empty: do not write)")
	flag.StringVar(&hosts, "hosts", "3000,10000", "hosts of the generated captures of analyze beside p0f (density 3, 1 h), comma-separated")
	flag.StringVar(&steps, "steps", strings.Join(stepNames(), ","), "steps to run, comma-separated")
	flag.Parse()
	err := func() error {
		var err error
		if cfg.hosts, err = parseHosts(hosts); err != nil {
			return fmt.Errorf("-hosts: %w", err)
		}
		if cfg.steps, err = parseSteps(steps); err != nil {
			return fmt.Errorf("-steps: %w", err)
		}
		return run(cfg)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func parseHosts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number of hosts", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSteps(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if _, ok := stepByName(f); !ok {
			return nil, fmt.Errorf("unknown step %q (want some of %s)", f, strings.Join(stepNames(), ", "))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("none given")
	}
	return out, nil
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: the XDP benchmarks load programs (CAP_BPF, CAP_PERFMON) and the flood builds network namespaces (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if cfg.doc != "" {
		// Find out now, not after the benchmarks, if the figures have nowhere to go.
		doc, err := os.ReadFile(cfg.doc)
		if err != nil {
			return err
		}
		if _, err := replaceRegion(doc, ""); err != nil {
			return fmt.Errorf("%s: %w", cfg.doc, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	m := facts(ctx)
	var (
		rows     []row
		sections []string
		failed   []string
	)
	for i, name := range cfg.steps {
		st, _ := stepByName(name)
		progress("[%d/%d] %s", i+1, len(cfg.steps), st.title)
		t0 := time.Now()
		sctx, cancel := context.WithTimeout(ctx, st.timeout)
		o := st.run(sctx, cfg)
		if o.err != nil && sctx.Err() == context.DeadlineExceeded {
			o.err = fmt.Errorf("timed out after %v: %w", st.timeout, o.err)
		}
		cancel()
		if o.err != nil {
			failed = append(failed, st.title)
			progress("%s failed after %s: %v", st.title, since(t0), o.err)
			if len(o.rows) == 0 {
				o.rows = []row{failedRow(st.title, "–", o.err)}
			}
		} else {
			progress("%s done in %s", st.title, since(t0))
		}
		rows = append(rows, o.rows...)
		if o.section != "" {
			sections = append(sections, o.section)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during %s", st.title)
		}
	}
	took := since(start)
	table := markdown(rows)
	fmt.Printf("\n%s\n\n%s", machineLine(m, took), table)
	switch {
	case cfg.doc == "":
	case len(failed) > 0:
		// A failed run would replace good figures with failure lines.
		progress("%s left as it was: a step failed", cfg.doc)
	case len(cfg.steps) != len(stepNames()):
		progress("%s left as it was: only some steps ran (-steps)", cfg.doc)
	default:
		body := docRegion(m, took, os.Args[1:], table, sections)
		if err := writeRegion(cfg.doc, body); err != nil {
			return fmt.Errorf("writing the figures: %w", err)
		}
		progress("figures written to %s", cfg.doc)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d steps failed: %s", len(failed), len(cfg.steps), strings.Join(failed, ", "))
	}
	return nil
}

func machineLine(m machine, took time.Duration) string {
	s := fmt.Sprintf("%s; %s, %d CPUs, Linux %s", m.Date.Format("2006-01-02 15:04 MST"), m.CPU, m.NProc, m.Kernel)
	if m.Commit != "" {
		s += "; commit " + m.Commit
	}
	return s + "; all steps took " + took.String() + "."
}

// docRegion is what goes between the markers of the benchmarks document.
func docRegion(m machine, took time.Duration, args []string, table string, sections []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "* date: %s\n", m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "* machine: %s, %d CPUs, Linux %s\n", m.CPU, m.NProc, m.Kernel)
	if m.Commit != "" {
		fmt.Fprintf(&b, "* commit: %s\n", m.Commit)
	}
	fmt.Fprintf(&b, "* command: `make bench`, that is `go run ./tools/benchreport %s` as root; all steps took %s\n\n",
		strings.Join(args, " "), took)
	b.WriteString(table)
	for _, s := range sections {
		b.WriteString("\n" + s)
	}
	return b.String()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
