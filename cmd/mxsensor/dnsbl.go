package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/dnsbl"
	"github.com/mxsensor/mxsensor/internal/fleet"
)

// dnsblConfig is dnsbl's section.
type dnsblConfig struct {
	Listen               config.HostPort `mapstructure:"listen"`
	Zone                 string          `mapstructure:"zone"`
	In                   string          `mapstructure:"in"`
	DB                   string          `mapstructure:"db"`
	List                 string          `mapstructure:"list"`
	NATS                 []string        `mapstructure:"nats"`
	listOptions          `mapstructure:",squash"`
	policyOptions        `mapstructure:",squash"`
	natsOptions          `mapstructure:",squash"`
	Reload               time.Duration           `mapstructure:"reload"`
	TTL                  time.Duration           `mapstructure:"ttl"`
	NS                   string                  `mapstructure:"ns"`
	RateLimit            float64                 `mapstructure:"rate-limit"`
	RateBurst            int                     `mapstructure:"rate-burst"`
	RateIPv4Prefix       int                     `mapstructure:"rate-ipv4-prefix"`
	RateIPv6Prefix       int                     `mapstructure:"rate-ipv6-prefix"`
	TCPMaxConns          int                     `mapstructure:"tcp-max-conns"`
	TCPMaxConnsPerSource int                     `mapstructure:"tcp-max-conns-per-source"`
	TCPIdleTimeout       config.PositiveDuration `mapstructure:"tcp-idle-timeout"`
	TCPMaxQueries        int                     `mapstructure:"tcp-max-queries"`
	HTTP                 string                  `mapstructure:"http"`
	HTTPState            string                  `mapstructure:"http-state"`
}

// server is the DNS server's configuration.
func (c *dnsblConfig) server() dnsbl.Config {
	return dnsbl.Config{Zone: c.Zone, TTL: uint32(c.TTL.Seconds()), NS: c.NS,
		RateLimit: c.RateLimit, RateBurst: c.RateBurst,
		RateIPv4Bits: c.RateIPv4Prefix, RateIPv6Bits: c.RateIPv6Prefix,
		MaxTCPConns: c.TCPMaxConns, MaxTCPConnsPerSource: c.TCPMaxConnsPerSource,
		TCPIdleTimeout: time.Duration(c.TCPIdleTimeout), TCPMaxQueries: c.TCPMaxQueries, Expire: c.Expire}
}

