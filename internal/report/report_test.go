package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var base = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fixture writes a small results directory whose tables are worked out by
// hand in TestTables:
//
//	A  2001:db8:a::1 Windows, 2 attempts associated with listed 192.0.2.1 (ports 1 apart), 1 unassociated
//	B  2001:db8:b::2aa:bbff:fecc:ddee (EUI-64) Linux, 1 attempt associated with listed 192.0.2.2 (1000 apart)
//	B' 2001:db8:b::99 (low byte) Linux, 1 attempt unassociated, in B's /64
//	C  2002:c000:203::c000:203 (6to4) Linux, associated with listed 192.0.2.3, address only
//	D  2001:db8:d::25 Linux, associated with 192.0.2.25 (not listed; ports 500 apart)
//	E  2001:db8:e::1 and ::2, 120 attempts over an hour, never associated (a misbehaving MTA)
//	F  2001:db8:f::1, 1 attempt, unassociated
//	G  198.51.100.7 listed, IPv4 only, 2 attempts; H 198.51.100.8, 1 attempt
func fixture(t testing.TB) string {
	dir := t.TempDir()
	var att, asc strings.Builder
	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339Nano) }
	a4 := func(d time.Duration, src string, sport, syns int, os string, listed bool) {
		fmt.Fprintf(&att, `{"first_seen":"%s","last_seen":"%s","family":"ipv4","src":"%s","sport":%d,"dst":"192.0.2.250","dport":25,"syns":%d,"os":"","os_class":"%s","dist":10,"raw_sig":"","blocklisted":%v}`+"\n",
			at(d), at(d), src, sport, syns, os, listed)
	}
	a6 := func(d time.Duration, src string, sport, syns int, os, kind string, v4 string, v4port int, v4d time.Duration, listed bool, ev string) {
		fmt.Fprintf(&att, `{"first_seen":"%s","last_seen":"%s","family":"ipv6","src":"%s","sport":%d,"dst":"2001:db8:25::25","dport":25,"syns":%d,"os":"","os_class":"%s","dist":10,"raw_sig":"","addr_type":"%s"}`+"\n",
			at(d), at(d), src, sport, syns, os, kind)
		ipv4 := "null"
		switch {
		case v4 != "" && v4port > 0:
			ipv4 = fmt.Sprintf(`{"src":"%s","sport":%d,"first_seen":"%s","blocklisted":%v}`, v4, v4port, at(v4d), listed)
		case v4 != "":
			ipv4 = fmt.Sprintf(`{"src":"%s","sport":null,"first_seen":null,"blocklisted":%v}`, v4, listed)
		}
		score := "0.0000"
		if v4 != "" {
			score = "0.9900"
		}
		evs := "[]"
		if ev != "" {
			evs = `["` + strings.ReplaceAll(ev, ",", `","`) + `"]`
		}
		fmt.Fprintf(&asc, `{"first_seen":"%s","src":"%s","sport":%d,"syns":%d,"os_class":"%s","addr_type":"%s","ipv4":%s,"score":%s,"evidence":%s,"spammer":%v}`+"\n",
			at(d), src, sport, syns, os, kind, ipv4, score, evs, v4 != "" && listed)
	}
	const s = time.Second
	// A, Windows: v6 first, 3 SYNs, then v4 on the next port.
	a6(1*s, "2001:db8:a::1", 50001, 3, "Windows", "other", "192.0.2.1", 50002, 3*s, true, "order:windows-fallback-gap(+3.0),stack:same-os(+1.0),port:adjacent(+4.0)")
	a4(3*s, "192.0.2.1", 50002, 3, "Windows", true)
	a6(601*s, "2001:db8:a::1", 50011, 3, "Windows", "other", "192.0.2.1", 50012, 603*s, true, "order:windows-fallback-gap(+3.0),stack:same-os(+1.0),port:adjacent(+4.0)")
	a4(603*s, "192.0.2.1", 50012, 3, "Windows", true)
	a6(1201*s, "2001:db8:a::1", 50021, 3, "Windows", "other", "", 0, 0, false, "")
	// B and B'.
	a6(120*s, "2001:db8:b::2aa:bbff:fecc:ddee", 41000, 1, "Linux", "eui64", "192.0.2.2", 40000, 120*s+50*time.Millisecond, true, "order:rst-roundtrip-gap(+3.0),stack:same-os(+1.0),history:same-ipv4-as-before(+2.0)")
	a4(120*s+50*time.Millisecond, "192.0.2.2", 40000, 1, "Linux", true)
	a6(900*s, "2001:db8:b::99", 41100, 1, "Linux", "low-byte", "", 0, 0, false, "")
	// C: 6to4, address only.
	a6(300*s, "2002:c000:203::c000:203", 33000, 1, "Linux", "6to4", "192.0.2.3", 0, 0, true, "embedded:6to4-gateway(address only)")
	// D: legitimate.
	a6(400*s, "2001:db8:d::25", 40000, 1, "Linux", "low-byte", "192.0.2.25", 40500, 400*s+20*time.Millisecond, false, "order:rst-roundtrip-gap(+3.0),stack:same-os(+1.0),ptr:same-name(+4.0)")
	a4(400*s+20*time.Millisecond, "192.0.2.25", 40500, 1, "Linux", false)
	// E: every 30 s for an hour, alternating two addresses. Three of
	// ::1's attempts were associated (wrongly): two with unlisted IPv4s, one
	// with a listed one, which the other two outvote.
	for i := range 120 {
		d := time.Duration(i)*30*s + 500*time.Millisecond
		src := fmt.Sprintf("2001:db8:e::%d", i%2+1)
		switch i {
		case 10, 20:
			a6(d, src, 25000, 1, "Linux", "low-byte", "198.51.100.99", 1000+i, d+time.Millisecond, false, "order:slow(+0.0)")
		case 30:
			a6(d, src, 25000, 1, "Linux", "low-byte", "192.0.2.1", 1000+i, d+time.Millisecond, true, "order:slow(+0.0)")
		default:
			a6(d, src, 25000, 1, "Linux", "low-byte", "", 0, 0, false, "")
		}
	}
	// F, G, H.
	a6(1500*s, "2001:db8:f::1", 55555, 1, "Mac OS X", "other", "", 0, 0, false, "")
	a4(700*s, "198.51.100.7", 1111, 1, "Linux", true)
	a4(701*s, "198.51.100.7", 1112, 1, "Linux", true)
	a4(800*s, "198.51.100.8", 2222, 1, "FreeBSD", false)
	// One garbage line each: skipped and counted.
	att.WriteString("{not json\n")
	asc.WriteString("garbage\n")
	if err := os.WriteFile(filepath.Join(dir, "attempts.jsonl"), []byte(att.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "associations.jsonl"), []byte(asc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTables(t *testing.T) {
	dir := fixture(t)
	r, err := Build(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Summary
	// Windows: 5 attempts of 3 SYNs; the other 130 attempts have one.
	want := Summary{Attempts4: 7, Attempts6: 128, SYNs: 5*3 + 130, Blocklisted4: 5, BlocklistedAddrs4: 3,
		Associated6: 8, AssociatedPct: 6.3, SpamAttemptsAssoc: 4, SpamAttemptsUnasc: 2, SpamHostsAssoc: 3, SpamHostsUnasc: 1,
		Spam64s: 3, SpamSharePct: 4.7, BlocklistedSharePct: 71.4, SpamDiscounted: 1}
	if s != want {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	if r.Input.BadLines != 2 || r.Input.AttemptLines != 135+1 {
		t.Errorf("input %+v", r.Input)
	}
	row := func(rows []SpammerRow, name string) SpammerRow {
		for _, x := range rows {
			if x.Name == name {
				return x
			}
		}
		t.Fatalf("no row %q", name)
		return SpammerRow{}
	}
	if got := row(r.OS, "Windows"); got != (SpammerRow{Name: "Windows", HostsAssoc: 1, HostsAssocPct: 25, AttemptsAssoc: 2, AttemptsAssocPct: 33.3, AttemptsUnasc: 1, AttemptsUnascPct: 16.7}) {
		t.Errorf("Windows row %+v", got)
	}
	if got := row(r.OS, "Linux"); got != (SpammerRow{Name: "Linux", HostsAssoc: 2, HostsAssocPct: 50, HostsUnasc: 1, HostsUnascPct: 25, AttemptsAssoc: 2, AttemptsAssocPct: 33.3, AttemptsUnasc: 1, AttemptsUnascPct: 16.7}) {
		t.Errorf("Linux row %+v", got)
	}
	for name, w := range map[string][4]int{"6to4": {1, 0, 1, 0}, "EUI-64": {1, 0, 1, 0}, "low-byte": {0, 1, 0, 1}, "other": {1, 0, 2, 1}, "Teredo": {}} {
		x := row(r.AddrTypes, name)
		if [4]int{x.HostsAssoc, x.HostsUnasc, x.AttemptsAssoc, x.AttemptsUnasc} != w {
			t.Errorf("address type %s: %+v, want %v", name, x, w)
		}
	}
	// Over time: 1-minute buckets over the hour.
	if r.OverTime.Bucket != "1m0s" || len(r.OverTime.Buckets) != 60 {
		t.Fatalf("over time: bucket %s, %d buckets", r.OverTime.Bucket, len(r.OverTime.Buckets))
	}
	var v4, a6, u6 int
	for _, b := range r.OverTime.Buckets {
		v4 += b.IPv4
		a6 += b.IPv6Assoc
		u6 += b.IPv6Unasc
	}
	if v4 != 5 || a6 != 4 || u6 != 2 || r.OverTime.Buckets[10].IPv4 != 1 || r.OverTime.Buckets[11].IPv4 != 2 {
		t.Errorf("over time: %d %d %d; minute 10: %+v", v4, a6, u6, r.OverTime.Buckets[10])
	}
	// SYNs: Windows's five attempts have 3 SYNs.
	if r.SYNs[0].OSClass != "Windows" || r.SYNs[0].Counts[2] != 5 || r.SYNs[0].Total != 5 {
		t.Errorf("SYNs %+v", r.SYNs)
	}
	// Port distance: Windows 1 and 1; Linux 500, 1000 and E's 23970,
	// 23980, 23990.
	if len(r.PortCDF) != 2 || r.PortCDF[0].Median != 1 || r.PortCDF[0].CDF[0] != 1 ||
		r.PortCDF[1].Pairs != 5 || r.PortCDF[1].Median != 23970 || r.PortCDF[1].CDF[6] != 0 || r.PortCDF[1].CDF[7] != 0.4 || r.PortCDF[1].CDF[10] != 1 {
		t.Errorf("port CDF %+v", r.PortCDF)
	}
	// The misbehaving MTA tops the busy /64s.
	b := r.Busy64s[0]
	if b.Prefix != netip.MustParsePrefix("2001:db8:e::/64") || b.Attempts != 120 || b.Addresses != 2 || b.Associated != 3 || b.Spammer != 1 || !b.Misbehaving {
		t.Errorf("busiest /64 %+v", b)
	}
	for _, x := range r.Busy64s[1:] {
		if x.Misbehaving {
			t.Errorf("%s marked misbehaving", x.Prefix)
		}
	}
	if len(r.Spam48s) != 3 || r.Spam48s[0].Prefix != netip.MustParsePrefix("2001:db8:a::/48") || r.Spam48s[0].Attempts != 3 {
		t.Errorf("spammer /48s %+v", r.Spam48s)
	}
	ev := map[string]int{}
	for _, f := range r.Evidence.Families {
		ev[f.Family] = f.Count
	}
	if r.Evidence.Associations != 7 || r.Evidence.AddressOnly != 1 || ev["order"] != 7 || ev["port"] != 2 || ev["ptr"] != 1 || ev["embedded"] != 0 {
		t.Errorf("evidence %+v", r.Evidence)
	}
	if len(r.Evidence.Scores) != 7 || r.Evidence.Scores[0].From != 0.5 || r.Evidence.Scores[6].From != 0.99 || r.Evidence.Scores[6].Count != 7 {
		t.Errorf("scores %+v", r.Evidence.Scores)
	}
}

func TestWindowAndASN(t *testing.T) {
	dir := fixture(t)
	r, err := Build(dir, Config{
		Window: windowFor(base.Add(10*time.Minute), base.Add(20*time.Minute)),
		ASN: func(ip netip.Addr) (uint32, string, bool) {
			if netip.MustParsePrefix("2001:db8::/32").Contains(ip) {
				return 64500, "EXAMPLE-NET", true
			}
			return 0, "", false
		},
		Bucket: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	// In [10m, 20m): A's second attempt (associated), B' (unassociated, its
	// /64's spammer B is outside the window, so not a spammer here), 20 of
	// E's, whose two associations here tie (not a majority: discounted).
	if r.Summary.SpamAttemptsAssoc != 1 || r.Summary.SpamAttemptsUnasc != 0 || r.Summary.Attempts6 != 22 || r.Summary.SpamDiscounted != 1 || r.Input.Filtered == 0 {
		t.Errorf("window: %+v %+v", r.Summary, r.Input)
	}
	if r.OverTime.Bucket != "5m0s" || len(r.SpamASNs) != 1 || r.SpamASNs[0].ASN != 64500 || r.SpamASNs[0].Hosts != 1 || r.Busy64s[0].ASName != "EXAMPLE-NET" {
		t.Errorf("bucket %s ASNs %+v busy %+v", r.OverTime.Bucket, r.SpamASNs, r.Busy64s[0])
	}
}

func TestCompare(t *testing.T) {
	dir := fixture(t)
	other := t.TempDir()
	// The other run associated nothing but D, with another IPv4 attempt.
	b, _ := os.ReadFile(filepath.Join(dir, "associations.jsonl"))
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Contains(l, `"src":"2001:db8:d::25"`) {
			out = append(out, strings.Replace(l, `"sport":40500`, `"sport":40501`, 1))
		} else if strings.HasPrefix(l, "{") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				m["ipv4"], m["spammer"] = nil, false
				j, _ := json.Marshal(m)
				out = append(out, string(j))
			}
		}
	}
	if err := os.WriteFile(filepath.Join(other, "associations.jsonl"), []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir, Config{Compare: other})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Comparison
	if c.ThisAssociated != 7 || c.OtherAssociated != 1 || c.DifferentIPv4 != 1 || c.SameIPv4 != 0 || c.OnlyThis != 6 || c.OnlyOther != 0 ||
		c.ThisSpammer != 5 || c.OtherSpammer != 0 || c.SpammerAgreement != 128-5 {
		t.Errorf("comparison %+v", c)
	}
}

// TestGolden renders the fixture in every format and compares with
// testdata/golden.*; go test ./internal/report -update rewrites them.
func TestGolden(t *testing.T) {
	dir := fixture(t)
	r, err := Build(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	r.Input.Dir = "RESULTS" // the temporary directory's name varies
	for _, format := range Formats {
		var b bytes.Buffer
		if err := Write(&b, r, format); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden."+map[string]string{"text": "txt"}[format])
		if format != "text" {
			path = filepath.Join("testdata", "golden."+format)
		}
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/report -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s output differs from %s (run go test ./internal/report -update and review the diff)", format, path)
		}
	}
	// A single CSV table, for scripts.
	var b bytes.Buffer
	if err := WriteCSV(&b, r, "os"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "OS,hosts assoc,hosts assoc %,hosts unassoc,hosts unassoc %,attempts assoc,attempts assoc %,attempts unassoc,attempts unassoc %\nWindows,1,25.0,0,0.0,2,33.3,1,16.7\n") {
		t.Errorf("csv os table:\n%s", b.String())
	}
	if err := WriteCSV(&b, r, "nope"); err == nil {
		t.Error("unknown table accepted")
	}
}

func TestHTMLSelfContained(t *testing.T) {
	r, err := Build(fixture(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, bad := range []string{"<script", " src=", "<link", "url(", "@import", "https://"} {
		if strings.Contains(h, bad) {
			t.Errorf("the HTML report contains %q: it must render offline with nothing fetched", bad)
		}
	}
	if n := strings.Count(h, `<figure class="fig"><svg`); n != 6 {
		t.Errorf("%d figures, want 6", n)
	}
}

func TestMissingDir(t *testing.T) {
	if _, err := Build(t.TempDir(), Config{}); err == nil || !strings.Contains(err.Error(), "not a results directory") {
		t.Errorf("err = %v", err)
	}
}

func windowFor(since, until time.Time) (w record.Window) {
	w.Since, w.Until = since, until
	return
}
