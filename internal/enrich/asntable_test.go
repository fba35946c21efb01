package enrich

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testTable = `# offline ASN table: prefix<TAB>asn<TAB>name
0.0.0.0/0	64999	DEFAULT-ROUTE
192.0.2.0/24	64500	EXAMPLE-NET - Example, US
192.0.2.128/25	AS64501	HALF-NET

192.0.2.130	64502	ONE-HOST
   # indented comment
2001:db8::/32	64503	V6-NET, DE
2001:db8:1::/48	64504
::ffff:198.51.100.0/120	64505	MAPPED-WRITTEN
garbage line
192.0.2.0/33	64500	too long
10.0.0.0/8	ASX	bad asn
10.0.0.0/8
203.0.113.0/24	4294967296	asn too big
198.51.100.7/24	64506	NOT-MASKED` + "\r\n" + `2001:db8:2::/48	64507	TABS	IN	NAME
`

func TestASNTableLongestPrefix(t *testing.T) {
	tab, err := ReadASNTable(strings.NewReader(testTable))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip     string
		asn    uint32
		name   string
		prefix string
	}{
		{"192.0.2.1", 64500, "EXAMPLE-NET - Example, US", "192.0.2.0/24"},
		{"192.0.2.127", 64500, "EXAMPLE-NET - Example, US", "192.0.2.0/24"},
		{"192.0.2.129", 64501, "HALF-NET", "192.0.2.128/25"},
		{"192.0.2.130", 64502, "ONE-HOST", "192.0.2.130/32"},
		{"::ffff:192.0.2.130", 64502, "ONE-HOST", "192.0.2.130/32"},
		{"192.0.2.131", 64501, "HALF-NET", "192.0.2.128/25"},
		{"198.51.100.1", 64506, "NOT-MASKED", "198.51.100.0/24"}, // the later line wins
		{"8.8.8.8", 64999, "DEFAULT-ROUTE", "0.0.0.0/0"},
		{"2001:db8::1", 64503, "V6-NET, DE", "2001:db8::/32"},
		{"2001:db8:1:2::1", 64504, "", "2001:db8:1::/48"},
		{"2001:db8:2::1", 64507, "TABS\tIN\tNAME", "2001:db8:2::/48"},
	} {
		e, ok := tab.Lookup(netip.MustParseAddr(c.ip))
		if !ok || e.ASN != c.asn || e.Name != c.name || e.Prefix != netip.MustParsePrefix(c.prefix) {
			t.Errorf("%s: got %+v %v, want %d %q %s", c.ip, e, ok, c.asn, c.name, c.prefix)
		}
	}
	for _, ip := range []string{"2001:db9::1", "::1"} {
		if e, ok := tab.Lookup(netip.MustParseAddr(ip)); ok {
			t.Errorf("%s: matched %+v", ip, e)
		}
	}
	if _, ok := tab.Lookup(netip.Addr{}); ok {
		t.Error("zero address matched")
	}
	if tab.Len() != 8 {
		t.Errorf("Len %d, want 8", tab.Len())
	}
	if tab.BadLines() != 5 {
		t.Errorf("BadLines %d, want 5: %v", tab.BadLines(), tab.LineErrors())
	}
	var lines []int
	for _, le := range tab.LineErrors() {
		lines = append(lines, le.Line)
		if !strings.HasPrefix(le.Error(), "line ") {
			t.Errorf("line error %q", le.Error())
		}
	}
	if want := []int{11, 12, 13, 14, 15}; !slices.Equal(lines, want) {
		t.Errorf("bad lines %v, want %v", lines, want)
	}
}

func TestASNTableManyBadLines(t *testing.T) {
	var b strings.Builder
	for range 250 {
		b.WriteString("nonsense\n")
	}
	b.WriteString("192.0.2.0/24\t64500\tLAST") // no final newline
	tab, err := ReadASNTable(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if tab.BadLines() != 250 || len(tab.LineErrors()) != maxLineErrors || tab.Len() != 1 {
		t.Errorf("bad %d, kept %d, len %d", tab.BadLines(), len(tab.LineErrors()), tab.Len())
	}
	if e, ok := tab.Lookup(netip.MustParseAddr("192.0.2.9")); !ok || e.Name != "LAST" {
		t.Errorf("last line: %+v %v", e, ok)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestASNTableReadError(t *testing.T) {
	if _, err := ReadASNTable(failingReader{}); err == nil {
		t.Error("read error ignored")
	}
	if _, err := LoadASNTable(filepath.Join(t.TempDir(), "missing.tsv")); err == nil {
		t.Error("missing file accepted")
	}
}

func writeTable(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "asn.tsv")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnricherOfflineTable: an air-gapped configuration, the table only.
func TestEnricherOfflineTable(t *testing.T) {
	cfg := testConfig(closedPort(t)) // no DNS server at all
	cfg.ASNTable = writeTable(t, testTable)
	cfg.CymruOriginZone, cfg.CymruOrigin6Zone, cfg.CymruASNZone = "", "", ""
	e := newTestEnricher(t, cfg)
	if e.Table() == nil || e.Table().BadLines() != 5 {
		t.Fatalf("table %+v", e.Table())
	}
	r, err := e.LookupASN(context.Background(), netip.MustParseAddr("2001:db8::7"))
	if err != nil || r.Source != SourceTable || !slices.Equal(r.Origins, []ASN{{Number: 64503, Name: "V6-NET, DE"}}) ||
		r.Prefix != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("got %+v, %v", r, err)
	}
	r, err = e.LookupASN(context.Background(), netip.MustParseAddr("2001:db9::7"))
	if err != nil || r.Source != "" || r.Origins != nil {
		t.Errorf("unmatched: got %+v, %v", r, err)
	}
	if st := e.Stats(); st.Queries != 0 {
		t.Errorf("%d DNS queries, want none", st.Queries)
	}
}

// TestEnricherTableThenCymru: the table first, Team Cymru for the rest.
func TestEnricherTableThenCymru(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.ASNTable = writeTable(t, "2001:db8:1::/48\t65001\tFROM-TABLE\n")
	e := newTestEnricher(t, cfg)
	r, err := e.LookupASN(context.Background(), piped6)
	if err != nil || r.Source != SourceTable || r.Origins[0].Number != 65001 {
		t.Errorf("table: got %+v, %v", r, err)
	}
	r, err = e.LookupASN(context.Background(), listed6)
	if err != nil || r.Source != SourceCymru || r.Origins[0].Number != 64503 {
		t.Errorf("cymru: got %+v, %v", r, err)
	}
}

func TestNewBadTable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ASNTable = filepath.Join(t.TempDir(), "missing.tsv")
	if _, err := New(cfg, nil); err == nil {
		t.Error("missing table accepted")
	}
}
