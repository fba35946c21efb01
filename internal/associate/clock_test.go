package associate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// withTS gives an attempt TCP timestamps: TSval first at its first SYN and,
// for several SYNs, advancing at rate Hz until its last.
func withTS(a attempt.Attempt, first uint32, rate float64) attempt.Attempt {
	a.HasTS = true
	a.TSFirst = first
	a.TSLast = first + uint32(rate*a.Duration().Seconds())
	return a
}

func TestClockEvidence(t *testing.T) {
	v6 := mk("2001:db8::1", 40000, 0, 1, "Linux", linux(0xa0), 58)
	v4 := mk("192.0.2.1", 33000, 40*time.Millisecond, 1, "Linux", linux(0xb4), 58)
	e := New(DefaultConfig(), nil, func(*Association) {})
	clock := func(a6, a4 *attempt.Attempt) []noted { return explainPair(e, a6, a4).of(fClock) }
	cases := []struct {
		name     string
		v6, v4   attempt.Attempt
		want     string
		nothing  bool
		positive bool
	}{
		// One 1000 Hz clock: 40 ms later, 40 ticks later (give or take the
		// two paths' one-way delays).
		{name: "one 1000 Hz clock", v6: withTS(v6, 1_000_000, 1000), v4: withTS(v4, 1_000_040, 1000), want: "clock:same-timestamp-clock", positive: true},
		{name: "one clock, 60 ms delay difference", v6: withTS(v6, 1_000_000, 1000), v4: withTS(v4, 1_000_100, 1000), want: "clock:same-timestamp-clock", positive: true},
		{name: "one 250 Hz clock across wrap", v6: withTS(v6, 0xffff_fffe, 250), v4: withTS(v4, 8, 250), want: "clock:same-timestamp-clock", positive: true},
		// Random per-address-pair offsets (Linux 4.10+): no match, no evidence.
		{name: "random offsets", v6: withTS(v6, 1_000_000, 1000), v4: withTS(v4, 3_000_000_000, 1000), nothing: true},
		{name: "one side without timestamps", v6: withTS(v6, 1_000_000, 1000), v4: v4, nothing: true},
	}
	for _, c := range cases {
		ws := clock(&c.v6, &c.v4)
		if c.nothing {
			if len(ws) != 0 {
				t.Errorf("%s: evidence %v, want none", c.name, ws)
			}
			continue
		}
		if !has(ws, c.want) {
			t.Errorf("%s: evidence %v, want %s", c.name, ws, c.want)
		}
	}

	// Rates measured from retransmissions (SYNs dropped, not refused).
	r6 := mk("2001:db8::1", 40000, 0, 3, "Linux", linux(0xa0), 58)
	r4 := mk("192.0.2.1", 33000, 3*time.Second, 3, "Linux", linux(0xb4), 58)
	a, b := withTS(r6, 5, 1000), withTS(r4, 2_000_000_000, 250)
	if ws := clock(&a, &b); !has(ws, "clock:different-rate") {
		t.Errorf("1000 Hz vs 250 Hz: %v", ws)
	}
	a, b = withTS(r6, 5, 250), withTS(r4, 5+750, 250)
	if ws := clock(&a, &b); !has(ws, "clock:same-rate") || !has(ws, "clock:same-timestamp-clock") {
		t.Errorf("one 250 Hz clock measured on both: %v", ws)
	}
	if r, ok := tsRate(&a); !ok || r != 250 {
		t.Errorf("tsRate = %v, %v; want 250", r, ok)
	}
	if _, ok := tsRate(&v6); ok {
		t.Error("a rate from one SYN")
	}
}

// Two old-Linux hosts try both families within a millisecond of each other,
// with the same stack and hop count: only their timestamp clocks tell the
// pairs apart.
func TestClockSeparatesTwinHosts(t *testing.T) {
	as := []attempt.Attempt{
		withTS(mk("2001:db8:1::1", 40000, 0, 1, "Linux", linux(0xa0), 50), 7_000_000, 250),
		withTS(mk("2001:db8:2::2", 41000, 1*time.Millisecond, 1, "Linux", linux(0xa0), 50), 900_000_000, 250),
		withTS(mk("192.0.2.2", 33000, 60*time.Millisecond, 1, "Linux", linux(0xb4), 50), 900_000_000+15, 250),
		withTS(mk("192.0.2.1", 34000, 61*time.Millisecond, 1, "Linux", linux(0xb4), 50), 7_000_000+15, 250),
	}
	sortAttempts(as)
	got := run(t, DefaultConfig(), nil, as...)
	for v6, v4 := range map[string]string{"2001:db8:1::1": "192.0.2.1", "2001:db8:2::2": "192.0.2.2"} {
		if a := got[v6]; a == nil || a.V4 == nil || a.V4.Src.String() != v4 {
			t.Errorf("%s: associated with %+v, want %s", v6, a, v4)
		}
	}
	cfg := DefaultConfig()
	cfg.Disable = map[string]bool{EvClock: true}
	got = run(t, cfg, nil, as...)
	for _, v6 := range []string{"2001:db8:1::1", "2001:db8:2::2"} {
		if a := got[v6]; a != nil && a.V4 != nil {
			t.Errorf("without the clock, %s was still decided (%v): the test does not isolate the clock", v6, a.Evidence)
		}
	}
}

