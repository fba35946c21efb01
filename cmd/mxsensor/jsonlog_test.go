package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jsonLogs parses what a command wrote on stderr with --log-format json:
// every line must be one JSON object.
func jsonLogs(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" && stderr == "" {
			break
		}
		var rec map[string]any
		if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) || json.Unmarshal([]byte(line), &rec) != nil {
			t.Errorf("stderr line %d is not a JSON object: %q", i+1, line)
			continue
		}
		recs = append(recs, rec)
	}
	return recs
}

// logged returns the first record of stderr (--log-format json) with the
// message msg, failing the test when there is none.
func logged(t *testing.T, stderr, msg string) map[string]any {
	t.Helper()
	for _, rec := range jsonLogs(t, stderr) {
		if rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("no %q record in:\n%s", msg, stderr)
	return nil
}

// wantFields checks fields of a log record, compared as JSON (a JSON
// number decodes as a float64).
func wantFields(t *testing.T, rec map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := rec[k]
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !ok || !bytes.Equal(gj, wj) {
			t.Errorf("%s: %s = %v, want %v (record %v)", rec["msg"], k, g, w, rec)
		}
	}
}

// TestJSONLogOnly: with --log-format json every command writes only JSON
// objects, one per line, on stderr (its diagnostics: summaries, warnings,
// "report written"), and its results on stdout exactly as with the
// console format.
func TestJSONLogOnly(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results")
	blocklistResults(t, res,
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 3.5, true, "order:x(+3)"),
		`{"broken`)
	attempt := `{"first_seen":"2026-11-26T10:00:00Z","last_seen":"2026-11-26T10:00:00Z","family":"ipv6","src":"2001:db8:1:2::10",` +
		`"sport":40000,"dst":"2001:db8:ffff::25","dport":25,"syns":2,"os":"Windows","os_class":"windows","raw_sig":"","addr_type":"other"}`
	if err := os.WriteFile(filepath.Join(res, "attempts.jsonl"), []byte(attempt+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap, maillog := "../../testdata/syns.pcap", "../../testdata/rejectlog/mail.log"
	for _, c := range []struct {
		name string
		args []string
		msgs []string // records that must be there
	}{
		{"analyze", []string{"analyze", "--pcap", pcap, "--reject-log", maillog, "--tz", "UTC", "--p0f-db", "", "--out", filepath.Join(dir, "out-%s")},
			[]string{"reject logs read", "analysis done", "report written"}},
		{"report", []string{"report", "--in", res, "--format", "json"}, []string{"bad lines skipped"}},
		{"blocklist", []string{"blocklist", "--in", res, "--format", "plain"}, []string{"blocklist built"}},
		{"rejectlog", []string{"rejectlog", "--tz", "UTC", maillog}, []string{"reject logs read"}},
		{"read", []string{"read", pcap}, []string{"capture read", "data plane counters"}},
		{"fingerprint", []string{"fingerprint", "--pcap", pcap, "--p0f-db", "", "--json"}, nil},
		{"addr", []string{"addr", "2002:c000:201::1", "not-an-address"}, []string{"not an IP address"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(format string) (string, string) {
				args := append([]string{}, c.args...)
				for i, a := range args {
					if strings.Contains(a, "%s") {
						args[i] = fmt.Sprintf(a, format)
					}
				}
				out, errs, err := runCLI(t, append(args, "--log-format", format)...)
				if err != nil && c.name != "addr" { // addr fails on the bad address, after printing the good one
					t.Fatalf("%v: %v\n%s", args, err, errs)
				}
				return out, errs
			}
			consoleOut, _ := run("console")
			out, errs := run("json")
			if out != consoleOut {
				t.Errorf("stdout differs with --log-format json:\n%s\nconsole:\n%s", out, consoleOut)
			}
			jsonLogs(t, errs)
			for _, msg := range c.msgs {
				logged(t, errs, msg)
			}
		})
	}
	// The reports analyze wrote are the same whatever the log format.
	for _, name := range []string{"report.txt", "report.json"} {
		a, err1 := os.ReadFile(filepath.Join(dir, "out-console", name))
		b, err2 := os.ReadFile(filepath.Join(dir, "out-json", name))
		a = bytes.ReplaceAll(a, []byte("out-console"), []byte("out-json"))
		if err := errors.Join(err1, err2); err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs with --log-format json (%v)", name, err)
		}
	}
}

// TestJSONLogError: the error a command fails with is a JSON record too
// with --log-format json, prose otherwise.
func TestJSONLogError(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		root := newRootCmd()
		root.SetOut(new(bytes.Buffer))
		root.SetErr(new(bytes.Buffer))
		root.SetArgs([]string{"report", "--log-format", format, "--db", filepath.Join(t.TempDir(), "none.db")})
		err := root.Execute()
		if err == nil {
			t.Fatal("report of a missing store succeeded")
		}
		var b bytes.Buffer
		printError(root, &b, err)
		if format == "json" {
			wantFields(t, logged(t, b.String(), "mxsensor failed"), map[string]any{"level": "error", "error": err.Error()})
		} else if b.String() != "mxsensor: "+err.Error()+"\n" {
			t.Errorf("console: %q", b.String())
		}
	}
}

// TestJSONLogErrorFromFile: a log format set in the configuration file or
// the environment applies to the error a command ends with too.
func TestJSONLogErrorFromFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mxsensor.yaml")
	if err := os.WriteFile(cfg, []byte("global:\n  log-format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, setup := range map[string]func(){
		"file": func() { t.Setenv("MXSENSOR_CONFIG", cfg) },
		"env":  func() { t.Setenv("MXSENSOR_CONFIG", ""); t.Setenv("MXSENSOR_LOG_FORMAT", "json") },
	} {
		t.Run(name, func(t *testing.T) {
			setup()
			root := newRootCmd()
			root.SetOut(new(bytes.Buffer))
			root.SetErr(new(bytes.Buffer))
			root.SetArgs([]string{"report", "--db", filepath.Join(t.TempDir(), "none.db")})
			err := root.Execute()
			if err == nil {
				t.Fatal("report of a missing store succeeded")
			}
			var b bytes.Buffer
			printError(root, &b, err)
			wantFields(t, logged(t, b.String(), "mxsensor failed"), map[string]any{"level": "error", "error": err.Error()})
		})
	}
}
