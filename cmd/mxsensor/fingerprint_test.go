package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/fingerprint"
)

type fpLine struct {
	TS      string `json:"ts"`
	Src     string `json:"src"`
	Sport   int    `json:"sport"`
	Label   string `json:"label"`
	OSClass string `json:"os_class"`
	Dist    int    `json:"dist"`
	RawSig  string `json:"raw_sig"`
}

func TestFingerprintCommand(t *testing.T) {
	// Built-in database only, so the test does not depend on p0f being installed.
	out, errs, err := runCLI(t, "fingerprint", "--pcap", "../../testdata/syns.pcap", "--p0f-db", "", "--json")
	if err != nil {
		t.Fatal(err, errs)
	}
	var lines []fpLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l fpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	if len(lines) != 12 {
		t.Fatalf("%d lines, want one per SYN (12)", len(lines))
	}
	first := lines[1] // 192.0.2.10: a Linux 4.19+ SYN, 6 hops away
	if first.Src != "192.0.2.10" || first.Sport != 35638 || first.OSClass != "Linux" || first.Dist != 6 ||
		first.RawSig != "4:58+6:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0" || first.TS != "2026-11-26T10:00:00.002Z" {
		t.Errorf("linux line %+v", first)
	}
	win := lines[5] // 192.0.2.20: Windows, 64240 / wscale 8
	if win.OSClass != "Windows" || !strings.HasPrefix(win.RawSig, "4:118+10:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok") {
		t.Errorf("windows line %+v", win)
	}
	text, _, err := runCLI(t, "fingerprint", "--pcap", "../../testdata/syns.pcap", "--p0f-db", "")
	if err != nil || !strings.Contains(text, "192.0.2.10:35638 os=") || !strings.Contains(text, "raw_sig=") {
		t.Errorf("text output: %v\n%s", err, text)
	}
	if _, _, err := runCLI(t, "fingerprint"); err == nil {
		t.Error("no --pcap accepted")
	}
	if _, _, err := runCLI(t, "fingerprint", "--pcap", "../../testdata/syns.pcap", "--p0f-db", "/nonexistent.fp"); err == nil {
		t.Error("a missing --p0f-db given explicitly must be an error")
	}
	if _, _, err := runCLI(t, "fingerprint", "--pcap", "../../testdata/syns.pcap", "--p0f-db", "", "--no-builtin"); err == nil {
		t.Error("no database at all accepted")
	}
	// With the stock database (when installed), unmatched SYNs print ??? as p0f does.
	if _, err := os.Stat(fingerprint.StockPath); err == nil {
		out, _, err := runCLI(t, "fingerprint", "--pcap", "../../testdata/syns.pcap", "--no-builtin", "--json")
		if err != nil || !strings.Contains(out, `"label":"???"`) || !strings.Contains(out, `"os_class":"unknown"`) {
			t.Errorf("stock-only run: %v\n%s", err, out)
		}
	}
}