// Validate checks the bounds of the list's and the server's settings.
func (c *dnsblConfig) Validate() error {
	if err := c.listOptions.Validate(); err != nil {
		return err
	}
	if err := c.natsOptions.Validate(); err != nil {
		return err
	}
	if err := c.policyOptions.Validate(); err != nil {
		return err
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		return errors.New("--rate-limit and --rate-burst must not be negative")
	}
	if c.TCPMaxConns < 1 || c.TCPMaxConnsPerSource < 1 || c.TCPMaxQueries < 1 {
		return errors.New("--tcp-max-conns, --tcp-max-conns-per-source and --tcp-max-queries must be positive")
	}
	if c.Reload < 0 {
		return errors.New("--reload must not be negative (0: only on SIGHUP)")
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
	return nil
}

func newDnsblCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dnsbl --zone ZONE (--in DIR | --db FILE | --list FILE | --nats URL) [--listen 127.0.0.1:5353] [--reload 30s]",
		Short: "Serve the IPv6 spammer list as a DNSBL (RFC 5782) over UDP and TCP, reloading it when its source changes",
		Long: `Answers <32 reversed nibbles>.ZONE with A 127.0.0.2 and a TXT reason when the address is in a listed
prefix (longest match), NXDOMAIN otherwise. The list is built from a results directory (--in, as
mxsensor blocklist builds it, with --prefix and --min-score) or read from a file written by
mxsensor blocklist --format json (keeps the TXT reasons) or --format plain (--list). The source is
checked every --reload (modification time, size, file identity) and loaded once it has stayed
unchanged for one check, or at once on SIGHUP; a new list replaces the old one without dropping
queries, and a source that fails to load keeps the old list (a source with bad lines and no valid
entry fails; an empty one, or comments only, is an empty list).
--nats URL[,URL...] serves the fleet's shared list (the collector's JetStream bucket
` + fleet.ListBucket + `) and follows it: entries written, deleted or expired are applied as they come; after
a reconnection the watch resumes after the last revision seen; SIGHUP loads the whole list again;
values that do not decode are skipped and counted; --reload only checks the --allowlist.
An entry is answered until --expire after its last attempt, judged at each query. Prefixes
overlapping one of the --allowlist are not served; the file is followed as the source is, and
one that fails to load keeps the old allowlist. --widen-at applies to every source.
Listens on 127.0.0.1 by default; ANY queries get NOTIMP; UDP responses, malformed queries' included,
are rate limited per source prefix (--rate-limit 0 switches that off); TCP connections are limited per
source and in total, one over a limit being closed at once.
--http ADDR also serves the list over HTTP (GET /v1/list: the whole list as JSON; ?since=REVISION: the
entries added or changed and the prefixes removed since then), following the same source; a bare
port or :PORT is on 127.0.0.1. Its revision is kept in --http-state across restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c dnsblConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			src := dnsbl.Source{Dir: c.In, DB: c.DB, List: c.List}
			fromNATS := len(c.NATS) > 0
			if fromNATS && (c.In != "" || c.DB != "" || c.List != "") || !fromNATS && src.Validate() != nil {
				return errors.New("give exactly one of --in DIR (a results directory), --db FILE (a store), --list FILE (from mxsensor blocklist --format json or plain) or --nats URL (the fleet's shared list)")
			}
			if c.Zone == "" {
				return errors.New("--zone is required")
			}
			if src.Options, err = c.options(); err != nil {
				return err
			}
			src.Options.Expire = c.Expire // relistings are counted with it
			pol := blocklist.Policy{WidenAt: c.WidenAt, WidenTo: c.WidenTo, Expire: c.Expire}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)

			lf, err := newDnsblFeed(&c, log)
			if err != nil {
				return err
			}
			scfg := c.server()
			lf.follow(&scfg)
			srv, err := dnsbl.New(scfg, dnsbl.NewTable(nil))
			if err != nil {
				return err
			}
			var feed interface {
				dnsbl.Feed
				Start() error
			}
			if fromNATS {
				feed, err = dnsbl.NewWatcher(dnsbl.WatcherConfig{Conn: c.natsOptions.conn(c.NATS, "mxsensor-dnsbl"), Log: log,
					Policy: pol, Allowlist: c.Allowlist, AllowInterval: c.Reload}, srv)
			} else {
				feed, err = dnsbl.NewReloader(dnsbl.ReloaderConfig{Source: src, Interval: c.Reload, Log: log, Policy: pol, Allowlist: c.Allowlist}, srv)
			}
			if err != nil {
				return err
			}
			if err := feed.Start(); err != nil {
				return err
			}
			defer feed.Stop()
			// The feed listens first: once DNS answers, HTTP does too.
			if ctx, err = lf.start(ctx); err != nil {
				return err
			}
			if err := srv.Start(string(c.Listen)); err != nil {
				return errors.Join(fmt.Errorf("--listen: %w", err), lf.stop(ctx))
			}
			return errors.Join(dnsbl.Serve(ctx, srv, feed, hup, log), lf.stop(ctx))
		},
	}
	f := cmd.Flags()
	config.HostPortVar(f, "listen", dnsbl.DefaultListen, "UDP and TCP address to serve on")
	f.String("zone", "", "DNSBL zone, e.g. bl6.example.org")
	f.String("in", "", "results directory: build the list from its associations.jsonl")
	f.String("db", "", "or: the store of run/analyze --db")
	f.String("list", "", "list file written by mxsensor blocklist --format json (or plain)")
	f.StringSlice("nats", nil, "or: serve the fleet's shared list from these NATS servers (nats://HOST:PORT, several for a cluster)")
	addNATSFlags(cmd)
	f.Int("prefix", blocklist.DefaultPrefixLen, "with --in: length of the listed IPv6 prefixes (32..128)")
	f.Float64("min-score", blocklist.DefaultMinScore, "with --in: lowest association score of a spammer attempt that counts")
	f.String("since", "", "with --in: only attempts first seen at or after this time (RFC 3339 or 2006-01-02)")
	f.String("until", "", "with --in: only attempts first seen before this time (RFC 3339 or 2006-01-02)")
	addPolicyFlags(f)
	f.Duration("reload", 30*time.Second, "check the source for changes this often (0: only on SIGHUP)")
	f.Duration("ttl", dnsbl.DefaultTTL*time.Second, "TTL of positive answers")
	f.String("ns", dnsbl.DefaultNS, "name server in the zone's SOA and NS records")
	f.Float64("rate-limit", dnsbl.DefaultRateLimit, "UDP responses per second to one source prefix (0: no limit)")
	f.Int("rate-burst", dnsbl.DefaultRateBurst, "burst of UDP responses to one source prefix")
	f.Int("rate-ipv4-prefix", dnsbl.DefaultRateIPv4Bits, "IPv4 source prefix length sharing one rate-limit bucket")
	f.Int("rate-ipv6-prefix", dnsbl.DefaultRateIPv6Bits, "IPv6 source prefix length sharing one rate-limit bucket")
	f.Int("tcp-max-conns", dnsbl.DefaultMaxTCPConns, "TCP connections open at once, in total (more are closed at once)")
	f.Int("tcp-max-conns-per-source", dnsbl.DefaultMaxTCPConnsPerSource, "TCP connections open at once from one IPv4 address or IPv6 /64")
	config.PositiveDurationVar(f, "tcp-idle-timeout", dnsbl.DefaultTCPIdleTimeout, "close a TCP connection idle this long")
	f.Int("tcp-max-queries", dnsbl.DefaultTCPMaxQueries, "close a TCP connection after this many queries")
	f.String("http", "", `also serve the list over HTTP at this address, GET /v1/list[?since=REVISION] (a bare port or :PORT is on 127.0.0.1; "" = off)`)
	f.String("http-state", "", "the HTTP feed's state file: its revision, the list and the recent changes (default: beside the source, DIR/"+dnsblFeedStateFile+" or FILE.feed.json; required with --nats)")
	return cmd
}
