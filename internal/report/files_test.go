package report

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/record"
)

// WriteFiles writes what Write gives for each format, readable by all,
// and leaves no temporary file behind.
func TestWriteFiles(t *testing.T) {
	dir := fixture(t)
	names, err := WriteFiles(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"report.html", "report.json", "report.txt"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	r, err := Build(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for name, format := range Files {
		var want bytes.Buffer
		if err := Write(&want, r, format); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: %v, differs from Write %s", name, err, format)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v", name, fi.Mode(), err)
		}
	}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if _, err := WriteFiles(t.TempDir(), Config{}); err == nil {
		t.Error("a report of no results directory was written")
	}
}

func TestEnrichedASNs(t *testing.T) {
	dir := t.TempDir()
	enr := filepath.Join(dir, "enrich.jsonl")
	lines := []string{
		`{"ts":"2026-11-26T10:00:00Z","ip":"::ffff:192.0.2.7","asn":{"Origins":[{"Number":64512,"Name":"FIRST"},{"Number":64513,"Name":"SECOND"}],"Prefix":"192.0.2.0/24","Source":"cymru"}}`,
		`{"ts":"2026-11-26T10:00:01Z","ip":"2001:db8::1","ptr":{"Names":["a.example"],"Confirmed":""}}`,
		`garbage`,
		`{"ts":"2026-11-26T10:00:02Z","asn":{"Origins":[{"Number":1,"Name":"NO-ADDRESS"}]}}`,
	}
	if err := os.WriteFile(enr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	found, err := EnrichedASNs(zap.New(core), enr)
	if err != nil {
		t.Fatal(err)
	}
	want := Origins{netip.MustParseAddr("192.0.2.7"): record.AS{Number: 64512, Name: "FIRST"}}
	if len(found) != 1 || found[netip.MustParseAddr("192.0.2.7")] != want[netip.MustParseAddr("192.0.2.7")] {
		t.Errorf("found %v, want %v", found, want)
	}
	if w := logs.All(); len(w) != 1 || w[0].ContextMap()["bad_lines"] != int64(2) || w[0].ContextMap()["file"] != enr {
		t.Errorf("warnings %v", w)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("nonsense\n"), 0o644)
	for _, p := range []string{bad, filepath.Join(dir, "missing.jsonl")} {
		if _, err := EnrichedASNs(zap.NewNop(), enr, p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v", p, err)
		}
	}

	// The table names an AS first; an entry of AS 0, or none, leaves it
	// to what the enricher found.
	tsv := filepath.Join(dir, "asn.txt")
	os.WriteFile(tsv, []byte("192.0.2.0/25\t0\t\n198.51.100.0/24\t64500\tTABLE\n"), 0o644)
	table, err := enrich.LoadASNTable(tsv)
	if err != nil {
		t.Fatal(err)
	}
	found[netip.MustParseAddr("198.51.100.1")] = record.AS{Number: 64999, Name: "LIVE"}
	lookup := ASNFrom(table, found)
	for ip, want := range map[string]record.AS{"198.51.100.1": {Number: 64500, Name: "TABLE"}, "192.0.2.7": {Number: 64512, Name: "FIRST"}, "203.0.113.1": {}} {
		n, name, ok := lookup(netip.MustParseAddr(ip))
		if n != want.Number || name != want.Name || ok != (want.Number != 0) {
			t.Errorf("%s: %d %q %v, want %v", ip, n, name, ok, want)
		}
	}
	if ASNFrom(nil, nil) != nil {
		t.Error("a lookup without table or findings")
	}
}
