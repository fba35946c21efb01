package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type levels struct{}

func (levels) Words() []string { return []string{"low", "high"} }

type inner struct {
	Size Size `mapstructure:"size"`
}

type testConfig struct {
	Name   string           `mapstructure:"name"`
	Count  int              `mapstructure:"count"`
	Rate   float64          `mapstructure:"rate"`
	On     bool             `mapstructure:"on"`
	Wait   time.Duration    `mapstructure:"wait"`
	List   []string         `mapstructure:"list"`
	Ports  []uint           `mapstructure:"ports"`
	Level  Choice[levels]   `mapstructure:"level"`
	Listen HostPort         `mapstructure:"listen"`
	Addrs  Addrs            `mapstructure:"addrs"`
	Flush  PositiveDuration `mapstructure:"flush"`
	Hidden string           `mapstructure:"hidden"`
	inner  `mapstructure:",squash"`
}

func testFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("name", "def", "")
	fs.Int("count", 1, "")
	fs.Float64("rate", 0.5, "")
	fs.Bool("on", false, "")
	fs.Duration("wait", time.Second, "")
	fs.StringSlice("list", nil, "")
	fs.UintSlice("ports", []uint{25}, "")
	ChoiceVar[levels](fs, "level", "low", "")
	HostPortVar(fs, "listen", "127.0.0.1:1", "")
	AddrsVar(fs, "addrs", "")
	PositiveDurationVar(fs, "flush", time.Second, "")
	fs.String("hidden", "", "")
	_ = fs.MarkHidden("hidden")
	SizeVar(fs, "size", "1KiB", "")
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// load reads body as a file and loads section "t" with args on the
// command line.
func load(t *testing.T, body string, args ...string) (*testConfig, error) {
	t.Helper()
	f, err := Read(writeFile(t, body), true)
	if err != nil {
		return nil, err
	}
	fs := testFlags()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var c testConfig
	return &c, f.Load("t", fs, &c)
}

// Flag > environment > file > default, for one key of each type.
func TestLoadPrecedence(t *testing.T) {
	for _, c := range []struct {
		key                  string
		def, file, env, flag string // as fmt.Sprint prints the decoded value
		fileYAML, envText    string
		flagArg              string
	}{
		{"name", "def", "f", "e", "c", "f", "e", "c"},
		{"count", "1", "2", "3", "4", "2", "3", "4"},
		{"rate", "0.5", "1.5", "2", "3", "1.5", "2", "3"},
		{"on", "false", "true", "false", "true", "true", "false", "true"},
		{"wait", "1s", "2s", "3m0s", "4h0m0s", "2s", "3m", "4h"},
		{"list", "[]", "[a b]", "[c d]", "[e]", "[a, b]", "c,d", "e"},
		{"ports", "[25]", "[587]", "[25 465]", "[2525]", "[587]", "25,465", "2525"},
		{"level", "low", "high", "low", "high", "HIGH", "low", "high"},
		{"listen", "127.0.0.1:1", ":2", "[::1]:3", "0.0.0.0:4", ":2", "[::1]:3", "0.0.0.0:4"},
		{"addrs", "[]", "[192.0.2.1 2001:db8::1]", "[192.0.2.2]", "[192.0.2.3]", "[192.0.2.1, 2001:db8::1]", "192.0.2.2", "192.0.2.3"},
		{"flush", "1s", "2s", "3s", "4s", "2s", "3s", "4s"},
		{"size", "1KiB", "64MiB", "1.5MB", "2G", "64MiB", "1.5MB", "2G"},
	} {
		get := func(cfg *testConfig, err error) string {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", c.key, err)
			}
			return fmt.Sprint(Values(cfg)[c.key])
		}
		file := "t:\n  " + c.key + ": " + c.fileYAML + "\n"
		if got := get(load(t, "")); got != c.def {
			t.Errorf("%s: default %s, want %s", c.key, got, c.def)
		}
		if got := get(load(t, file)); got != c.file {
			t.Errorf("%s: file %s, want %s", c.key, got, c.file)
		}
		t.Setenv(EnvName(c.key), c.envText)
		if got := get(load(t, file)); got != c.env {
			t.Errorf("%s: environment %s, want %s", c.key, got, c.env)
		}
		if got := get(load(t, file, "--"+c.key+"="+c.flagArg)); got != c.flag {
			t.Errorf("%s: flag %s, want %s", c.key, got, c.flag)
		}
		os.Unsetenv(EnvName(c.key))
	}
}

