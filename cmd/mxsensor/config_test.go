package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/associate"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mxsensor.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const addr6to4 = "2002:c000:201::1"

// The precedence: flag > environment > file > default.
func TestConfigPrecedence(t *testing.T) {
	isJSON := func(out string) bool { return strings.HasPrefix(out, "{") }
	cfg := writeConfig(t, "addr:\n  json: true\n")
	out, errs, err := runCLI(t, "addr", "--config", cfg, addr6to4)
	if err != nil || !isJSON(out) {
		t.Fatalf("the file's json: true was not applied: %v %s\n%s", err, errs, out)
	}
	if out, _, _ := runCLI(t, "addr", "--config", cfg, "--json=false", addr6to4); isJSON(out) {
		t.Error("a flag did not win over the file")
	}
	t.Setenv("MXSENSOR_JSON", "false")
	if out, _, _ := runCLI(t, "addr", "--config", cfg, addr6to4); isJSON(out) {
		t.Error("the environment did not win over the file")
	}
	if out, _, _ := runCLI(t, "addr", "--config", cfg, "--json", addr6to4); !isJSON(out) {
		t.Error("a flag did not win over the environment")
	}
	t.Setenv("MXSENSOR_JSON", "maybe")
	if _, _, err := runCLI(t, "addr", addr6to4); err == nil || !strings.Contains(err.Error(), "MXSENSOR_JSON") {
		t.Errorf("a bad environment value: %v", err)
	}
	os.Unsetenv("MXSENSOR_JSON")
	// The config file through the environment; global settings.
	t.Setenv("MXSENSOR_CONFIG", writeConfig(t, "global:\n  log-level: debug\naddr:\n  json: true\n"))
	if out, _, err := runCLI(t, "addr", addr6to4); err != nil || !isJSON(out) {
		t.Errorf("MXSENSOR_CONFIG: %v %s", err, out)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		body, want string
	}{
		{"addr:\n  jsn: true\n", "addr.jsn: unknown setting (valid: json)"},
		{"addr:\n  json: perhaps\n", "addr.json: "},
		{"adr:\n  json: true\n", "adr: no such command"},
		{"addr: [1, 2]\n", "want a mapping"},
		{"addr:\n  json: {a: 1}\n", "want a value, got a mapping"},
		{"addr:\n  json: true\n  bad: [\n", "yaml"},
	} {
		_, _, err := runCLI(t, "addr", "--config", writeConfig(t, c.body), addr6to4)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
	if _, _, err := runCLI(t, "addr", "--config", filepath.Join(t.TempDir(), "none.yaml"), addr6to4); err == nil {
		t.Error("a missing --config file was ignored")
	}
}

func TestConfigCheckAndDump(t *testing.T) {
	good := writeConfig(t, "global:\n  log-format: json\nrun:\n  iface: eth0\n  reject-log: [/var/log/mail.log, /var/log/mail.log.1]\n  flush-interval: 500ms\nreport:\n  top: 5\n")
	out, _, err := runCLI(t, "config", "check", "--config", good)
	if err != nil || !strings.Contains(out, "ok (3 sections)") {
		t.Errorf("check: %v %s", err, out)
	}
	bad := writeConfig(t, "run:\n  iface: eth0\n  xdp-mode: turbo\nreport:\n  topp: 5\n")
	_, _, err = runCLI(t, "config", "check", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), `unknown XDP mode "turbo"`) || !strings.Contains(err.Error(), "report.topp: unknown setting") {
		t.Errorf("check of a bad file: %v", err)
	}
	out, _, err = runCLI(t, "config", "dump", "run", "--config", good)
	if err != nil || !strings.Contains(out, `  iface: "eth0"`) || !strings.Contains(out, `  reject-log: ["/var/log/mail.log", "/var/log/mail.log.1"]`) ||
		!strings.Contains(out, `  flush-interval: "500ms"`) || !strings.Contains(out, `  log-format: "json"`) {
		t.Errorf("dump: %v\n%s", err, out)
	}
	// What dump prints is a valid configuration.
	if _, _, err := runCLI(t, "config", "check", "--config", writeConfig(t, out)); err != nil {
		t.Errorf("dump's output does not check: %v", err)
	}
}

// docs/mxsensor.example.yaml is `mxsensor config example`'s output, and a
// valid configuration.
func TestConfigExampleInSync(t *testing.T) {
	out, _, err := runCLI(t, "config", "example")
	if err != nil {
		t.Fatal(err)
	}
	path := "../../docs/mxsensor.example.yaml"
	if os.Getenv("MXS_UPDATE_EXAMPLE") == "1" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != out {
		t.Errorf("%s is stale: run MXS_UPDATE_EXAMPLE=1 go test ./cmd/mxsensor -run TestConfigExampleInSync (%v)", path, err)
	}
	if _, _, err := runCLI(t, "config", "check", "--config", path); err != nil {
		t.Errorf("the example does not check: %v", err)
	}
}

