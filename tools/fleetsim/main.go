// Command fleetsim simulates a network of sensors on this machine: it
// generates one population's traffic split between K sensors
// (tools/genscenario -sensors K), runs `mxsensor analyze --publish` for each
// sensor into one embedded JetStream server, then one collector that
// ingests the stream, and prints what docs/fleet.md sizes a fleet from:
// messages per second, bytes per message in the stream, the stream's
// storage, what publishing costs a sensor's CPU, the collector's ingest
// rate, its store and the shared list's bucket.
//
//	go run ./tools/fleetsim [-sensors 10] [-hosts 3000] [-duration 1h] [-seed 41] [-bin bin/mxsensor] [-work DIR]
//
// Each sensor's analyze also runs once without --publish, so that the
// difference of their CPU times is what publishing costs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/collector"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/store"
)

type config struct {
	goCmd, bin, work, mix string
	sensors, hosts        int
	seed                  int64
	density               float64
	duration              time.Duration
	parallel              int
	keep                  bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.goCmd, "go", "go", "the go command (runs tools/genscenario)")
	flag.StringVar(&cfg.bin, "bin", "bin/mxsensor", "the mxsensor binary (make build)")
	flag.StringVar(&cfg.work, "work", "", "working directory (default: a temporary one, removed at the end)")
	flag.StringVar(&cfg.mix, "mix", "default", "genscenario's -mix")
	flag.IntVar(&cfg.sensors, "sensors", 10, "sensors (domains) the population is split between, 2 to 100")
	flag.IntVar(&cfg.hosts, "hosts", 3000, "hosts of the population")
	flag.Int64Var(&cfg.seed, "seed", 41, "genscenario's seed")
	flag.Float64Var(&cfg.density, "density", 1, "genscenario's -density")
	flag.DurationVar(&cfg.duration, "duration", time.Hour, "length of the scenario")
	flag.IntVar(&cfg.parallel, "parallel", runtime.NumCPU(), "sensors publishing at once")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the working directory")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// result is what one simulation measured.
type result struct {
	SYNs                    uint64
	Records                 map[fleet.Kind]uint64 // ingested by kind
	StreamMsgs, StreamB     uint64                // the stream's messages and bytes
	StoreDisk               int64                 // the server's store directory on disk
	PublishWall             time.Duration         // every sensor's analyze --publish, parallel
	CPUPlain, CPUPublish    time.Duration         // the sensors' analyze CPU without and with --publish
	IngestWall              time.Duration
	CollectorDB             int64 // the collector's store on disk
	KVEntries               uint64
	KVBytes                 uint64
	ServerHeap0, ServerHeap uint64 // the process's heap before and after publishing (the server's duplicate window)
}

