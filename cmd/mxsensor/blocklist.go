package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/atomicfile"
	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/results"
)

// blocklistConfig is blocklist's section.
type blocklistConfig struct {
	In            string                          `mapstructure:"in"`
	DB            string                          `mapstructure:"db"`
	NATS          []string                        `mapstructure:"nats"`
	Format        config.Choice[blocklistFormats] `mapstructure:"format"`
	Out           string                          `mapstructure:"out"`
	listOptions   `mapstructure:",squash"`
	policyOptions `mapstructure:",squash"`
	natsOptions   `mapstructure:",squash"`
}

// Validate checks the list's settings and the NATS credentials.
func (c *blocklistConfig) Validate() error {
	if err := c.listOptions.Validate(); err != nil {
		return err
	}
	if err := c.policyOptions.Validate(); err != nil {
		return err
	}
	return c.natsOptions.Validate()
}

type blocklistFormats struct{}

func (blocklistFormats) Words() []string {
	var w []string
	for _, f := range blocklist.Formats() {
		w = append(w, string(f))
	}
	return w
}

// listOptions are the settings that select a list's entries (blocklist,
// dnsbl).
type listOptions struct {
	Prefix   int     `mapstructure:"prefix"`
	MinScore float64 `mapstructure:"min-score"`
	Since    string  `mapstructure:"since"`
	Until    string  `mapstructure:"until"`
}

// Validate checks the list's settings.
func (o listOptions) Validate() error {
	_, err := o.options()
	return err
}

// policyOptions are the operator's policy over a list (blocklist, dnsbl):
// widening, the allowlist, expiry.
type policyOptions struct {
	WidenAt   int           `mapstructure:"widen-at"`
	WidenTo   int           `mapstructure:"widen-to"`
	Allowlist string        `mapstructure:"allowlist"`
	Expire    time.Duration `mapstructure:"expire"`
}

// Validate checks the policy's settings.
func (o policyOptions) Validate() error {
	if o.WidenTo != 48 && o.WidenTo != 56 {
		return fmt.Errorf("--widen-to %d: want 48 or 56", o.WidenTo)
	}
	if o.WidenAt < 0 {
		return fmt.Errorf("--widen-at %d: must not be negative (0: never widen)", o.WidenAt)
	}
	if o.Expire < 0 {
		return fmt.Errorf("--expire %s: must not be negative (0: never)", o.Expire)
	}
	return nil
}

// policy returns the policy, with the allowlist file read.
func (o policyOptions) policy() (blocklist.Policy, error) {
	p := blocklist.Policy{WidenAt: o.WidenAt, WidenTo: o.WidenTo, Expire: o.Expire}
	if o.Allowlist != "" {
		a, err := blocklist.LoadAllowlist(o.Allowlist)
		if err != nil {
			return p, fmt.Errorf("--allowlist: %w", err)
		}
		p.Allow = a
	}
	return p, nil
}

// addPolicyFlags adds the flags of policyOptions.
func addPolicyFlags(f *pflag.FlagSet) {
	f.Int("widen-at", 0, "list the wider --widen-to prefix instead when at least this many listed prefixes fall in it (0: never)")
	f.Int("widen-to", blocklist.DefaultWidenTo, "length of a widened prefix: 48 or 56")
	f.String("allowlist", "", "file of prefixes or addresses never to list, one a line ('#' comments)")
	f.Duration("expire", blocklist.DefaultExpire, "an entry expires this long after its last spammer attempt (0: never)")
}

func newBlocklistCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blocklist (--in DIR | --db FILE | --nats URL) [--prefix 64] [--min-score 0.5] [--format rbldnsd|plain|json|postfix|nft] [--since T] [--until T] [--out FILE]",
		Short: "Export the IPv6 prefixes of attempts labelled spammer as an rbldnsd ip6trie zone, plain CIDR lines, JSON Lines, a Postfix cidr table or an nftables set",
		Long: `Reads associations.jsonl of a results directory (mxsensor analyze or run --out) and lists every
IPv6 prefix of length --prefix holding at least one attempt labelled spammer with a score of at least
--min-score, with its first and last attempt, counts, associated IPv4 addresses and evidence families.
--since and --until (RFC 3339 or 2006-01-02, UTC) select attempts by their first SYN.
Entries whose last attempt is --expire or more before --until (or now) are left out, as are
prefixes overlapping one of the --allowlist; with --widen-at N, N listed prefixes in one
/--widen-to are listed as that prefix (not across an allowlisted one). With --out the
file is replaced atomically (written aside, then renamed), so a server reloading it never sees half.
--nats URL[,URL...] exports the fleet's shared list instead (the collector's JetStream bucket
` + fleet.ListBucket + `, with the sensors that saw each prefix and when it was first listed): its entries
are the collector's, so --prefix, --min-score, --since and --until do not apply; values in the bucket
that do not decode are skipped and counted (bad_lines).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c blocklistConfig
			g, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			format, err := blocklist.ParseFormat(string(c.Format))
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			pol, err := c.policy()
			if err != nil {
				return err
			}
			var l *blocklist.List
			if len(c.NATS) > 0 {
				l, err = sharedList(cmd, &c, log)
			} else {
				l, err = buildList(&c)
			}
			if err != nil {
				return err
			}
			// Expiry is judged at the end of the window, so an export of the
			// past lists what was listed then.
			if pol.Now = l.Options.Window.Until; pol.Now.IsZero() {
				pol.Now = time.Now()
			}
			if l, err = l.Apply(pol); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := blocklist.Write(&buf, l, format, time.Now()); err != nil {
				return err
			}
			if out := c.Out; out != "" {
				// Readable by a server running as another user (rbldnsd drops root).
				err = atomicfile.WriteFile(out, buf.Bytes(), 0o644)
			} else {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
			}
			if err != nil {
				return err
			}
			blocklistSummary(log, l)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("in", "", "results directory holding associations.jsonl")
	f.String("db", "", "or: the store of run/analyze --db")
	f.Int("prefix", blocklist.DefaultPrefixLen, "length of the listed IPv6 prefixes (32..128; 128 lists single addresses)")
	f.Float64("min-score", blocklist.DefaultMinScore, "lowest association score of a spammer attempt that counts")
	config.ChoiceVar[blocklistFormats](f, "format", string(blocklist.FormatRbldnsd), "output format: rbldnsd (ip6trie data), plain (CIDR per line), json (JSON Lines), postfix (cidr: table for check_client_access) or nft (nft -f script filling set "+blocklist.NftSet+" of table inet "+blocklist.NftTable+")")
	f.String("since", "", "only attempts first seen at or after this time (RFC 3339 or 2006-01-02)")
	f.String("until", "", "only attempts first seen before this time (RFC 3339 or 2006-01-02)")
	f.String("out", "", "write to this file (replaced atomically) instead of stdout")
	f.StringSlice("nats", nil, "or: export the fleet's shared list from these NATS servers (nats://HOST:PORT, several for a cluster)")
	addPolicyFlags(f)
	addNATSFlags(cmd)
	return cmd
}

// buildList builds the list of a results directory or a store.
func buildList(c *blocklistConfig) (*blocklist.List, error) {
	src, closeSrc, err := resultsSource(c.In, c.DB)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	opts.Expire = c.Expire // relistings are counted with it
	return blocklist.BuildFrom(src, opts)
}

// sharedListWait bounds reading the shared list.
const sharedListWait = 30 * time.Second

// sharedList reads the fleet's shared list from its bucket.
func sharedList(cmd *cobra.Command, c *blocklistConfig, log *zap.Logger) (*blocklist.List, error) {
	if c.In != "" || c.DB != "" {
		return nil, errors.New("give one of --in, --db or --nats")
	}
	for _, name := range []string{"prefix", "min-score", "since", "until"} {
		if cmd.Flags().Changed(name) {
			return nil, fmt.Errorf("--%s does not apply to --nats: the shared list's entries are the collector's", name)
		}
	}
	nc, err := fleet.Connect(c.natsOptions.conn(c.NATS, "mxsensor-blocklist"), log)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), sharedListWait)
	defer cancel()
	v, err := fleet.ReadList(ctx, js, sharedListWait)
	if err != nil {
		return nil, err
	}
	return v.List(), nil
}

// options are the list's options: --prefix, --min-score, --since and
// --until.
func (l listOptions) options() (blocklist.Options, error) {
	o := blocklist.Options{PrefixLen: l.Prefix, MinScore: l.MinScore}
	var err error
	if o.Window.Since, err = results.ParseTime(l.Since); err != nil {
		return o, fmt.Errorf("--since: %w", err)
	}
	if o.Window.Until, err = results.ParseTime(l.Until); err != nil {
		return o, fmt.Errorf("--until: %w", err)
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// blocklistSummary logs what a build found: the entries, and the
// attempts and lines it left out and why.
func blocklistSummary(log *zap.Logger, l *blocklist.List) {
	st := l.Stats
	fields := []zap.Field{zap.Int("entries", len(l.Entries)), zap.Int("prefix_len", l.Options.PrefixLen),
		zap.Int("spammer_attempts", st.Spammer), zap.Int("lines", st.Lines), zap.Int("bad_lines", st.Bad),
		zap.Int("too_long", st.TooLong), zap.Int("outside_window", st.Filtered), zap.Int("below_score", st.BelowScore),
		zap.Float64("min_score", l.Options.MinScore), zap.Int("outvoted", st.Outvoted), zap.Int("not_listable", st.Ignored),
		zap.Int("expired", st.Expired), zap.Int("allowlisted", st.Allowlisted), zap.Int("widened", st.Widened), zap.Int("widened_from", st.WidenedFrom)}
	if st.FirstBad != "" {
		fields = append(fields, zap.String("first_bad", st.FirstBad))
	}
	log.Info("blocklist built", fields...)
}
