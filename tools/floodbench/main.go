//go:build linux

// Command floodbench floods the sensor with live SYNs over a veth pair and
// compares its XDP answer (native and generic mode) with the kernel's own
// RST for a closed port: RSTs per CPU-second of the whole machine, and
// whether every SYN was recorded or counted as lost (issues 9 and 19).
// Needs root.
//
//	go run ./tools/floodbench [-frames 2000000] [-duration 10s] [-cases native,generic,kernel,store] [-json]
//
// The store case is native mode with the agent's whole pipeline on
// (--out DIR --db FILE): grouping, fingerprints, association, the JSONL
// files and the SQLite store, with --held-memory 16MiB (less than the
// flood's distinct sources take); its CPU is taken once the agent is idle
// again, and its peak memory (VmHWM) is reported.
//
// Each case gets fresh namespaces: a generator (gen) and a sensor (sens)
// joined by one veth pair. The generator sends prebuilt IPv4 SYNs from many
// client addresses and ports with sendmmsg on an AF_PACKET socket; the RSTs
// are counted from the interface counters of both ends.
//
// With -json it prints one JSON object instead of the markdown tables: the
// figures of every case, and the tables themselves (tools/benchreport reads
// it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

func main() {
	cfg := config{}
	flag.Uint64Var(&cfg.frames, "frames", 2_000_000, "most SYN frames to send per case")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "longest flood per case")
	flag.IntVar(&cfg.sources, "sources", 65000, "distinct client address/port pairs cycled through (at most 65000)")
	flag.StringVar(&cfg.cases, "cases", "native,generic,kernel,store", "cases to run, comma-separated: native, generic, kernel, store (native with --out and --db)")
	flag.StringVar(&cfg.bin, "bin", "", "mxsensor binary to use (default: build ./cmd/mxsensor into a temporary directory)")
	flag.DurationVar(&cfg.drain, "drain", 500*time.Millisecond, "wait after the last frame before reading the counters")
	flag.DurationVar(&cfg.settle, "settle", 60*time.Second, "store case: longest wait, after the drain, for the agent's pipeline to go idle")
	flag.BoolVar(&cfg.json, "json", false, "print the figures of every case as JSON instead of markdown tables")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "floodbench:", err)
		os.Exit(1)
	}
}

type config struct {
	frames   uint64
	duration time.Duration
	sources  int
	cases    string
	bin      string
	drain    time.Duration
	settle   time.Duration
	json     bool
}

func run(cfg config) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, veth, bpffs and XDP: CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF); run it as root, e.g. sudo go run ./tools/floodbench")
	}
	if cfg.sources < 1 || cfg.sources > 65000 {
		return fmt.Errorf("-sources %d: want 1..65000", cfg.sources)
	}
	if cfg.frames == 0 || cfg.duration <= 0 {
		return errors.New("-frames and -duration must be positive")
	}
	var cases []string
	for _, c := range strings.Split(cfg.cases, ",") {
		switch c = strings.TrimSpace(c); c {
		case caseNative, caseGeneric, caseKernel, caseStore:
			cases = append(cases, c)
		case "":
		default:
			return fmt.Errorf("-cases: unknown case %q", c)
		}
	}
	if len(cases) == 0 {
		return errors.New("-cases: none given")
	}

	// Leftovers of an earlier run killed with SIGKILL (its namespaces are
	// named flb*); this would also end a concurrent floodbench.
	if err := netlab.Cleanup("flb"); err != nil {
		return fmt.Errorf("removing leftovers of an earlier run: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "floodbench-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()

	bin := cfg.bin
	if bin == "" {
		bin = filepath.Join(tmp, "mxsensor")
		fmt.Fprintln(os.Stderr, "floodbench: building ./cmd/mxsensor")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mxsensor")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/mxsensor (run from the repository root): %v\n%s", err, out)
		}
	}

	// A private bpffs: `ip netns exec` remounts /sys, so the agent and
	// `mxsensor stats` would not share /sys/fs/bpf.
	pins := filepath.Join(tmp, "bpffs")
	if err := os.Mkdir(pins, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("bpf", pins, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mounting bpffs on %s: %w", pins, err)
	}
	defer func() {
		if uerr := unix.Unmount(pins, unix.MNT_DETACH); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unmounting %s: %w", pins, uerr))
		}
	}()

	results := map[string]*result{}
	for _, c := range cases {
		fmt.Fprintf(os.Stderr, "floodbench: case %s\n", c)
		r, err := runCase(ctx, cfg, c, bin, filepath.Join(pins, c))
		if err != nil {
			return fmt.Errorf("case %s: %w", c, err)
		}
		results[c] = r
		fmt.Fprintf(os.Stderr, "floodbench: %s: sent %d, RSTs %d, machine CPU %.2fs\n", c, r.sent, r.rsts, r.machineCPU.Seconds())
	}
	if cfg.json {
		return writeJSON(os.Stdout, cfg, cases, results)
	}
	printTable(os.Stdout, cfg, cases, results)
	return nil
}
