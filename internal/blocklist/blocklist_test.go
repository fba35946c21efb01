package blocklist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// assocLine returns one associations.jsonl line.
func assocLine(t *testing.T, at, src, v4 string, score float64, spammer bool, evidence ...string) string {
	t.Helper()
	var ipv4 any
	if v4 != "" {
		ipv4 = map[string]any{"src": v4, "sport": nil, "first_seen": nil, "blocklisted": spammer}
	}
	if evidence == nil {
		evidence = []string{}
	}
	b, err := json.Marshal(map[string]any{"first_seen": at, "src": src, "sport": 40000, "syns": 3, "os_class": "windows",
		"addr_type": "slaac-privacy", "ipv4": ipv4, "score": score, "evidence": evidence, "spammer": spammer})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample is a small associations.jsonl: two spammer /64s (one with two
// addresses), a spammer under the score, a non-spammer, an IPv4-mapped
// source, a line outside most windows and two bad lines.
func sample(t *testing.T) string {
	lines := []string{
		assocLine(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.9", 4.2, true, "order:rst-roundtrip-gap(+3.0)", "stack:mss(+1.2)"),
		assocLine(t, "2026-11-27T11:30:00.5Z", "2001:db8:1:2::11", "192.0.2.1", 0.7, true, "port:shared-pool(+0.7)"),
		assocLine(t, "2026-11-26T12:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 2.0, true, "order:fallback(+2.0)"),
		assocLine(t, "2026-11-26T13:00:00Z", "2001:db8:1:3::1", "198.51.100.7", 0.5, true, "clock:tsval(+0.5)"),
		assocLine(t, "2026-11-26T14:00:00Z", "2001:db8:1:4::1", "198.51.100.8", 0.49, true, "clock:tsval(+0.49)"),
		assocLine(t, "2026-11-26T15:00:00Z", "2001:db8:1:5::1", "", 0, false),
		assocLine(t, "2026-11-26T16:00:00Z", "::ffff:192.0.2.55", "192.0.2.55", 9, true, "embedded:mapped(+9)"),
		assocLine(t, "2026-12-01T00:00:00Z", "2001:db8:2::1", "203.0.113.1", 3, true, "history:prefix(+3)"),
		`{"first_seen": "yesterday"}`,
		`not json at all`,
		"",
	}
	return strings.Join(lines, "\n") + "\n"
}

func build(t *testing.T, data string, o Options) *List {
	t.Helper()
	l, err := Build(strings.NewReader(data), o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func prefixes(l *List) []string {
	var s []string
	for _, e := range l.Entries {
		s = append(s, e.Prefix.String())
	}
	return s
}

func TestBlocklistAggregate64(t *testing.T) {
	l := build(t, sample(t), DefaultOptions())
	if got, want := prefixes(l), []string{"2001:db8:1:2::/64", "2001:db8:1:3::/64", "2001:db8:2::/64"}; !slices.Equal(got, want) {
		t.Fatalf("prefixes %v, want %v", got, want)
	}
	e := l.Entries[0]
	want := Entry{
		Prefix:    netip.MustParsePrefix("2001:db8:1:2::/64"),
		FirstSeen: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		LastSeen:  time.Date(2026, 11, 27, 11, 30, 0, 5e8, time.UTC),
		Attempts:  3, Addresses: 2,
		IPv4:     []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")},
		MaxScore: 4.2, Evidence: []string{"order", "port", "stack"},
	}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("entry\n%+v\nwant\n%+v", e, want)
	}
	// Score exactly at the minimum counts.
	if l.Entries[1].Attempts != 1 || l.Entries[1].MaxScore != 0.5 {
		t.Errorf("boundary score entry %+v", l.Entries[1])
	}
	st := l.Stats
	if st.Lines != 11 || st.Bad != 2 || st.Spammer != 5 || st.BelowScore != 1 || st.Ignored != 1 || st.Filtered != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(st.FirstBad, "line 9") {
		t.Errorf("first bad %q", st.FirstBad)
	}
}

func TestBlocklistPrefixLengths(t *testing.T) {
	for _, c := range []struct {
		bits int
		want []string
	}{
		{128, []string{"2001:db8:1:2::10/128", "2001:db8:1:2::11/128", "2001:db8:1:3::1/128", "2001:db8:2::1/128"}},
		{48, []string{"2001:db8:1::/48", "2001:db8:2::/48"}},
		{32, []string{"2001:db8::/32"}},
	} {
		o := DefaultOptions()
		o.PrefixLen = c.bits
		l := build(t, sample(t), o)
		if got := prefixes(l); !slices.Equal(got, c.want) {
			t.Errorf("/%d: %v, want %v", c.bits, got, c.want)
		}
		if c.bits == 128 && l.Entries[0].Attempts != 2 {
			t.Errorf("/128 entry %+v", l.Entries[0])
		}
		if c.bits == 48 {
			e := l.Entries[0]
			if e.Attempts != 4 || e.Addresses != 3 || len(e.IPv4) != 3 || !slices.Equal(e.Evidence, []string{"clock", "order", "port", "stack"}) {
				t.Errorf("/48 entry %+v", e)
			}
		}
	}
	for _, bad := range []int{0, 31, 129} {
		if _, err := Build(strings.NewReader(""), Options{PrefixLen: bad}); err == nil {
			t.Errorf("prefix %d accepted", bad)
		}
	}
}

func TestBlocklistMinScoreAndWindow(t *testing.T) {
	o := DefaultOptions()
	o.MinScore = 2
	if got, want := prefixes(build(t, sample(t), o)), []string{"2001:db8:1:2::/64", "2001:db8:2::/64"}; !slices.Equal(got, want) {
		t.Errorf("min-score 2: %v, want %v", got, want)
	}
	o = DefaultOptions()
	o.Window = record.Window{Since: time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	l := build(t, sample(t), o)
	if got, want := prefixes(l), []string{"2001:db8:1:2::/64", "2001:db8:1:3::/64"}; !slices.Equal(got, want) {
		t.Errorf("window: %v, want %v", got, want)
	}
	// The 10:00 attempt is out: first_seen moves to 12:00 and 192.0.2.9 goes.
	e := l.Entries[0]
	if e.Attempts != 2 || !e.FirstSeen.Equal(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)) || len(e.IPv4) != 1 {
		t.Errorf("windowed entry %+v", e)
	}
	if l.Stats.Filtered != 2 {
		t.Errorf("filtered %d, want 2", l.Stats.Filtered)
	}
	o.Window = record.Window{Since: o.Window.Until, Until: o.Window.Since}
	if _, err := Build(strings.NewReader(""), o); err == nil {
		t.Error("empty window accepted")
	}
}

func TestBlocklistIPv4KeepsFiveSmallest(t *testing.T) {
	var lines []string
	for i := 9; i >= 1; i-- {
		lines = append(lines, assocLine(t, "2026-11-26T10:00:00Z", "2001:db8::1", fmt.Sprintf("192.0.2.%d", i), 1, true, "order:x(+1)"))
	}
	lines = append(lines, assocLine(t, "2026-11-26T10:00:00Z", "2001:db8::1", "192.0.2.3", 1, true, "nofamily"))
	l := build(t, strings.Join(lines, "\n"), DefaultOptions())
	e := l.Entries[0]
	if fmt.Sprint(e.IPv4) != "[192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5]" {
		t.Errorf("ipv4 %v", e.IPv4)
	}
	if !slices.Equal(e.Evidence, []string{"nofamily", "order"}) {
		t.Errorf("evidence %v", e.Evidence)
	}
}

func TestBlocklistFamily(t *testing.T) {
	for in, want := range map[string]string{
		"order:rst-roundtrip-gap(+3.0)": "order",
		"stack:mss:v6=v4-20(+1.0)":      "stack",
		"embedded":                      "embedded",
		"":                              "",
	} {
		if got := Family(in); got != want {
			t.Errorf("Family(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBlocklistBuildDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := BuildDir(dir, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "not a results directory") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, record.AssociationsFile), []byte(sample(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := BuildDir(dir, DefaultOptions())
	if err != nil || len(l.Entries) != 3 || l.Stats.Bad != 2 {
		t.Fatalf("BuildDir: %v %+v", err, l)
	}
}

var genTime = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func TestBlocklistFormats(t *testing.T) {
	o := DefaultOptions()
	o.Window.Until = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	l := build(t, sample(t), o)
	var b bytes.Buffer
	if err := Write(&b, l, FormatRbldnsd, genTime); err != nil {
		t.Fatal(err)
	}
	want := `# mxsensor blocklist: IPv6 prefixes from which connect() attempts labelled spammer were seen
# rbldnsd ip6trie dataset, e.g. rbldnsd ... bl6.example:ip6trie:FILE
# generated 2026-11-27T08:00:00Z
# parameters: prefix /64, min-score 0.5, since -, until 2026-11-28T00:00:00Z
# 2 entries from 4 spammer attempts; 11 lines read, 2 bad lines skipped, 1 outside the window, 1 spammer attempts under the score, 1 not listable
:127.0.0.2:mxsensor: spam
# RFC 5782: ::ffff:7f00:2 must be listed, ::ffff:7f00:1 must not
::ffff:7f00:2 :127.0.0.2:RFC 5782 test point
2001:db8:1:2::/64 :127.0.0.2:mxsensor: spam via IPv4 192.0.2.1 (+1); 3 attempts since 2026-11-26; evidence order,port,stack
2001:db8:1:3::/64 :127.0.0.2:mxsensor: spam via IPv4 198.51.100.7; 1 attempt since 2026-11-26; evidence clock
`
	if b.String() != want {
		t.Errorf("rbldnsd:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := Write(&b, l, FormatPlain, genTime); err != nil {
		t.Fatal(err)
	}
	if want := "2001:db8:1:2::/64\n2001:db8:1:3::/64\n"; b.String() != want {
		t.Errorf("plain %q, want %q", b.String(), want)
	}

	b.Reset()
	if err := Write(&b, l, FormatJSON, genTime); err != nil {
		t.Fatal(err)
	}
	want = `{"prefix":"2001:db8:1:2::/64","first_seen":"2026-11-26T10:00:00Z","last_seen":"2026-11-27T11:30:00.5Z","attempts":3,"addresses":2,"ipv4":["192.0.2.1","192.0.2.9"],"max_score":4.2,"evidence":["order","port","stack"]}
{"prefix":"2001:db8:1:3::/64","first_seen":"2026-11-26T13:00:00Z","last_seen":"2026-11-26T13:00:00Z","attempts":1,"addresses":1,"ipv4":["198.51.100.7"],"max_score":0.5,"evidence":["clock"]}
`
	if b.String() != want {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), want)
	}

	// JSON reads back to the same entries, so the same TXT reasons.
	back, err := ReadList(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Entries) != fmt.Sprint(l.Entries) {
		t.Errorf("json round trip\n%+v\nwant\n%+v", back.Entries, l.Entries)
	}

	// An empty list still has the header, the default and the test point.
	b.Reset()
	if err := Write(&b, &List{Options: DefaultOptions()}, FormatRbldnsd, genTime); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "::ffff:7f00:2 :127.0.0.2:RFC 5782 test point\n") {
		t.Errorf("empty rbldnsd:\n%s", b.String())
	}
	if _, err := ParseFormat("bind"); err == nil {
		t.Error("format bind accepted")
	}
	if f, err := ParseFormat(" JSON "); err != nil || f != FormatJSON {
		t.Errorf("ParseFormat(JSON) = %q, %v", f, err)
	}
}

func TestBlocklistReadList(t *testing.T) {
	in := `# comment
2001:db8:1::/48
2001:db8:2::1
  2001:db8:3::5/64

{"prefix":"2001:db8:4::/64","first_seen":"2026-11-26T10:00:00Z","last_seen":"2026-11-26T10:00:00Z","attempts":2,"addresses":1,"ipv4":["192.0.2.1"],"max_score":1,"evidence":["order"]}
2001:db8:1::/48
192.0.2.0/24
::ffff:7f00:0/120
::/0
not-a-prefix
{"prefix":
` + "{" + strings.Repeat(" ", 2<<20) + "}\n2001:db8:5::/64\n"
	l, err := ReadList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prefixes(l), []string{"2001:db8:1::/48", "2001:db8:2::1/128", "2001:db8:3::/64", "2001:db8:4::/64", "2001:db8:5::/64"}; !slices.Equal(got, want) {
		t.Errorf("prefixes %v, want %v", got, want)
	}
	if l.Stats.Bad != 6 || l.Stats.TooLong != 1 || l.Stats.Spammer != 2 || !strings.Contains(l.Stats.FirstBad, "line 8") {
		t.Errorf("stats %+v", l.Stats)
	}
	if r := Reason(l.Entries[0]); r != "mxsensor: spam" {
		t.Errorf("plain reason %q", r)
	}
	if r := Reason(l.Entries[3]); r != "mxsensor: spam via IPv4 192.0.2.1; 2 attempts since 2026-11-26; evidence order" {
		t.Errorf("json reason %q", r)
	}
}

// The reason fits one TXT string however many addresses and families an
// entry read from a list holds, and is cut after a whole item.
func TestBlocklistReasonBounded(t *testing.T) {
	e := Entry{Attempts: 1 << 30, FirstSeen: genTime, LastSeen: genTime.Add(48 * time.Hour)}
	for i := range 200 {
		e.IPv4 = append(e.IPv4, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	for i := range 100 {
		e.Evidence = append(e.Evidence, fmt.Sprintf("family%02d", i))
	}
	e.Evidence[1] = "bad$\"#\\\n\u00e9"
	r := Reason(e)
	if len(r) > MaxReason || strings.ContainsAny(r, "$\"\\#\n") || strings.ContainsFunc(r, func(c rune) bool { return c > 0x7e }) {
		t.Errorf("reason %d bytes: %q", len(r), r)
	}
	const head = "mxsensor: spam via IPv4 203.0.113.0 (+199); 1073741824 attempts since 2026-11-27; evidence family00,bad______"
	if !strings.HasPrefix(r, head+",family02,") || !strings.HasSuffix(r, "...") || len(r) < MaxReason-len(",family99...") {
		t.Errorf("reason %q", r)
	}
	// Cut after a whole family: the last one before "..." is complete.
	items := strings.Split(strings.TrimSuffix(r, "..."), ",")
	if last := items[len(items)-1]; len(last) != len("family00") {
		t.Errorf("cut inside an item: %q", r)
	}

	// One long word: cut inside it, still bounded.
	long := Reason(Entry{Evidence: []string{strings.Repeat("x", 1000)}})
	if len(long) != MaxReason || !strings.HasSuffix(long, "x...") {
		t.Errorf("long word: %d bytes %q", len(long), long)
	}
	if r := Reason(Entry{}); r != "mxsensor: spam" {
		t.Errorf("generic %q", r)
	}
}

// A source's associations vote: one listed IPv4 among more unlisted ones
// (a busy host wrongly associated once) does not list it, and a tie does
// not either.
func TestBlocklistHostVote(t *testing.T) {
	data := strings.Join([]string{
		// A misbehaving MTA: two associations with unlisted IPv4s, one with a listed one.
		assocLine(t, "2026-11-26T10:00:00Z", "2001:db8:e::1", "198.51.100.1", 0.9, false),
		assocLine(t, "2026-11-26T10:00:30Z", "2001:db8:e::1", "198.51.100.2", 0.9, false),
		assocLine(t, "2026-11-26T10:01:00Z", "2001:db8:e::1", "192.0.2.1", 0.9, true, "order:x(+3.0)"),
		assocLine(t, "2026-11-26T10:02:00Z", "2001:db8:e::1", "", 0, false), // unassociated: no vote
		// A tie.
		assocLine(t, "2026-11-26T10:00:00Z", "2001:db8:f::1", "198.51.100.3", 0.9, false),
		assocLine(t, "2026-11-26T10:01:00Z", "2001:db8:f::1", "192.0.2.2", 0.9, true),
		// A spammer: two listed, one unlisted.
		assocLine(t, "2026-11-26T10:00:00Z", "2001:db8:a::1", "192.0.2.3", 0.9, true),
		assocLine(t, "2026-11-26T10:01:00Z", "2001:db8:a::1", "192.0.2.3", 0.9, true),
		assocLine(t, "2026-11-26T10:02:00Z", "2001:db8:a::1", "198.51.100.4", 0.9, false),
	}, "\n") + "\n"
	l := build(t, data, DefaultOptions())
	if got := prefixes(l); !slices.Equal(got, []string{"2001:db8:a::/64"}) {
		t.Errorf("listed %v, want only the spammer's /64", got)
	}
	if l.Stats.Outvoted != 2 || l.Stats.Spammer != 2 || l.Entries[0].Attempts != 2 {
		t.Errorf("stats %+v entries %+v", l.Stats, l.Entries)
	}
}

// A Teredo source is listed alone: its /64 holds other clients of the same
// Teredo server.
func TestBlocklistTeredoAlone(t *testing.T) {
	data := assocLine(t, "2026-11-26T10:00:00Z", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45", 0.9, true) + "\n"
	l := build(t, data, DefaultOptions())
	if got := prefixes(l); !slices.Equal(got, []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2/128"}) {
		t.Errorf("listed %v", got)
	}
}