// An unknown or hidden key, a wrong type, a bad value in the file or the
// environment: each is an error naming the key (and the value).
func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		body, want string
	}{
		{"t:\n  nmae: x\n", "t.nmae: unknown setting (valid: addrs, count, "},
		{"t:\n  hidden: x\n", "t.hidden: unknown setting"},
		{"t:\n  rate: fast\n", `t.rate: "fast" is not a number`},
		{"t:\n  count: 1.5x\n", `t.count: "1.5x" is not a whole number`},
		{"t:\n  on: maybe\n", `t.on: "maybe" is not true or false`},
		{"t:\n  ports: [25, x]\n", `t.ports: "x" is not a whole number from 0 to 18446744073709551615`},
		{"t:\n  size: 10 MiB\n", `t.size: invalid size "10 MiB": no spaces allowed`},
		{"t:\n  size: 12QB\n", `t.size: invalid size "12QB": unknown unit "QB"`},
		{"t:\n  wait: 5\n", `t.wait: time: missing unit in duration "5"`},
		{"t:\n  flush: 0s\n", "t.flush: duration 0s is not greater than zero"},
		{"t:\n  level: medium\n", `t.level: unknown value "medium" (want low, high)`},
		{"t:\n  listen: localhost\n", `t.listen: invalid address "localhost"`},
		{"t:\n  listen: 'h:http'\n", `port "http" is not a number`},
		{"t:\n  addrs: [192.0.2.1, nope]\n", `t.addrs: invalid address "nope"`},
		{"t:\n  name: {a: 1}\n", "t.name: want a value, got a mapping"},
	} {
		_, err := load(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
	// Every problem, not the first.
	if _, err := load(t, "t:\n  rate: fast\n  count: x\n"); err == nil || !strings.Contains(err.Error(), "t.rate") || !strings.Contains(err.Error(), "t.count") {
		t.Errorf("two bad keys: %v", err)
	}
	t.Setenv("MXSENSOR_COUNT", "many")
	if _, err := load(t, ""); err == nil || !strings.Contains(err.Error(), `MXSENSOR_COUNT: "many" is not a whole number`) {
		t.Errorf("MXSENSOR_COUNT=many: %v", err)
	}
	os.Unsetenv("MXSENSOR_COUNT")
	t.Setenv("MXSENSOR_SIZE", "1e6")
	if _, err := load(t, ""); err == nil || !strings.Contains(err.Error(), `MXSENSOR_SIZE: invalid size "1e6"`) {
		t.Errorf("MXSENSOR_SIZE=1e6: %v", err)
	}
	// The command line's value is checked by the same parser.
	if _, err := load(t, "", "--size", "1.5B"); err == nil || !strings.Contains(err.Error(), "not a whole number of bytes") {
		t.Errorf("--size 1.5B: %v", err)
	}
	if _, err := load(t, "", "--flush", "-1s"); err == nil || !strings.Contains(err.Error(), "not greater than zero") {
		t.Errorf("--flush -1s: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := Read(filepath.Join(t.TempDir(), "none.yaml"), true); err == nil {
		t.Error("a missing file named explicitly was ignored")
	}
	if f, err := Read(filepath.Join(t.TempDir(), "none.yaml"), false); err != nil || len(f.Sections()) != 0 {
		t.Errorf("a missing default file: %v", err)
	}
	if _, err := Read(writeFile(t, "t: [1, 2]\n"), true); err == nil || !strings.Contains(err.Error(), "t: want a mapping") {
		t.Errorf("a list as a section: %v", err)
	}
	if _, err := Read(writeFile(t, "t:\n  a: [\n"), true); err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestKeys(t *testing.T) {
	var c testConfig
	if got := strings.Join(Keys(&c), " "); got != "addrs count flush hidden level list listen name on ports rate size wait" {
		t.Errorf("Keys = %s", got)
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		err  string // substring of the error; "" = valid
	}{
		{"4096", 4096, ""},
		{"0", 0, ""},
		{"100B", 100, ""},
		{"64k", 64 << 10, ""},
		{"64K", 64 << 10, ""},
		{"64KiB", 64 << 10, ""},
		{"64kib", 64 << 10, ""},
		{"64KB", 64000, ""},
		{"100MB", 100_000_000, ""},
		{"100MiB", 100 << 20, ""},
		{"16M", 16 << 20, ""},
		{"65536KB", 65_536_000, ""},
		{"1.5MiB", 1572864, ""},
		{"1.5MB", 1_500_000, ""},
		{"2G", 2 << 30, ""},
		{"1GB", 1e9, ""},
		{"1TiB", 1 << 40, ""},
		{"3tb", 3e12, ""},
		{" 16MiB ", 16 << 20, ""},
		{"1.5B", 0, "not a whole number of bytes"},
		{"1.5", 0, "not a whole number of bytes"},
		{"0.1KiB", 0, "not a whole number of bytes"},
		{"100XB", 0, `unknown unit "XB"`},
		{"100Mi", 0, `unknown unit "Mi"`},
		{"100 MiB", 0, "no spaces"},
		{"", 0, "empty"},
		{"MiB", 0, "want a number"},
		{"-1", 0, "want a number"},
		{"+1", 0, "want a number"},
		{"1e6", 0, `unknown unit "e6"`},
		{"0x10", 0, `unknown unit "x10"`},
		{".5M", 0, "malformed number"},
		{"1.M", 0, "malformed number"},
		{"1.2.3K", 0, "malformed number"},
		{"8EiB", 0, "unknown unit"},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "too large"},
		{"9000000TiB", 0, "too large"},
		{strings.Repeat("1", 70), 0, "longer than"},
	} {
		got, err := ParseSize(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "invalid size")):
			t.Errorf("ParseSize(%q) = %d, %v; want an error with %q", c.in, got, err, c.err)
		}
	}
}
