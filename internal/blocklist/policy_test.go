package blocklist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// nets returns spammer attempts from n /64s of 2001:db8:5::/48 (the i-th
// at 2001:db8:5:i::1, an hour apart from t0), associated with 192.0.2.i.
func nets(t *testing.T, n int, t0 time.Time) []string {
	var lines []string
	for i := 1; i <= n; i++ {
		at := t0.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		lines = append(lines, assocLine(t, at, fmt.Sprintf("2001:db8:5:%x::1", i), fmt.Sprintf("192.0.2.%d", i), float64(i), true, "order:x(+1)"))
	}
	return lines
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func applied(t *testing.T, l *List, p Policy) *List {
	t.Helper()
	out, err := l.Apply(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWidenAtBoundary: N /64s in one /48 widen to it; N-1 do not.
func TestWidenAtBoundary(t *testing.T) {
	const n = 4
	p := Policy{WidenAt: n, WidenTo: 48}
	lines := append(nets(t, n, t0),
		// a Teredo address and another network: never widened
		assocLine(t, "2026-11-02T00:00:00Z", "2001:0:5:1::1", "192.0.2.50", 1, true, "stack:y(+1)"),
		assocLine(t, "2026-11-02T00:00:00Z", "2001:0:5:2::1", "192.0.2.51", 1, true, "stack:y(+1)"),
		assocLine(t, "2026-11-02T00:00:00Z", "2001:0:5:3::1", "192.0.2.52", 1, true, "stack:y(+1)"),
		assocLine(t, "2026-11-02T00:00:00Z", "2001:0:5:4::1", "192.0.2.53", 1, true, "stack:y(+1)"),
		assocLine(t, "2026-11-02T00:00:00Z", "2001:db8:9:1::1", "192.0.2.60", 1, true, "stack:y(+1)"))
	l := applied(t, build(t, strings.Join(lines, "\n"), DefaultOptions()), p)
	want := []string{"2001:0:5:1::1/128", "2001:0:5:2::1/128", "2001:0:5:3::1/128", "2001:0:5:4::1/128", "2001:db8:5::/48", "2001:db8:9:1::/64"}
	if got := prefixes(l); !slices.Equal(got, want) {
		t.Fatalf("widened: %v, want %v", got, want)
	}
	w := l.Entries[4]
	if w.WidenedFrom != n || w.Attempts != n || w.Addresses != n || w.MaxScore != n ||
		!w.FirstSeen.Equal(t0.Add(time.Hour)) || !w.LastSeen.Equal(t0.Add(n*time.Hour)) ||
		fmt.Sprint(w.IPv4) != "[192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4]" || !slices.Equal(w.Evidence, []string{"order"}) {
		t.Errorf("widened entry %+v", w)
	}
	if r := Reason(w); !strings.Contains(r, "widened from 4 listed prefixes") {
		t.Errorf("reason %q", r)
	}
	if l.Stats.Widened != 1 || l.Stats.WidenedFrom != n {
		t.Errorf("stats %+v", l.Stats)
	}

	l = applied(t, build(t, strings.Join(nets(t, n-1, t0), "\n"), DefaultOptions()), p)
	if got := prefixes(l); len(got) != n-1 || l.Stats.Widened != 0 {
		t.Errorf("%d /64s widened: %v", n-1, got)
	}
	// /56: the four /64s are in 2001:db8:5::/56 too.
	l = applied(t, build(t, strings.Join(nets(t, n, t0), "\n"), DefaultOptions()), Policy{WidenAt: n, WidenTo: 56})
	if got := prefixes(l); !slices.Equal(got, []string{"2001:db8:5::/56"}) {
		t.Errorf("/56: %v", got)
	}
}

// TestWidenNotAcrossAllowlist: an allowlisted /64 inside a /48 that
// would widen keeps the /48 out and is itself not listed.
func TestWidenNotAcrossAllowlist(t *testing.T) {
	const n = 4
	allow := NewAllowlist([]netip.Prefix{netip.MustParsePrefix("2001:db8:5:2::/64")})
	l := build(t, strings.Join(nets(t, n+1, t0), "\n"), DefaultOptions())
	got := applied(t, l, Policy{WidenAt: n, WidenTo: 48, Allow: allow})
	want := []string{"2001:db8:5:1::/64", "2001:db8:5:3::/64", "2001:db8:5:4::/64", "2001:db8:5:5::/64"}
	if p := prefixes(got); !slices.Equal(p, want) {
		t.Errorf("with 2001:db8:5:2::/64 allowlisted: %v, want %v", p, want)
	}
	if got.Stats.Allowlisted != 1 || got.Stats.Widened != 0 {
		t.Errorf("stats %+v", got.Stats)
	}
	// Without the allowlist the five widen.
	if p := prefixes(applied(t, l, Policy{WidenAt: n, WidenTo: 48})); !slices.Equal(p, []string{"2001:db8:5::/48"}) {
		t.Errorf("without: %v", p)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{WidenAt: 2, WidenTo: 40}, {WidenAt: 2}, {WidenAt: -1}, {Expire: -time.Second}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := (Policy{WidenAt: 2, WidenTo: 56, Expire: time.Hour}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestAllowlistOverlaps(t *testing.T) {
	a, err := ReadAllowlist(strings.NewReader(`# providers' outbound MTAs
2001:db8:aa::/48   # a provider
2001:db8:bb:1::25
192.0.2.0/24

2001:db8:cc::1/56
`), "allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 || a.IPv4 != 1 {
		t.Errorf("len %d ipv4 %d", a.Len(), a.IPv4)
	}
	for p, want := range map[string]bool{
		"2001:db8:aa:7::/64":   true, // inside
		"2001:db8::/32":        true, // holds it
		"2001:db8:bb:1::/64":   true, // holds the address
		"2001:db8:bb:2::/64":   false,
		"2001:db8:cc:ff::/64":  true, // the /56 was given unmasked
		"2001:db8:cc:100::/64": false,
		"2001:db8:ab::/48":     false,
		"::ffff:c000:200/120":  false, // IPv4 lines have no effect
	} {
		if got := a.Overlaps(netip.MustParsePrefix(p)); got != want {
			t.Errorf("%s: overlaps %v, want %v", p, got, want)
		}
	}
	var none *Allowlist
	if none.Overlaps(netip.MustParsePrefix("::/0")) {
		t.Error("nil allowlist overlaps")
	}
}

func TestAllowlistGarbage(t *testing.T) {
	for _, in := range []string{"2001:db8::/48\nmail.example.org\n", "2001:db8::/48\n2001:db8::/129\n", "2001:db8::/48\nfe80::1%eth0\n"} {
		_, err := ReadAllowlist(strings.NewReader(in), "allow.txt")
		if err == nil || !strings.HasPrefix(err.Error(), "allow.txt:2: ") {
			t.Errorf("%q: %v, want an error naming allow.txt:2", in, err)
		}
	}
}

// TestExpiryBoundary: an entry lives until LastSeen+expire, excluded.
func TestExpiryBoundary(t *testing.T) {
	const expire = 30 * 24 * time.Hour
	l := build(t, strings.Join(nets(t, 1, t0), "\n"), DefaultOptions())
	end := l.Entries[0].LastSeen.Add(expire)
	if got := applied(t, l, Policy{Expire: expire, Now: end.Add(-time.Second)}); len(got.Entries) != 1 || got.Stats.Expired != 0 {
		t.Errorf("one second before: %v %+v", prefixes(got), got.Stats)
	}
	for _, now := range []time.Time{end, end.Add(time.Second)} {
		if got := applied(t, l, Policy{Expire: expire, Now: now}); len(got.Entries) != 0 || got.Stats.Expired != 1 {
			t.Errorf("at %s: %v %+v", now.Sub(end), prefixes(got), got.Stats)
		}
	}
	if got := applied(t, l, Policy{Now: end.Add(time.Hour)}); len(got.Entries) != 1 {
		t.Errorf("expire 0 expired it")
	}
}

// TestRelisted: gaps of at least the expiry between attempts of a prefix
// count as relistings, whichever source of the prefix sent them, and in a
// widened entry across its /64s.
func TestRelisted(t *testing.T) {
	const expire = 10 * 24 * time.Hour
	day := func(d int, src string) string {
		return assocLine(t, t0.AddDate(0, 0, d).Format(time.RFC3339), src, "192.0.2.1", 1, true, "order:x(+1)")
	}
	lines := []string{
		day(0, "2001:db8:5:1::1"), day(9, "2001:db8:5:1::2"), // one listing
		day(19, "2001:db8:5:1::1"), // 10 days after: relisted
		day(40, "2001:db8:5:1::2"), // relisted again
		day(5, "2001:db8:5:1::3"),  // out of order, inside the first listing
		day(35, "2001:db8:5:2::1"), // the other /64: joins the 3rd listing of the /48
	}
	o := DefaultOptions()
	o.Expire = expire
	l := build(t, strings.Join(lines, "\n"), o)
	e := l.Entries[0]
	if e.Relisted != 2 || !e.ListedSince.Equal(t0.AddDate(0, 0, 40)) || !e.FirstSeen.Equal(t0) {
		t.Errorf("relisted %d since %s first %s", e.Relisted, e.ListedSince, e.FirstSeen)
	}
	if l.Entries[1].Relisted != 0 || !l.Entries[1].ListedSince.IsZero() {
		t.Errorf("second /64: %+v", l.Entries[1])
	}
	w := applied(t, l, Policy{WidenAt: 2, WidenTo: 48}).Entries[0]
	if w.Relisted != 2 || !w.ListedSince.Equal(t0.AddDate(0, 0, 35)) {
		t.Errorf("widened: relisted %d since %s", w.Relisted, w.ListedSince)
	}
	// Without an expiry nothing is counted.
	if e := build(t, strings.Join(lines, "\n"), DefaultOptions()).Entries[0]; e.Relisted != 0 {
		t.Errorf("no expiry: relisted %d", e.Relisted)
	}
}

// TestListingsBounded: the listings kept stay bounded however many
// relistings come in, and the count stays right in order.
func TestListingsBounded(t *testing.T) {
	var ls listings
	for i := range 3 * maxListings {
		ls.add(t0.Add(time.Duration(i)*time.Hour), time.Minute)
	}
	if len(ls.spans) != maxListings || ls.relisted() != 3*maxListings-1 {
		t.Errorf("%d spans, relisted %d", len(ls.spans), ls.relisted())
	}
}

// BenchmarkApply: a list of 100,000 /64s (1,000 /48s) under an allowlist
// of 10,000 prefixes, widened at 50.
func BenchmarkApply(b *testing.B) {
	l := &List{}
	for i := range 100000 {
		p := netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x:%x::/64", i/100, i%100))
		l.Entries = append(l.Entries, Entry{Prefix: p, Attempts: 1, LastSeen: t0, Evidence: []string{"order"}, IPv4: []netip.Addr{}})
	}
	var allow []netip.Prefix
	for i := range 10000 {
		allow = append(allow, netip.MustParsePrefix(fmt.Sprintf("2001:db9:%x::/48", i)))
	}
	p := Policy{WidenAt: 50, WidenTo: 48, Allow: NewAllowlist(allow), Expire: DefaultExpire, Now: t0}
	for b.Loop() {
		if _, err := l.Apply(p); err != nil {
			b.Fatal(err)
		}
	}
}
