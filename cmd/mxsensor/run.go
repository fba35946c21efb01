package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/metrics"
)

// agentUmask is the least umask the agent runs with (the unit's UMask=):
// its files are at most 0640, its directories 0750.
const agentUmask = 0o027

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run --iface IF",
		Short: "Attach the XDP sensor to an interface and record SYN events until stopped",
		Long: `Loads the XDP program, attaches it to --iface (native mode, falling back to
generic), pins its maps and link under --pin-dir/IF, and writes one JSON line
per SYN to --events until SIGINT or SIGTERM, then detaches.

Needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (and CAP_SYS_ADMIN only if bpffs
must be mounted), and drops the three once the program is attached and
pinned (--keep-caps keeps them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c runConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			// The store, the outputs and the pins hold addresses of
			// senders: never world-readable, whatever the caller's umask.
			// Restored on return: tests run the command in their process.
			old := syscall.Umask(agentUmask)
			syscall.Umask(old | agentUmask)
			defer syscall.Umask(old)
			if prof := c.CPUProfile; prof != "" {
				stopProfile, err := startCPUProfile(prof)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			cfg, err := c.agent(cmd, log)
			if err != nil {
				return err
			}
			a, err := agent.New(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := a.Run(ctx); err != nil {
				return err
			}
			// The live measurement's report, once its files are complete.
			if dir := c.Out; dir != "" && !c.NoReport {
				rcfg, err := reportConfig(reportOptions{ASNTable: c.ASNTable}, log)
				if err != nil {
					return err
				}
				return writeReports(dir, rcfg, log)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("iface", "", "network interface to attach to (required)")
	config.TextVar(f, "xdp-mode", xdpMode{dataplane.AttachAuto}, "XDP attach mode: native, generic or auto (native, falling back to generic)")
	f.String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory for the pinned maps and link (one subdirectory per interface)")
	f.String("events", "-", `write SYN events as JSON lines to this file ("-" = stdout, "" = nowhere)`)
	f.String("pcap-out", "", "also write matched SYNs (rebuilt from their records) to this pcap file")
	config.SizeVar(f, "pcap-rotate-size", "100MiB", "rotate --pcap-out when it reaches this size (0 = never; KiB, MiB, GiB or KB, MB, GB)")
	f.Int("pcap-keep", 10, "rotated --pcap-out generations to keep")
	f.Duration("flush-interval", 200*time.Millisecond, "longest time an event waits in an output buffer")
	f.String("out", "", "also run the measurement live: write DIR/attempts.jsonl and DIR/associations.jsonl as `mxsensor analyze` does")
	f.StringSlice("reject-log", nil, "the production MTA's DNSBL reject log(s) (files or directories): read at start, then followed")
	addRejectPatternFlag(cmd)
	config.TextVar(f, "assoc-mode", assocMode{associate.ModeFull}, "with --out: association rule, full or naive")
	f.Float64("min-score", associate.DefaultThreshold, "with --out or --db: "+minScoreHelp)
	f.String("p0f-db", "/etc/p0f/p0f.fp", "with --out: p0f v3 database (our built-in signatures are added)")
	f.String("tz", "", "with --out: time zone of reject-log timestamps without one")
	f.String("enrich-out", "", "look up every new source (DNSBL, PTR, origin ASN) in the background and append the answers here as JSON lines")
	config.HostPortVar(f, "resolver", "", "DNS resolver for --enrich-out (host:port; default: /etc/resolv.conf)")
	f.StringSlice("dnsbl", nil, "DNSBL zones to query for --enrich-out")
	f.String("asn-table", "", "offline prefix->ASN TSV table, for --enrich-out and (with --out) the asn evidence")
	f.String("ptr-table", "", `with --out: reverse names ("address name" lines) for the ptr evidence`)
	f.Bool("no-cymru", false, "with --enrich-out, do not query Team Cymru's DNS")
	f.Bool("no-report", false, "with --out: do not write DIR/report.{txt,json,html} at exit")
	addHeldMemoryFlag(cmd)
	addStoreFlags(cmd, "/var/lib/mxsensor/mxsensor.db")
	f.String("cpuprofile", "", "write a Go CPU profile of the agent to this file (for diagnosis)")
	f.String("ready-file", "", "create this file once the program is attached")
	_ = f.MarkHidden("ready-file")
	f.Duration("degraded-hold", 10*time.Second, "report degraded on /healthz this long after the ring last lost records or the pipeline last hit its bound")
	_ = f.MarkHidden("degraded-hold")
	// For tests that must see attempts close within seconds.
	f.Duration("window", 25*time.Second, "with --out: SYNs of one connect() attempt: same source address and port within this window")
	f.Duration("horizon", 30*time.Second, "with --out: largest time between the IPv6 and IPv4 attempts of one delivery")
	_ = f.MarkHidden("window")
	_ = f.MarkHidden("horizon")
	addDataplaneFlags(cmd, true)
	config.HostPortVar(f, "metrics-listen", metrics.DefaultListen,
		`serve Prometheus metrics on /metrics and a health check on /healthz at this address ("" = off; keep it on loopback unless the network is trusted)`)
	addPublishFlags(cmd)
	f.Bool("keep-caps", false, "keep CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON once the program is attached (by default they are dropped then: nothing later needs them)")
	return cmd
}