type fakeNames struct {
	asn map[netip.Addr]uint32
	ptr map[netip.Addr]string
}

func (f fakeNames) Origin(ip netip.Addr) (uint32, bool) { n, ok := f.asn[ip]; return n, ok }
func (f fakeNames) PTR(ip netip.Addr) (string, bool)    { n, ok := f.ptr[ip]; return n, ok }

func TestNamesEvidence(t *testing.T) {
	type known struct {
		asn uint32
		ptr string
	}
	cases := []struct {
		v6, v4 known
		asn    string
		ptr    string
	}{
		{known{64500, "mx1.example.com."}, known{64500, "MX1.example.com"}, "asn:same-origin", "ptr:same-name"},
		{known{64500, "dyn6-1.isp.co.uk"}, known{64500, "dyn-1-2-3-4.isp.co.uk"}, "asn:same-origin", "ptr:same-domain"},
		{known{64500, "a.one.example"}, known{64501, "b.other.example"}, "asn:different-origin", "ptr:different-domain"},
		{known{0, ""}, known{64501, "b.other.example"}, "", ""},
	}
	a6 := mk("2001:db8::1", 40000, 0, 1, "Linux", linux(0xa0), 58)
	a4 := mk("192.0.2.1", 33000, 40*time.Millisecond, 1, "Linux", linux(0xb4), 58)
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.Names = fakeNames{asn: map[netip.Addr]uint32{a6.Src: c.v6.asn, a4.Src: c.v4.asn}, ptr: map[netip.Addr]string{a6.Src: c.v6.ptr, a4.Src: c.v4.ptr}}
		rec := explainPair(New(cfg, nil, func(*Association) {}), &a6, &a4)
		for f, want := range map[int]string{fASN: c.asn, fPTR: c.ptr} {
			ws := rec.of(f)
			if (want == "") != (len(ws) == 0) || (want != "" && (len(ws) != 1 || ws[0].what != want)) {
				t.Errorf("%s %+v %+v: %+v, want %q", Families[f], c.v6, c.v4, ws, want)
			}
		}
	}
	if d := domainOf("x.y.isp.com.au"); d != "isp.com.au" {
		t.Errorf("domainOf = %q", d)
	}
}

// A mail server's two addresses share a reverse name: with enrichment the
// engine picks it over an unrelated host that tried IPv4 at the same time.
func TestNamesSeparateSimultaneousHosts(t *testing.T) {
	as := []attempt.Attempt{
		mk("2001:db8:1::25", 40000, 0, 1, "Linux", linux(0xa0), 50),
		mk("192.0.2.99", 33000, 40*time.Millisecond, 1, "Linux", linux(0xb4), 50),
		mk("192.0.2.25", 34000, 41*time.Millisecond, 1, "Linux", linux(0xb4), 50),
	}
	sortAttempts(as)
	names := fakeNames{
		asn: map[netip.Addr]uint32{netip.MustParseAddr("2001:db8:1::25"): 64500, netip.MustParseAddr("192.0.2.25"): 64500, netip.MustParseAddr("192.0.2.99"): 64999},
		ptr: map[netip.Addr]string{netip.MustParseAddr("2001:db8:1::25"): "mx.example.org", netip.MustParseAddr("192.0.2.25"): "mx.example.org", netip.MustParseAddr("192.0.2.99"): "dyn-99.other.example"},
	}
	cfg := DefaultConfig()
	if a := run(t, cfg, nil, as...)["2001:db8:1::25"]; a != nil && a.V4 != nil {
		t.Fatalf("without names the twins were decided: %v", a.Evidence)
	}
	cfg.Names = names
	a := run(t, cfg, nil, as...)["2001:db8:1::25"]
	if a == nil || a.V4 == nil || a.V4.Src.String() != "192.0.2.25" {
		t.Fatalf("with names: %+v", a)
	}
}
