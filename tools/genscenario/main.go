// Command genscenario writes a deterministic sensor-MX traffic scenario with
// ground truth, for measuring how well IPv6 connect() attempts are
// associated with IPv4 attempts of the same host:
//
//	go run ./tools/genscenario -seed 1 -hosts 3000 -duration 1h -out DIR [-density F] [-mix NAME]
//
// -mix picks a population preset; repeaters, generic, decoys and
// adversarial are the scenario families built to fail the association
// engine (see -help and README.md).
//
// It writes DIR/syns.pcap (the SYNs the sensor sees), DIR/mail.log (the
// production MX's Postfix log with DNSBL rejections), DIR/truth.jsonl
// (hosts and attempts; see README.md), and what enrichment would find:
// DIR/asn.txt (origin AS per prefix) and DIR/ptr.txt (reverse names), for
// `mxsensor analyze --asn-table --ptr-table`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is one scenario.
type Config struct {
	Seed     uint64
	Hosts    int
	Duration time.Duration
	Density  float64
	Mix      string
	Start    time.Time
	Out      string
	// Sensors > 1 splits the deliveries between that many domains, each
	// with its own sensor MX and production MTA: DIR/sK/syns.pcap,
	// DIR/sK/mail.log and DIR/sK/truth.jsonl for K = 1..Sensors, beside
	// the whole scenario's DIR/syns.pcap and DIR/truth.jsonl.
	Sensors int
}

func main() {
	var cfg Config
	var start string
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the same seed and flags give byte-identical output")
	flag.IntVar(&cfg.Hosts, "hosts", 3000, "number of hosts in the population")
	flag.DurationVar(&cfg.Duration, "duration", time.Hour, "length of the scenario")
	flag.Float64Var(&cfg.Density, "density", 1, "multiplier of every host's delivery rate")
	flag.StringVar(&cfg.Mix, "mix", "default", "population preset: "+mixNames())
	flag.StringVar(&start, "start", "2026-11-26T10:00:00Z", "scenario start (RFC 3339)")
	flag.StringVar(&cfg.Out, "out", "", "output directory (created)")
	flag.IntVar(&cfg.Sensors, "sensors", 1, "split the deliveries between this many domains, each with its own sensor and mail log (DIR/sK/)")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintln(out, "Usage: genscenario -out DIR [-seed N] [-hosts N] [-duration D] [-density F] [-mix NAME] [-sensors N]")
		flag.PrintDefaults()
		fmt.Fprintln(out, "\nMixes (-mix):")
		for _, n := range strings.Split(mixNames(), ", ") {
			fmt.Fprintf(out, "  %-13s %s\n", n, mixHelp[n])
		}
	}
	flag.Parse()
	err := func() error {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return fmt.Errorf("-start: %w", err)
		}
		cfg.Start = t.UTC()
		if cfg.Out == "" {
			return errors.New("-out is required")
		}
		if cfg.Hosts < 1 || cfg.Duration <= 0 || cfg.Density <= 0 || cfg.Sensors < 1 || cfg.Sensors > 100 {
			return errors.New("-hosts, -duration and -density must be positive, -sensors 1 to 100")
		}
		t0 := time.Now()
		st, err := generate(cfg)
		if err != nil {
			return err
		}
		el := time.Since(t0)
		fmt.Fprintf(os.Stderr, "genscenario: %d hosts, %d deliveries, %d attempts (%d paired), %d SYNs in %v (%.0f SYNs/s)\n",
			st.Hosts, st.Deliveries, st.Attempts, st.Paired, st.SYNs, el.Round(time.Millisecond), float64(st.SYNs)/el.Seconds())
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "genscenario:", err)
		os.Exit(1)
	}
}