// A bad size is an error naming its key wherever it comes from, and config
// check reports it; the ring's own rule is named too.
func TestConfigSizes(t *testing.T) {
	bad := writeConfig(t, "run:\n  iface: eth0\n  pcap-rotate-size: 100XB\n")
	_, _, err := runCLI(t, "config", "check", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), `run.pcap-rotate-size: invalid size "100XB": unknown unit "XB"`) {
		t.Errorf("config check of pcap-rotate-size: 100XB: %v", err)
	}
	ring := writeConfig(t, "run:\n  iface: eth0\n  ring-size: 65536KB\n")
	_, _, err = runCLI(t, "config", "check", "--config", ring)
	if err == nil || !strings.Contains(err.Error(), "--ring-size 65536KB: ring size 65536000 is not a power of two") {
		t.Errorf("config check of ring-size: 65536KB: %v", err)
	}
	good := writeConfig(t, "run:\n  iface: eth0\n  ring-size: 64KiB\n  pcap-rotate-size: 1.5MB\n")
	if out, _, err := runCLI(t, "config", "check", "--config", good); err != nil {
		t.Errorf("config check of good sizes: %v %s", err, out)
	}
	if _, _, err := runCLI(t, "run", "--pcap-rotate-size", "1.5B"); err == nil || !strings.Contains(err.Error(), `"--pcap-rotate-size"`) || !strings.Contains(err.Error(), "not a whole number of bytes") {
		t.Errorf("run --pcap-rotate-size 1.5B: %v", err)
	}
	small := writeConfig(t, "analyze:\n  held-memory: 512KiB\nrun:\n  iface: eth0\n  held-memory: 100MB\n")
	if _, _, err := runCLI(t, "config", "check", "--config", small); err == nil || !strings.Contains(err.Error(), "--held-memory: 524288 bytes is less than the least of 1 MiB") {
		t.Errorf("config check of held-memory: 512KiB: %v", err)
	}
	t.Setenv("MXSENSOR_RING_SIZE", "16MB")
	if _, _, err := runCLI(t, "run"); err == nil || !strings.Contains(err.Error(), "--ring-size 16MB: ring size 16000000 is not a power of two") {
		t.Errorf("MXSENSOR_RING_SIZE=16MB: %v", err)
	}
}

// Every command rejects an unknown log level or format, and config check
// does too.
func TestConfigLogLevel(t *testing.T) {
	if _, _, err := runCLI(t, "addr", "--log-level", "verbose", addr6to4); err == nil || !strings.Contains(err.Error(), `unknown value "verbose" (want debug, info, warn, error)`) {
		t.Errorf("addr --log-level verbose: %v", err)
	}
	if _, _, err := runCLI(t, "addr", "--log-level", "WARN", addr6to4); err != nil {
		t.Errorf("--log-level WARN: %v", err)
	}
	cfg := writeConfig(t, "global:\n  log-level: verbose\n  log-format: xml\n")
	_, _, err := runCLI(t, "config", "check", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), `global.log-level: unknown value "verbose"`) || !strings.Contains(err.Error(), `global.log-format: unknown value "xml" (want console, json)`) {
		t.Errorf("config check of log-level: verbose: %v", err)
	}
}

