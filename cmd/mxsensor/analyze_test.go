package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/evaluate"
)

// TestAnalyzeScenario runs the whole offline measurement on a small
// generated scenario: the full engine must beat the naive rule by far and
// stay precise. (The bars are measured on large scenarios; see
// docs/association.md.)
func TestAnalyzeScenario(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "11", "-hosts", "400", "-duration", "20m", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	scores := map[string]evaluate.Result{}
	runs := map[string][]string{
		"naive": {"--mode", "naive"},
		"full":  {"--mode", "full"},
		// With what enrichment would know: origin ASes and reverse names.
		"names": {"--mode", "full", "--asn-table", filepath.Join(dir, "asn.txt"), "--ptr-table", filepath.Join(dir, "ptr.txt")},
	}
	for _, mode := range []string{"naive", "full", "names"} {
		o := filepath.Join(dir, mode)
		args := append([]string{"analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", o, "--p0f-db", ""}, runs[mode]...)
		_, errs, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("analyze %s: %v\n%s", mode, err, errs)
		}
		if !strings.Contains(errs, runs[mode][1]+" mode:") || !strings.Contains(errs, "connect() attempts") {
			t.Errorf("no summary line: %s", errs)
		}
		js, _, err := runCLI(t, "eval", "--truth", filepath.Join(dir, "truth.jsonl"), "--associations", filepath.Join(o, "associations.jsonl"), "--json")
		if err != nil {
			t.Fatal(err)
		}
		var r evaluate.Result
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		scores[mode] = r
		t.Logf("%s: precision %.3f recall %.3f host F1 %.3f", mode, r.Precision, r.Recall, r.HostF1)
	}
	n, f, w := scores["naive"], scores["full"], scores["names"]
	if f.Precision < 0.9 || f.Recall < 0.85 || f.Precision < n.Precision+0.3 {
		t.Errorf("full engine: precision %.3f recall %.3f (naive %.3f)", f.Precision, f.Recall, n.Precision)
	}
	if w.Precision < f.Precision || w.Recall < f.Recall-0.01 {
		t.Errorf("names made it worse: precision %.3f recall %.3f (without: %.3f %.3f)", w.Precision, w.Recall, f.Precision, f.Recall)
	}
	b, err := os.ReadFile(filepath.Join(dir, "names", "associations.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{`"asn:same-origin`, `"ptr:same-`} {
		if !strings.Contains(string(b), fam) {
			t.Errorf("no %s evidence in the associations", fam)
		}
	}
}

func TestProgressLine(t *testing.T) {
	p := &progress{totalBytes: 2000, doneBytes: 1000}
	got := p.line("/data/b.pcap", 500, 3000, 3*time.Second)
	want := "b.pcap [======================        ]  75%  3000 SYNs  1000 SYN/s  left 1s"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := (&progress{}).line("a.pcap", -1, 0, 0); !strings.Contains(got, "  0%") || !strings.Contains(got, "left ?") {
		t.Errorf("unknown size: %q", got)
	}
}