func run(cfg config) error {
	if cfg.sensors < 2 || cfg.sensors > 100 {
		return errors.New("-sensors: 2 to 100 (genscenario's range)")
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("%w (make build)", err)
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	cfg.bin = bin
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp("", "fleetsim-"); err != nil {
			return err
		}
		if !cfg.keep {
			defer os.RemoveAll(cfg.work)
		}
	}
	scen := filepath.Join(cfg.work, "scenario")
	progress("generating %d hosts, %v, %d sensors", cfg.hosts, cfg.duration, cfg.sensors)
	gen := exec.Command(cfg.goCmd, "run", "./tools/genscenario", "-seed", fmt.Sprint(cfg.seed), "-mix", cfg.mix,
		"-hosts", fmt.Sprint(cfg.hosts), "-density", fmt.Sprint(cfg.density), "-duration", cfg.duration.String(),
		"-sensors", fmt.Sprint(cfg.sensors), "-out", scen)
	out, err := gen.CombinedOutput()
	if err != nil {
		return fmt.Errorf("genscenario: %w\n%s", err, out)
	}
	progress("%s", lastLine(string(out)))
	var res result
	if m := synCount.FindStringSubmatch(string(out)); m != nil {
		fmt.Sscan(m[1], &res.SYNs)
	}
	runtime.GC()
	res.ServerHeap0 = heap()
	srv, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(cfg.work, "nats")})
	if err != nil {
		return err
	}
	defer srv.Stop()
	url := srv.URL()
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: []string{url}, Name: "fleetsim"}, nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	stream, err := fleet.EnsureStream(ctx, js, fleet.DefaultStreamConfig())
	if err != nil {
		return err
	}

	// Each sensor without and with --publish.
	sensors := make([]string, cfg.sensors)
	for i := range sensors {
		sensors[i] = fmt.Sprintf("s%d", i+1)
	}
	progress("analyze of %d sensors without --publish", cfg.sensors)
	plain, _, err := each(cfg, sensors, func(s string) []string {
		return analyzeArgs(scen, s, filepath.Join(cfg.work, "plain", s))
	})
	if err != nil {
		return err
	}
	res.CPUPlain = plain
	progress("analyze --publish of %d sensors, %d at once", cfg.sensors, cfg.parallel)
	res.CPUPublish, res.PublishWall, err = each(cfg, sensors, func(s string) []string {
		return append(analyzeArgs(scen, s, filepath.Join(cfg.work, "out", s)), "--sensor-id", s, "--publish", url)
	})
	if err != nil {
		return err
	}
	runtime.GC()
	res.ServerHeap = heap()
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	res.StreamMsgs, res.StreamB = info.State.Msgs, info.State.Bytes
	res.StoreDisk = du(filepath.Join(cfg.work, "nats"))

	progress("collector ingesting %d messages", res.StreamMsgs)
	ccfg := collector.Config{DB: filepath.Join(cfg.work, "C.db"), Store: store.DefaultConfig(),
		Conn: fleet.ConnConfig{URLs: []string{url}}, Stream: fleet.DefaultStreamConfig(),
		List: fleet.ListConfig{Expire: 30 * 24 * time.Hour}, ListOptions: blocklist.DefaultOptions(),
		ListInterval: time.Hour, SpamWindow: 24 * time.Hour}
	c, err := collector.New(ccfg, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.Start(); err != nil {
		return err
	}
	for {
		st := c.Stats()
		var n uint64
		for _, k := range fleet.Kinds {
			n += st.Ingested[k] + st.Duplicates[k]
		}
		if n+st.Malformed >= res.StreamMsgs {
			res.Records = st.Ingested
			break
		}
		if time.Since(start) > 10*time.Minute {
			c.Stop()
			return fmt.Errorf("the collector ingested %d of %d messages in 10 minutes", n, res.StreamMsgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.IngestWall = time.Since(start)
	if err := c.Stop(); err != nil { // writes the list
		return err
	}
	res.CollectorDB = du(filepath.Join(cfg.work, "C.db")) + du(filepath.Join(cfg.work, "C.db-wal"))
	kv, err := js.KeyValue(ctx, fleet.ListBucket)
	if err != nil {
		return err
	}
	ks, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	res.KVEntries, res.KVBytes = ks.Values(), ks.Bytes()
	fmt.Print(table(cfg, res))
	if cfg.keep {
		progress("kept %s", cfg.work)
	}
	return nil
}

func analyzeArgs(scen, s, out string) []string {
	d := filepath.Join(scen, s)
	return []string{"analyze", "--pcap", filepath.Join(d, "syns.pcap"), "--reject-log", filepath.Join(d, "mail.log"),
		"--tz", "UTC", "--out", out, "--no-report", "--log-level", "warn"}
}

// each runs the binary with args(sensor) for every sensor, cfg.parallel
// at once, and returns their CPU time (user and system) and the wall time
// of the whole.
func each(cfg config, sensors []string, args func(string) []string) (cpu, wall time.Duration, err error) {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, max(cfg.parallel, 1))
	start := time.Now()
	for _, s := range sensors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := exec.Command(cfg.bin, args(s)...)
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w: %s", s, err, lastLine(string(out))))
				return
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}()
	}
	wg.Wait()
	return cpu, time.Since(start), errors.Join(errs...)
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// du is the bytes of the files under path.
func du(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// synCount finds the SYN count in genscenario's summary.
var synCount = regexp.MustCompile(`(\d+) SYNs`)

func table(cfg config, r result) string {
	var recs uint64
	kinds := make([]string, 0, len(r.Records))
	for k, n := range r.Records {
		recs += n
		if n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	sort.Strings(kinds)
	hours := cfg.duration.Hours()
	perSensorHour := float64(r.StreamMsgs) / float64(cfg.sensors) / hours
	extra := r.CPUPublish - r.CPUPlain
	var b strings.Builder
	fmt.Fprintf(&b, "\nfleetsim: %d sensors, %d hosts (%s), %v of traffic, seed %d; %d SYNs; %s, %d CPUs\n\n",
		cfg.sensors, cfg.hosts, cfg.mix, cfg.duration, cfg.seed, r.SYNs, runtime.GOARCH, runtime.NumCPU())
	b.WriteString("| figure | value |\n|---|---|\n")
	row := func(k, format string, a ...any) { fmt.Fprintf(&b, "| %s | "+format+" |\n", append([]any{k}, a...)...) }
	row("messages in the stream", "%d (%s)", r.StreamMsgs, strings.Join(kinds, ", "))
	row("messages per sensor per hour of traffic", "%.0f", perSensorHour)
	row("publishing: wall time, every sensor's analyze --publish", "%.2f s (%d at once)", r.PublishWall.Seconds(), cfg.parallel)
	row("publishing: messages per second into the server", "%.0f", float64(r.StreamMsgs)/r.PublishWall.Seconds())
	row("publishing: sensors' CPU, analyze without / with --publish", "%.2f s / %.2f s", r.CPUPlain.Seconds(), r.CPUPublish.Seconds())
	row("publishing: sensor CPU per message", "%.1f µs", float64(extra.Microseconds())/float64(max(r.StreamMsgs, 1)))
	row("stream bytes per message (body, subject, headers)", "%.0f B", float64(r.StreamB)/float64(max(r.StreamMsgs, 1)))
	row("stream storage on disk", "%.1f MB (%.0f B per message)", float64(r.StoreDisk)/1e6, float64(r.StoreDisk)/float64(max(r.StreamMsgs, 1)))
	row("server heap growth per message (duplicate window, caches)", "%.0f B", (float64(r.ServerHeap)-float64(r.ServerHeap0))/float64(max(r.StreamMsgs, 1)))
	row("collector: ingest wall time", "%.2f s", r.IngestWall.Seconds())
	row("collector: messages ingested per second", "%.0f", float64(r.StreamMsgs)/r.IngestWall.Seconds())
	row("collector: store on disk", "%.1f MB (%.0f B per record)", float64(r.CollectorDB)/1e6, float64(r.CollectorDB)/float64(max(recs, 1)))
	row("shared list: KV entries", "%d (%d B, %.0f B per entry)", r.KVEntries, r.KVBytes, float64(r.KVBytes)/float64(max(r.KVEntries, 1)))
	return b.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fleetsim: "+format+"\n", args...)
}