// config check names the key of every bad setting, and checks what the
// commands would only find at start (or never): addresses, modes, sizes,
// positive durations, hidden settings.
func TestConfigCheckNamesKey(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"run:\n  iface: eth0\n  rst-ratee: 10\n", "run.rst-ratee: unknown setting (valid: asn-table, assoc-mode, cpuprofile, "},
		{"run:\n  rst-rate: fast\n", `run.rst-rate: "fast" is not a number`},
		{"run:\n  ready-file: /tmp/x\n", "run.ready-file: unknown setting"},
		{"run:\n  pcap-keep: [1]\n", "run.pcap-keep: "},
		{"run:\n  resolver: dns.example\n", `run.resolver: invalid address "dns.example"`},
		{"run:\n  metrics-listen: localhost\n", `run.metrics-listen: invalid address "localhost"`},
		{"run:\n  local-addr: [192.0.2.1, nope]\n", `run.local-addr: invalid address "nope"`},
		{"run:\n  db-flush: 0s\n", "run.db-flush: duration 0s is not greater than zero"},
		{"run:\n  flush-interval: 5\n", `run.flush-interval: time: missing unit in duration "5"`},
		{"analyze:\n  held-memory: lots\n", `analyze.held-memory: invalid size "lots"`},
		{"analyze:\n  db-journal: -1s\n", "analyze: --db-journal, --db-sample-syns and --db-retention must be >= 0"},
		{"analyze:\n  mode: fancy\n", `analyze.mode: unknown association mode "fancy"`},
		{"report:\n  format: pdf\n", `report.format: unknown value "pdf" (want text, json, csv, html)`},
		{"report:\n  bucket: 10s\n", "report: --bucket must be at least 1m"},
		{"blocklist:\n  format: bind\n", `blocklist.format: unknown value "bind" (want rbldnsd, plain, json, postfix, nft)`},
		{"blocklist:\n  since: yesterday\n", "blocklist: --since: "},
		{"dnsbl:\n  listen: localhost\n", `dnsbl.listen: invalid address "localhost"`},
		{"dnsbl:\n  tcp-max-queries: 0\n", "dnsbl: --tcp-max-conns, --tcp-max-conns-per-source and --tcp-max-queries must be positive"},
		{"stats:\n  interval: 0s\n", "stats.interval: duration 0s is not greater than zero"},
		{"lab:\n  xdp-mode: skb\n", `lab.xdp-mode: unknown value "skb" (want generic, native)`},
		{"read:\n  mode: bounce\n", `read.mode: unknown reply mode "bounce"`},
		{"read:\n  ports: [25, 0]\n", "read: --ports: 0 is not a port"},
	} {
		_, _, err := runCLI(t, "config", "check", "--config", writeConfig(t, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
}

// A wrong value in the environment is named by its variable, before the
// command does anything.
func TestConfigEnvNamed(t *testing.T) {
	for _, c := range []struct {
		env, val string
		args     []string
		want     string
	}{
		{"MXSENSOR_RST_RATE", "fast", []string{"read", "../../testdata/syns.pcap"}, `MXSENSOR_RST_RATE: "fast" is not a number`},
		{"MXSENSOR_HELD_MEMORY", "12 MiB", []string{"analyze"}, `MXSENSOR_HELD_MEMORY: invalid size "12 MiB": no spaces allowed`},
		{"MXSENSOR_METRICS_LISTEN", "9725", []string{"run"}, `MXSENSOR_METRICS_LISTEN: invalid address "9725"`},
		{"MXSENSOR_LOG_FORMAT", "xml", []string{"addr", addr6to4}, `MXSENSOR_LOG_FORMAT: unknown value "xml"`},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			if _, _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s=%s: err = %v, want %q", c.env, c.val, err, c.want)
			}
		})
	}
}

// subcommand is the command name of a new command tree.
func subcommand(t *testing.T, name string) *cobra.Command {
	t.Helper()
	c, _, err := newRootCmd().Find([]string{name})
	if err != nil || c.Name() != name {
		t.Fatalf("no command %s: %v", name, err)
	}
	return c
}

// loadRun loads run's settings as the command would, with args on its
// command line.
func loadRun(t *testing.T, args ...string) *runConfig {
	t.Helper()
	c := subcommand(t, "run")
	if err := c.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	var rc runConfig
	if _, err := loadConfig(c, &rc); err != nil {
		t.Fatal(err)
	}
	return &rc
}

