package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// newSourcesN is the size of both captures of the new-sources step: a flood
// of distinct IPv4 sources, and an ordinary scenario of about as many SYNs.
const newSourcesN = 300000

// newSources is what the new-sources step measured: the best of two runs
// of analyze on each capture.
type newSources struct {
	FloodWall, OrdinaryWall time.Duration
	FloodRSS, OrdinaryRSS   int64 // max resident set, bytes
	OrdinarySYNs            uint64
}

// newSourcesStep times `analyze` on 300,000 SYNs from distinct IPv4
// sources (gensyns -flood, 25,000 a second: past every bound on held
// state) beside an ordinary scenario of about as many SYNs, and takes the
// peak memory of each (issue 14's bars: at least 0.3 times the ordinary
// SYN rate, within 400 MB).
func newSourcesStep(ctx context.Context, cfg config) outcome {
	if _, err := os.Stat(cfg.bin); err != nil {
		return outcome{err: fmt.Errorf("%w (make build)", err)}
	}
	tmp, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return outcome{err: err}
	}
	defer os.RemoveAll(tmp)
	flood, ordinary := filepath.Join(tmp, "flood.pcap"), filepath.Join(tmp, "ordinary")
	if _, err := output(command(ctx, cfg.goCmd, "run", "./tools/gensyns", "-flood", fmt.Sprint(newSourcesN), "-gap", "40us", "-o", flood), false); err != nil {
		return outcome{err: err}
	}
	// About newSourcesN SYNs: 3,200 hosts at density 3 over 2 h.
	gen := command(ctx, cfg.goCmd, "run", "./tools/genscenario", "-seed", "9", "-hosts", "3200", "-density", "3", "-duration", "2h", "-out", ordinary)
	var genErr bytes.Buffer
	gen.Stderr = io.MultiWriter(os.Stderr, &genErr)
	if _, err := output(gen, false); err != nil {
		return outcome{err: err}
	}
	var r newSources
	if m := synCount.FindStringSubmatch(genErr.String()); m != nil {
		fmt.Sscan(m[1], &r.OrdinarySYNs)
	}
	if r.OrdinarySYNs == 0 {
		return outcome{err: errors.New("genscenario did not say how many SYNs it wrote")}
	}
	for range 2 {
		for _, c := range []struct {
			pcap string
			wall *time.Duration
			rss  *int64
		}{{flood, &r.FloodWall, &r.FloodRSS}, {filepath.Join(ordinary, "syns.pcap"), &r.OrdinaryWall, &r.OrdinaryRSS}} {
			out := filepath.Join(tmp, "o")
			os.RemoveAll(out)
			cmd := command(ctx, cfg.bin, "analyze", "--pcap", c.pcap, "--out", out, "--no-report")
			t, err := timed(cmd)
			if err != nil {
				return outcome{err: err}
			}
			rss := int64(0)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss = ru.Maxrss << 10
			}
			if *c.wall == 0 || t.Wall < *c.wall {
				*c.wall = t.Wall
			}
			*c.rss = max(*c.rss, rss)
		}
	}
	progress("new sources: flood %s, ordinary %s", secs(r.FloodWall), secs(r.OrdinaryWall))
	return outcome{rows: newSourcesRows(r), section: "### A flood of new sources\n\n" +
		"`go run ./tools/gensyns -flood 300000 -gap 40us` (distinct IPv4 sources, 25,000 a second) and an ordinary\n" +
		"scenario of about as many SYNs (`go run ./tools/genscenario -seed 9 -hosts 3200 -density 3 -duration 2h`),\n" +
		"each through `mxsensor analyze --no-report` twice: the least wall time and the most memory (max RSS).\n"}
}

func newSourcesRows(r newSources) []row {
	const bench = "new sources"
	floodRate := float64(newSourcesN) / r.FloodWall.Seconds()
	ordRate := float64(r.OrdinarySYNs) / r.OrdinaryWall.Seconds()
	rel := ratio(floodRate, ordRate)
	return []row{
		{Bench: bench, Figure: "analyze SYNs/s, 300,000 new IPv4 sources", Result: fmt.Sprintf("%.0f k", floodRate/1e3),
			Baseline: fmt.Sprintf("ordinary capture: %.0f k", ordRate/1e3), Ratio: fmt.Sprintf("%.2f", rel), Bar: ">= 0.3",
			Met: metIf(rel >= 0.3)},
		{Bench: bench, Figure: "analyze max RSS, 300,000 new IPv4 sources", Result: fmt.Sprintf("%d MB", r.FloodRSS/1e6),
			Baseline: fmt.Sprintf("ordinary capture: %d MB", r.OrdinaryRSS/1e6), Ratio: fmt.Sprintf("%.2f", ratio(float64(r.FloodRSS), float64(r.OrdinaryRSS))),
			Bar: "<= 400 MB", Met: metIf(r.FloodRSS > 0 && r.FloodRSS <= 400e6)},
	}
}
