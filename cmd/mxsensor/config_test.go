package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
