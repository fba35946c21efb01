package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/mxsensor/mxsensor/internal/xdpbench"
)

// step is one benchmark; run returns its summary lines, a section of the
// document (the tool's own tables) and why it failed, if it did.
type step struct {
	name, title string
	timeout     time.Duration
	run         func(context.Context, config) outcome
}

type outcome struct {
	rows    []row
	section string
	err     error
}

// steps, in the order they run. The timeouts only stop a step that hangs:
// together the steps take a few minutes.
var steps = []step{
	{"xdp", "XDP program", 3 * time.Minute, xdpStep},
	{"ring", "ring drain", 3 * time.Minute, ringStep},
	{"pipeline", "pipeline", 4 * time.Minute, pipelineStep},
	{"offline", "analyze vs p0f -r", 6 * time.Minute, offlineStep},
	{"newsources", "a flood of new sources", 4 * time.Minute, newSourcesStep},
	{"flood", "live flood", 5 * time.Minute, floodStep},
	{"fleet", "fleet publish and ingest", 5 * time.Minute, fleetStep},
}

func stepNames() []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.name)
	}
	return out
}

func stepByName(name string) (step, bool) {
	for _, s := range steps {
		if s.name == name {
			return s, true
		}
	}
	return step{}, false
}

// command returns cmd in its own process group, with stderr on ours (the
// progress the user sees). When ctx ends, the whole group gets SIGINT, so
// that `go run`'s child cleans up (floodbench removes its namespaces); run
// runGroup kills what is left of the group 20 s later.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 20 * time.Second
	cmd.Stderr = os.Stderr
	return cmd
}

// output runs cmd and returns its stdout, and also copies it to stderr when
// echo is set. Its error names the command and quotes the last line the
// command wrote.
func output(cmd *exec.Cmd, echo bool) ([]byte, error) {
	var out, errTail bytes.Buffer
	cmd.Stdout = &out
	if echo {
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	}
	cmd.Stderr = io.MultiWriter(cmd.Stderr, &errTail)
	progress("running %s", strings.Join(cmd.Args, " "))
	if err := runGroup(cmd); err != nil {
		last := lastLine(errTail.String())
		if last == "" {
			last = lastLine(out.String())
		}
		if last != "" {
			return out.Bytes(), fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Args[0]), err, last)
		}
		return out.Bytes(), fmt.Errorf("%s: %w", filepath.Base(cmd.Args[0]), err)
	}
	return out.Bytes(), nil
}

// runGroup runs cmd and then kills its process group: when the command was
// stopped, `go run` is gone but the program it ran may not be.
func runGroup(cmd *exec.Cmd) error {
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when the group is empty
	}
	return err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// xdpReport is what tools/xdpbench -json prints.
type xdpReport struct {
	Runs, Batches int
	Results       []xdpbench.Result
	Rows          []xdpbench.Row
	FrameTable    string
	LiveRows      []xdpbench.LiveRow
	LiveTable     string
}

func xdpStep(ctx context.Context, cfg config) outcome {
	out, err := output(command(ctx, cfg.goCmd, "run", "./tools/xdpbench", "-json"), false)
	if err != nil {
		return outcome{err: err}
	}
	var rep xdpReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return outcome{err: fmt.Errorf("xdpbench -json output: %w", err)}
	}
	if len(rep.Rows) == 0 {
		return outcome{err: errors.New("xdpbench -json reported no rows")}
	}
	if len(rep.LiveRows) == 0 {
		return outcome{rows: xdpRows(rep.Rows), err: errors.New("xdpbench -json reported no live run")}
	}
	fmt.Fprint(os.Stderr, rep.FrameTable, rep.LiveTable)
	return outcome{rows: append(xdpRows(rep.Rows), xdpLiveRows(rep.LiveRows)...), section: fmt.Sprintf("### The XDP program on each frame\n\n"+
		"`tools/xdpbench`: `BPF_PROG_TEST_RUN` on a fresh copy of the frame for every run; the median of %d\n"+
		"batches of %s runs.\n\n%s\n#### Live, on veth pairs\n\n%s", rep.Batches, group(uint64(rep.Runs)), rep.FrameTable, rep.LiveTable)}
}

