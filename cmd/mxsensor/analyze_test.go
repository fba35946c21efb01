package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	for _, mode := range []string{"naive", "full"} {
		o := filepath.Join(dir, mode)
		_, errs, err := runCLI(t, "analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
			"--tz", "UTC", "--out", o, "--mode", mode, "--p0f-db", "")
		if err != nil {
			t.Fatalf("analyze %s: %v\n%s", mode, err, errs)
		}
		if !strings.Contains(errs, mode+" mode:") || !strings.Contains(errs, "connect() attempts") {
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
	n, f := scores["naive"], scores["full"]
	if f.Precision < 0.9 || f.Recall < 0.85 || f.Precision < n.Precision+0.3 {
		t.Errorf("full engine: precision %.3f recall %.3f (naive %.3f)", f.Precision, f.Recall, n.Precision)
	}
}