// Flag > environment > file > default through run's own struct, for a
// setting of each type it has.
func TestConfigPrecedenceTyped(t *testing.T) {
	for _, c := range []struct {
		key                          string
		def, file, env, flag         string // the decoded value, printed
		fileYAML, envText, flagValue string
	}{
		{"iface", "", "eth0", "eth1", "eth2", "eth0", "eth1", "eth2"},
		{"pcap-keep", "10", "3", "4", "5", "3", "4", "5"},
		{"rst-rate", "10", "1.5", "2", "0", "1.5", "2", "0"},
		{"no-cymru", "false", "true", "false", "true", "true", "false", "true"},
		{"flush-interval", "200ms", "1s", "2s", "3s", "1s", "2s", "3s"},
		{"reject-log", "[]", "[/a /b]", "[/c /d]", "[/e]", "[/a, /b]", "/c,/d", "/e"},
		{"ports", "[25]", "[587]", "[25 465]", "[2525]", "[587]", "25,465", "2525"},
		{"ring-size", "16MiB", "64KiB", "1MiB", "4MiB", "64KiB", "1MiB", "4MiB"},
		{"xdp-mode", "auto", "generic", "native", "auto", "generic", "native", "auto"},
		{"mode", "reject", "observe", "drop", "reject", "observe", "drop", "reject"},
		{"metrics-listen", "127.0.0.1:9725", ":1", "[::1]:2", ":3", "':1'", "[::1]:2", ":3"},
		{"local-addr", "[]", "[192.0.2.1]", "[2001:db8::1]", "[192.0.2.2]", "[192.0.2.1]", "2001:db8::1", "192.0.2.2"},
		{"db-flush", "1s", "2s", "3s", "4s", "2s", "3s", "4s"},
		{"min-score", "0.9", "0.5", "0.6", "0.7", "0.5", "0.6", "0.7"},
	} {
		get := func(rc *runConfig) string {
			v := config.Values(rc)[c.key]
			if s, ok := v.(fmt.Stringer); ok {
				return s.String()
			}
			return fmt.Sprint(v)
		}
		if got := get(loadRun(t)); got != c.def {
			t.Errorf("%s: default %s, want %s", c.key, got, c.def)
		}
		file := writeConfig(t, "run:\n  "+c.key+": "+c.fileYAML+"\n")
		if got := get(loadRun(t, "--config", file)); got != c.file {
			t.Errorf("%s: file %s, want %s", c.key, got, c.file)
		}
		t.Setenv(config.EnvName(c.key), c.envText)
		if got := get(loadRun(t, "--config", file)); got != c.env {
			t.Errorf("%s: environment %s, want %s", c.key, got, c.env)
		}
		if got := get(loadRun(t, "--config", file, "--"+c.key+"="+c.flagValue)); got != c.flag {
			t.Errorf("%s: flag %s, want %s", c.key, got, c.flag)
		}
		os.Unsetenv(config.EnvName(c.key))
	}
}

// run's --min-score is the live measurement's threshold.
func TestRunMinScore(t *testing.T) {
	if got := loadRun(t).pipeline().MinScore; got != associate.DefaultThreshold {
		t.Errorf("default threshold %v, want %v", got, associate.DefaultThreshold)
	}
	if got := loadRun(t, "--min-score", "0.5").pipeline().MinScore; got != 0.5 {
		t.Errorf("--min-score 0.5: threshold %v", got)
	}
	c := subcommand(t, "run")
	if err := c.ParseFlags([]string{"--min-score", "1.5"}); err != nil {
		t.Fatal(err)
	}
	var rc runConfig
	if _, err := loadConfig(c, &rc); err == nil || !strings.Contains(err.Error(), "--min-score") {
		t.Errorf("--min-score 1.5 loaded: %v", err)
	}
}

// Every command's config struct has a field for each of its flags and no
// other (a flag without one fails every start, a field without one is a
// setting nobody sees), and the defaults load and validate.
func TestConfigStructsMatchFlags(t *testing.T) {
	root := newRootCmd()
	empty, err := config.Read("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range root.Commands() {
		var flags []string
		fs := localFlags(c)
		fs.VisitAll(func(f *pflag.Flag) { flags = append(flags, f.Name) })
		slices.Sort(flags)
		mk := commandConfigs[c.Name()]
		if mk == nil {
			if len(flags) > 0 {
				t.Errorf("%s has flags %v and no config struct in commandConfigs", c.Name(), flags)
			}
			continue
		}
		out := mk()
		if keys := config.Keys(out); !slices.Equal(keys, flags) {
			t.Errorf("%s: struct keys %v, flags %v", c.Name(), keys, flags)
		}
		if err := empty.Load(c.Name(), fs, out); err != nil {
			t.Errorf("%s: defaults: %v", c.Name(), err)
		} else if v, ok := out.(config.Validator); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s: defaults do not validate: %v", c.Name(), err)
			}
		}
	}
}

// lab tells a list set to nothing (no client listed) from one not set.
func TestConfigLabListed(t *testing.T) {
	load := func(body string) *labConfig {
		c := subcommand(t, "lab")
		if err := c.ParseFlags([]string{"--config", writeConfig(t, body)}); err != nil {
			t.Fatal(err)
		}
		var lc labConfig
		if _, err := lc.load(c); err != nil {
			t.Fatal(err)
		}
		return &lc
	}
	if l := load("lab:\n  linux: 1\n"); l.listedGiven {
		t.Errorf("not set: %q", l.Listed)
	}
	if l := load("lab:\n  listed: []\n"); !l.listedGiven || len(l.Listed) != 0 {
		t.Errorf("set to nothing: %#v", l.Listed)
	}
	if l := load("lab:\n  listed: [lin1, win2]\n"); !l.listedGiven || !slices.Equal(l.Listed, []string{"lin1", "win2"}) {
		t.Errorf("set: %q", l.Listed)
	}
}