// goBench runs one Go benchmark, its output echoed, and returns its result.
func goBench(ctx context.Context, cfg config, env []string, name, pkg string, args ...string) (benchResult, error) {
	cmd := command(ctx, cfg.goCmd, append(append([]string{"test", "-run", "XXX", "-bench", "^" + name + "$"}, args...), pkg)...)
	cmd.Env = append(os.Environ(), env...)
	out, runErr := output(cmd, true)
	rs, err := parseGoBench(string(out))
	if err != nil {
		return benchResult{}, err
	}
	if runErr != nil {
		return benchResult{}, runErr
	}
	return findBench(rs, name)
}

func ringStep(ctx context.Context, cfg config) outcome {
	r, err := goBench(ctx, cfg, nil, "BenchmarkRingDrain", "./internal/dataplane", "-benchmem", "-benchtime", "2000000x")
	if err != nil {
		return outcome{err: err}
	}
	rows, err := ringRows(r)
	return outcome{rows: rows, err: err}
}

func pipelineStep(ctx context.Context, cfg config) outcome {
	r, err := pipelineBench(ctx, cfg)
	if err != nil {
		return outcome{err: err}
	}
	rows, err := pipelineRows(r)
	return outcome{rows: rows, err: err}
}

// pipelineBench runs BenchmarkPipeline once per benchreport run: the
// fleet step measures against the same result.
func pipelineBench(ctx context.Context, cfg config) (benchResult, error) {
	if cfg.shared != nil && cfg.shared.pipeline != nil {
		return *cfg.shared.pipeline, nil
	}
	r, err := goBench(ctx, cfg, []string{"MXS_BENCH_PIPELINE=1"}, "BenchmarkPipeline", "./internal/pipeline", "-benchtime", "3x")
	if err == nil && cfg.shared != nil {
		cfg.shared.pipeline = &r
	}
	return r, err
}

// fleetRecords is how many records the fleet's benchmarks publish and
// ingest (a few seconds each).
const fleetRecords = "20000x"

// fleetStep: the publisher draining its outbox into an embedded server,
// and the collector ingesting a filled stream into its store, each as
// records per second beside the records per second the pipeline emits.
func fleetStep(ctx context.Context, cfg config) outcome {
	pipe, err := pipelineBench(ctx, cfg)
	if err != nil {
		return outcome{err: fmt.Errorf("the baseline, BenchmarkPipeline: %w", err)}
	}
	pub, err := goBench(ctx, cfg, nil, "BenchmarkPublishDrain", "./internal/publish", "-benchmem", "-benchtime", fleetRecords)
	if err != nil {
		return outcome{err: err}
	}
	ing, err := goBench(ctx, cfg, nil, "BenchmarkIngest", "./internal/collector", "-benchmem", "-benchtime", fleetRecords)
	if err != nil {
		return outcome{err: err}
	}
	rows, err := fleetRows(pipe, pub, ing)
	return outcome{rows: rows, err: err}
}

var synCount = regexp.MustCompile(`(\d+) SYNs`)

