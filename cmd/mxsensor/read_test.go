package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

// TestReadCapture: `mxsensor read` turns the sample capture (tools/gensyns)
// into the SYN events and counters the kernel path would produce.
func TestReadCapture(t *testing.T) {
	out, errs, err := runCLI(t, "read", "../../testdata/syns.pcap", "--log-format", "json")
	if err != nil {
		t.Fatal(err, errs)
	}
	var evs []synevent.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev synevent.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		evs = append(evs, ev)
	}
	if len(evs) != 12 {
		t.Fatalf("%d events, want 12", len(evs))
	}
	if e := evs[0]; e.Src.String() != "2001:db8:a::10" || e.SrcPort != 53562 || e.FlowLabel != 0x12345 || e.TTL != 58 {
		t.Errorf("first event %+v", e)
	}
	var win int
	for _, e := range evs {
		if e.Src.String() == "192.0.2.20" && e.SrcPort == 50674 {
			win++
		}
	}
	if win != 3 {
		t.Errorf("%d Windows IPv4 SYNs, want 3", win)
	}
	wantFields(t, logged(t, errs, "capture read"), map[string]any{"frames": 15, "syn_events": 12})
	counters := logged(t, errs, "data plane counters")
	for _, want := range []string{"pass_fragment", "pass_not_syn", "pass_other_port"} {
		if _, ok := counters[want]; !ok {
			t.Errorf("counters lack %q: %v", want, counters)
		}
	}
}

func TestReadTruncatedCapture(t *testing.T) {
	data, err := os.ReadFile("../../testdata/syns.pcap")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-30], 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, err := runCLI(t, "read", cut)
	if err != nil {
		t.Fatalf("truncated capture must not be fatal by default: %v", err)
	}
	if !strings.Contains(errs, "truncated") || strings.Count(out, "\n") != 12 {
		t.Errorf("stderr %q, %d events", errs, strings.Count(out, "\n"))
	}
	if _, _, err := runCLI(t, "read", "--strict", cut); err == nil {
		t.Error("--strict accepted a truncated capture")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture at all"), 0o644)
	if _, _, err := runCLI(t, "read", garbage); err == nil || !strings.Contains(err.Error(), "not a pcap") {
		t.Errorf("garbage: %v", err)
	}
}

func TestReadFlagsValidated(t *testing.T) {
	for _, args := range [][]string{
		{"read", "--ports", "0", "../../testdata/syns.pcap"},
		{"read", "--mode", "bounce", "../../testdata/syns.pcap"},
		{"read", "--local-addr", "not-an-ip", "../../testdata/syns.pcap"},
		{"run"},
		{"run", "--iface", "lo", "--ring-size", "1000"},
	} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
