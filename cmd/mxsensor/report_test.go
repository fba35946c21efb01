package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/report"
)

// scenarioResults generates a small scenario and analyzes it (which writes
// the report files too); it returns the results directory.
func scenarioResults(t *testing.T, mode string) (scenario, out string) {
	t.Helper()
	dir := t.TempDir()
	if b, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "5", "-hosts", "300", "-duration", "3h", "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("genscenario: %v\n%s", err, b)
	}
	out = filepath.Join(dir, mode)
	if _, errs, err := runCLI(t, "analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
		"--tz", "UTC", "--out", out, "--mode", mode, "--p0f-db", "", "--asn-table", filepath.Join(dir, "asn.txt")); err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	return dir, out
}

func TestReportCommand(t *testing.T) {
	dir, full := scenarioResults(t, "full")
	naive := filepath.Join(dir, "naive")
	if _, errs, err := runCLI(t, "analyze", "--pcap", filepath.Join(dir, "syns.pcap"), "--reject-log", filepath.Join(dir, "mail.log"),
		"--tz", "UTC", "--out", naive, "--mode", "naive", "--p0f-db", "", "--no-report"); err != nil {
		t.Fatalf("analyze naive: %v\n%s", err, errs)
	}
	// analyze wrote the report files; the report command gives the same.
	for name, format := range report.Files {
		written, err := os.ReadFile(filepath.Join(full, name))
		if err != nil {
			t.Fatal(err)
		}
		out, errs, err := runCLI(t, "report", "--in", full, "--format", format, "--asn-table", filepath.Join(dir, "asn.txt"))
		if err != nil {
			t.Fatalf("report --format %s: %v\n%s", format, err, errs)
		}
		if out != string(written) {
			t.Errorf("%s differs from report --format %s", name, format)
		}
	}
	if _, err := os.Stat(filepath.Join(naive, "report.txt")); err == nil {
		t.Error("--no-report wrote a report")
	}
	// JSON for scripts, with the comparison to the naive run.
	out, _, err := runCLI(t, "report", "--in", full, "--format", "json", "--compare", naive, "--asn-table", filepath.Join(dir, "asn.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Attempts6 == 0 || r.Summary.SpamHostsAssoc == 0 || len(r.SpamASNs) == 0 || r.Comparison == nil ||
		r.Comparison.OtherAssociated <= r.Comparison.ThisAssociated/2 || r.OverTime.Bucket != "5m0s" || len(r.OverTime.Buckets) != 36 {
		t.Errorf("report: summary %+v, %d ASNs, comparison %+v, %d buckets (%s)", r.Summary, len(r.SpamASNs), r.Comparison, len(r.OverTime.Buckets), r.OverTime.Bucket)
	}
	// One CSV table; a time window.
	csvOut, _, err := runCLI(t, "report", "--in", full, "--format", "csv", "--table", "syns")
	if err != nil || !strings.HasPrefix(csvOut, "OS,1,2,3,4,5,6+,attempts\n") {
		t.Errorf("csv: %v\n%s", err, csvOut)
	}
	win, _, err := runCLI(t, "report", "--in", full, "--format", "json", "--since", "2026-11-26T11:00:00Z", "--until", "2026-11-26T12:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	var w report.Report
	if err := json.Unmarshal([]byte(win), &w); err != nil {
		t.Fatal(err)
	}
	if w.Summary.Attempts6 == 0 || w.Summary.Attempts6 >= r.Summary.Attempts6 || w.Period.From.Before(time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("window: %+v %+v", w.Period, w.Summary)
	}
	for _, bad := range [][]string{
		{"report"},
		{"report", "--in", t.TempDir()},
		{"report", "--in", full, "--format", "xml"},
		{"report", "--in", full, "--since", "yesterday"},
		{"report", "--in", full, "--table", "os"},
	} {
		if _, _, err := runCLI(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// chromiumArgs are the flags that make headless Chromium work as root, in a
// sandbox with no network, without phoning home.
var chromiumArgs = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"}

// checker is added to a copy of the report: it records script errors and,
// once the page has loaded, the size of every figure, for --dump-dom.
const checker = `<script>
window.__errs = [];
window.addEventListener('error', function (e) { window.__errs.push(String(e.message)); });
window.addEventListener('load', function () {
  var figs = Array.prototype.map.call(document.querySelectorAll('figure.fig svg'), function (s) {
    var r = s.getBoundingClientRect();
    return {id: s.id, w: r.width, h: r.height, marks: s.querySelectorAll('rect, polyline').length};
  });
  var pre = document.createElement('pre');
  pre.id = 'mxs-check';
  pre.textContent = JSON.stringify({figs: figs, errors: window.__errs, title: document.title});
  document.body.appendChild(pre);
});
</script>`

// TestReportHTMLInChromium opens the HTML report in Debian's headless
// Chromium: no errors, every figure laid out with a non-zero size and
// drawn, and a screenshot that shows them.
func TestReportHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed (make deps-test installs it); CI=true: failing instead of skipping")
		}
		t.Skip("chromium not installed (apt-get install chromium, or make deps-test)")
	}
	_, full := scenarioResults(t, "full")
	page, err := os.ReadFile(filepath.Join(full, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	checked := filepath.Join(tmp, "checked.html")
	if err := os.WriteFile(checked, bytes.Replace(page, []byte("<head>"), []byte("<head>"+checker), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, chromium, append(append(append([]string{}, chromiumArgs...), "--user-data-dir="+filepath.Join(tmp, "profile")), args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	dom := run("--window-size=1000,2000", "--virtual-time-budget=5000", "--dump-dom", "file://"+checked)
	m := regexp.MustCompile(`(?s)<pre id="mxs-check">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not run its check (no #mxs-check in the DOM):\n%.2000s", dom)
	}
	var check struct {
		Figs []struct {
			ID    string
			W, H  float64
			Marks int
		}
		Errors []string
		Title  string
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &check); err != nil {
		t.Fatalf("check output %q: %v", m[1], err)
	}
	if len(check.Errors) > 0 {
		t.Errorf("page errors: %v", check.Errors)
	}
	if len(check.Figs) != 6 || !strings.HasPrefix(check.Title, "mxsensor report") {
		t.Errorf("figures %+v, title %q", check.Figs, check.Title)
	}
	for _, f := range check.Figs {
		if f.W < 300 || f.H < 100 || f.Marks == 0 {
			t.Errorf("figure %s rendered %vx%v with %d marks", f.ID, f.W, f.H, f.Marks)
		}
	}
	t.Logf("figures: %+v", check.Figs)

	// The screenshot: the figures' colours must be on it.
	shot := filepath.Join(tmp, "report.png")
	run("--window-size=1000,2400", "--screenshot="+shot, "file://"+filepath.Join(full, "report.html"))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := bluePixels(img); n < 2000 {
		t.Errorf("screenshot %v has %d pixels of the figures' blue: the figures did not render", img.Bounds(), n)
	} else {
		t.Logf("screenshot %v: %d pixels of the figures' blue", img.Bounds(), n)
	}
	if dir := os.Getenv("MXS_KEEP_SCREENSHOT"); dir != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "report.png"), b, 0o644)
	}
}

// bluePixels counts pixels close to the first series colour (#1f77b4).
func bluePixels(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, 0x1f) && near(g>>8, 0x77) && near(bl>>8, 0xb4) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint32) bool { return a+12 >= b && a <= b+12 }

// The origin ASes the live enricher found name the spammers' ASes too.
func TestReportEnrichASNs(t *testing.T) {
	dir, full := scenarioResults(t, "full")
	// An enrichment file like run --enrich-out writes, for every address of
	// the scenario's ASN table's first IPv6 spammer.
	out, _, err := runCLI(t, "report", "--in", full, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.SpamASNs) != 0 || len(r.Spam48s) == 0 {
		t.Fatalf("without AS data: %+v", r.SpamASNs)
	}
	ip := r.Spam48s[0].Prefix.Addr()
	b, err := os.ReadFile(filepath.Join(full, "associations.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		var a struct{ Src string }
		if json.Unmarshal([]byte(l), &a) == nil && strings.HasPrefix(a.Src, strings.TrimSuffix(ip.String(), "::")) {
			lines = append(lines, `{"ts":"2026-11-26T10:00:00Z","ip":"`+a.Src+`","asn":{"Origins":[{"Number":64512,"Name":"LIVE-AS"}],"Prefix":"`+r.Spam48s[0].Prefix.String()+`","Source":"cymru"}}`)
		}
	}
	lines = append(lines, "garbage")
	enr := filepath.Join(dir, "enrich.jsonl")
	if err := os.WriteFile(enr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, err := runCLI(t, "report", "--in", full, "--format", "json", "--enrich", enr, "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	wantFields(t, logged(t, errs, "enrichment lines that do not parse were skipped"), map[string]any{"level": "warn", "file": enr, "bad_lines": 1})
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.SpamASNs) != 1 || r.SpamASNs[0].ASN != 64512 || r.SpamASNs[0].Name != "LIVE-AS" {
		t.Errorf("ASNs from the enrichment file: %+v", r.SpamASNs)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	_ = os.WriteFile(bad, []byte("nonsense\n"), 0o644)
	if _, _, err := runCLI(t, "report", "--in", full, "--enrich", bad); err == nil {
		t.Error("an enrichment file of garbage was accepted")
	}
}

// A line over 1 MiB in attempts.jsonl and in associations.jsonl is
// skipped and counted; the report is built from the other lines.
func TestReportOverlongLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	blocklistResults(t, dir,
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 3.5, true, "order:rst-roundtrip-gap(+3.0)"),
		hugeJSONLine(),
		blocklistAssoc(t, "2026-11-26T11:00:00Z", "2001:db8:3:4::10", "", 0, false),
	)
	attempt := func(at, family, src string) string {
		b, err := json.Marshal(map[string]any{"first_seen": at, "last_seen": at, "family": family, "src": src, "sport": 40000,
			"dst": "2001:db8:ffff::25", "dport": 25, "syns": 2, "os": "Windows", "os_class": "windows", "raw_sig": "", "addr_type": "other"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{attempt("2026-11-26T10:00:00Z", "ipv6", "2001:db8:1:2::10"), hugeJSONLine(), attempt("2026-11-26T11:00:00Z", "ipv6", "2001:db8:3:4::10")}
	if err := os.WriteFile(filepath.Join(dir, "attempts.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, err := runCLI(t, "report", "--in", dir, "--format", "json", "--log-format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Attempts6 != 2 || r.Summary.Associated6 != 1 || r.Input.BadLines != 2 || r.Input.TooLongLines != 2 {
		t.Errorf("summary %+v, input %+v", r.Summary, r.Input)
	}
	warn := logged(t, errs, "bad lines skipped")
	wantFields(t, warn, map[string]any{"level": "warn", "bad_lines": 2, "too_long": 2, "max_line": 1048576})
	if warn["first"] == "" {
		t.Errorf("no first bad line: %v", warn)
	}
	txt, _, err := runCLI(t, "report", "--in", dir)
	if err != nil || !strings.Contains(txt, "2 bad lines skipped (2 longer than") {
		t.Errorf("text report: %v\n%s", err, txt)
	}
	// The same in an enrichment file (--enrich).
	enr := filepath.Join(dir, "enrich.jsonl")
	enrLine := `{"ts":"2026-11-26T10:00:00Z","ip":"2001:db8:1:2::10","asn":{"Origins":[{"Number":64512,"Name":"LIVE-AS"}],"Prefix":"2001:db8:1::/48","Source":"cymru"}}`
	if err := os.WriteFile(enr, []byte(hugeJSONLine()+"\n"+enrLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, err = runCLI(t, "report", "--in", dir, "--format", "json", "--enrich", enr, "--log-format", "json")
	if err != nil {
		t.Fatalf("--enrich: %v\n%s", err, errs)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.SpamASNs) != 1 || r.SpamASNs[0].ASN != 64512 {
		t.Errorf("--enrich: ASNs %+v", r.SpamASNs)
	}
	wantFields(t, logged(t, errs, "enrichment lines that do not parse were skipped"), map[string]any{"bad_lines": 1, "too_long": 1})
}