// offlineStep times p0f -r and mxsensor analyze on a generated capture per
// -hosts value (density 3, one hour, seed 9): best of two runs each,
// interleaved.
func offlineStep(ctx context.Context, cfg config) outcome {
	if _, err := exec.LookPath("p0f"); err != nil {
		return outcome{err: errors.New("p0f not found (make deps-test installs it)")}
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return outcome{err: fmt.Errorf("%w (make build)", err)}
	}
	tmp, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return outcome{err: err}
	}
	defer os.RemoveAll(tmp)
	var o outcome
	var errs []error
	for _, hosts := range cfg.hosts {
		label := fmt.Sprintf("%s hosts, density 3, 1 h", group(uint64(hosts)))
		res, err := timeCapture(ctx, cfg, filepath.Join(tmp, fmt.Sprint(hosts)), hosts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			o.rows = append(o.rows, failedRow("analyze vs p0f -r", label, err))
			continue
		}
		if res.SYNs != "" {
			label += ": " + res.SYNs + " SYNs"
		}
		res.Capture = label
		o.rows = append(o.rows, offlineRows(res.offline)...)
		progress("%s: p0f -r %s, analyze %s", label, secs(res.P0f.Wall), secs(res.Analyze.Wall))
	}
	o.err = errors.Join(errs...)
	o.section = "### `analyze` beside `p0f -r`\n\n" +
		"Each capture: `go run ./tools/genscenario -seed 9 -hosts N -density 3 -duration 1h -out DIR`, then\n" +
		"`p0f -r DIR/syns.pcap -o DIR/p0f.log` and\n" +
		"`mxsensor analyze --pcap DIR/syns.pcap --reject-log DIR/mail.log --tz UTC --out DIR/o --no-report`,\n" +
		"alternately, twice each. The table has the least wall time and the least user CPU of each.\n"
	return o
}

type capture struct {
	offline
	SYNs string // the SYN count genscenario reported, with separators
}

func timeCapture(ctx context.Context, cfg config, dir string, hosts int) (capture, error) {
	var c capture
	gen := command(ctx, cfg.goCmd, "run", "./tools/genscenario", "-seed", "9", "-hosts", fmt.Sprint(hosts),
		"-density", "3", "-duration", "1h", "-out", dir)
	var genErr bytes.Buffer
	gen.Stderr = io.MultiWriter(os.Stderr, &genErr)
	if _, err := output(gen, false); err != nil {
		return c, err
	}
	if m := synCount.FindStringSubmatch(genErr.String()); m != nil {
		var n uint64
		fmt.Sscan(m[1], &n)
		c.SYNs = group(n)
	}
	pcap := filepath.Join(dir, "syns.pcap")
	p0fLog, out := filepath.Join(dir, "p0f.log"), filepath.Join(dir, "o")
	for range 2 {
		os.Remove(p0fLog)
		t, err := timed(command(ctx, "p0f", "-r", pcap, "-o", p0fLog))
		if err != nil {
			return c, err
		}
		c.P0f = best(c.P0f, t)
		os.RemoveAll(out)
		t, err = timed(command(ctx, cfg.bin, "analyze", "--pcap", pcap, "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", out, "--no-report"))
		if err != nil {
			return c, err
		}
		c.Analyze = best(c.Analyze, t)
	}
	return c, nil
}

// timed runs cmd with its output discarded (but for the error's last line)
// and returns its wall-clock and user CPU time.
func timed(cmd *exec.Cmd) (timing, error) {
	var tail bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &tail // stdout to /dev/null, as a shell would
	progress("running %s", strings.Join(cmd.Args, " "))
	start := time.Now()
	if err := runGroup(cmd); err != nil {
		return timing{}, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Args[0]), err, lastLine(tail.String()))
	}
	return timing{Wall: time.Since(start), User: cmd.ProcessState.UserTime()}, nil
}

// best keeps the least wall time and the least user time (a zero timing is
// no run yet).
func best(a, b timing) timing {
	if a == (timing{}) {
		return b
	}
	return timing{Wall: min(a.Wall, b.Wall), User: min(a.User, b.User)}
}

func floodStep(ctx context.Context, cfg config) outcome {
	if _, err := os.Stat(cfg.bin); err != nil {
		return outcome{err: fmt.Errorf("%w (make build)", err)}
	}
	out, err := output(command(ctx, cfg.goCmd, "run", "./tools/floodbench", "-bin", cfg.bin, "-json"), false)
	if err != nil {
		return outcome{err: err}
	}
	var rep floodReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return outcome{err: fmt.Errorf("floodbench -json output: %w", err)}
	}
	fmt.Fprint(os.Stderr, rep.Table)
	rows, err := floodRows(rep)
	return outcome{rows: rows, err: err, section: "### Live SYN flood\n\n`tools/floodbench`:\n\n" + rep.Table}
}
