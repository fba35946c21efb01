package associate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func mk(src string, sport uint16, at time.Duration, syns int, osClass string, opts []byte, ttl uint8) attempt.Attempt {
	a := attempt.Attempt{Src: netip.MustParseAddr(src), SrcPort: sport, FirstSeen: t0.Add(at), SYNs: syns, Fingerprint: attempt.Fingerprint{OSClass: osClass}}
	a.Family = 4
	if a.Src.Is6() {
		a.Family = 6
	}
	a.LastSeen = a.FirstSeen
	if syns == 3 {
		a.LastSeen = a.FirstSeen.Add(1500 * time.Millisecond)
	}
	a.First.TTL = ttl
	a.First.OptLen = uint8(copy(a.First.Options[:], opts))
	a.HasTS = strings.Contains(string(opts), "\x08\x0a")
	return a
}

func linux(mss byte) []byte {
	o := append([]byte(nil), synframe.LinuxOptions...)
	o[3] = mss
	return o
}

func win(mss byte) []byte {
	o := append([]byte(nil), synframe.WindowsOptions...)
	o[3] = mss
	return o
}

type listed map[netip.Addr]bool

func (l listed) Listed(ip netip.Addr, _ time.Time) bool { return l[ip] }

func run(t *testing.T, cfg Config, bl Blocklist, as ...attempt.Attempt) map[string]*Association {
	t.Helper()
	out := map[string]*Association{}
	e := New(cfg, bl, func(a *Association) {
		c := *a
		v6 := *a.V6
		c.V6 = &v6
		if a.V4 != nil {
			v4 := *a.V4
			c.V4 = &v4
		}
		out[a.V6.Src.String()] = &c
	})
	for i := range as {
		e.Add(&as[i])
	}
	e.Flush()
	return out
}

func TestFullPicksTheRightHostAmongSimultaneous(t *testing.T) {
	// Two Linux hosts and a Windows host try both families at nearly the
	// same moment; the evidence must pair each with its own IPv4 attempt.
	as := []attempt.Attempt{
		mk("2001:db8:1::10", 40000, 0, 1, "Linux", linux(0xa0), 58),                   // Linux A, native: v6 first
		mk("2001:db8:2::20", 50673, 5*time.Millisecond, 3, "Windows", win(0xa0), 118), // Windows, 3 SYNs
		mk("192.0.2.10", 33000, 3*time.Millisecond, 1, "Linux", linux(0xb4), 58),      // Linux A v4, 3 ms after
		mk("2001:db8:3::30", 41000, 10*time.Millisecond, 1, "Linux", linux(0xa0), 50), // Linux B
		mk("192.0.2.30", 35000, 12*time.Millisecond, 1, "Linux", linux(0xb4), 50),     // Linux B v4
		mk("192.0.2.20", 50674, 2100*time.Millisecond, 3, "Windows", win(0xb4), 118),  // Windows v4, next port, after fallback
	}
	sortAttempts(as)
	got := run(t, DefaultConfig(), listed{netip.MustParseAddr("192.0.2.20"): true}, as...)
	want := map[string]string{"2001:db8:1::10": "192.0.2.10", "2001:db8:3::30": "192.0.2.30", "2001:db8:2::20": "192.0.2.20"}
	for v6, v4 := range want {
		a := got[v6]
		if a == nil || a.V4 == nil || a.V4.Src.String() != v4 {
			t.Errorf("%s: associated with %+v, want %s", v6, a, v4)
			continue
		}
		if a.Score < 0.5 || a.Score > 1 || len(a.Evidence) == 0 {
			t.Errorf("%s: score %v evidence %v", v6, a.Score, a.Evidence)
		}
	}
	if !got["2001:db8:2::20"].Spammer || got["2001:db8:1::10"].Spammer {
		t.Errorf("spammer labels wrong")
	}
}

func TestFullRejectsIncompatibleStacks(t *testing.T) {
	as := []attempt.Attempt{
		mk("2001:db8:1::10", 40000, 0, 1, "Linux", linux(0xa0), 58),
		mk("192.0.2.99", 60000, 2*time.Millisecond, 3, "Windows", win(0xb4), 118),
	}
	got := run(t, DefaultConfig(), nil, as...)
	if a := got["2001:db8:1::10"]; a == nil || a.V4 != nil {
		t.Errorf("a Linux IPv6 attempt was paired with a Windows IPv4 one: %+v", a)
	}
}

func Test6to4(t *testing.T) {
	// 6to4: IPv4 first (RFC 6724), and the address names the gateway.
	as := []attempt.Attempt{
		mk("192.0.2.30", 40001, 0, 1, "Linux", linux(0xb4), 50),
		mk("192.0.2.31", 40009, 1*time.Millisecond, 1, "Linux", linux(0xb4), 50),
		mk("2002:c000:21e::c000:21e", 40002, 3*time.Millisecond, 1, "Linux", linux(0xa0), 50),
	}
	for _, mode := range []Mode{ModeFull, ModeNaive} {
		got := run(t, Config{Mode: mode, Threshold: 0.5}, nil, as...)
		a := got["2002:c000:21e::c000:21e"]
		if a == nil || a.V4 == nil || a.V4.Src.String() != "192.0.2.30" || a.AddrKind != "6to4" {
			t.Errorf("%v: %+v", mode, a)
		}
	}
}

func TestNaiveTakesTheNextIPv4Whoever(t *testing.T) {
	as := []attempt.Attempt{
		mk("2001:db8:1::10", 40000, 0, 1, "Linux", linux(0xa0), 58),
		mk("192.0.2.99", 60000, 1*time.Millisecond, 3, "Windows", win(0xb4), 118), // unrelated, but next
		mk("192.0.2.10", 33000, 3*time.Millisecond, 1, "Linux", linux(0xb4), 58),
	}
	got := run(t, Config{Mode: ModeNaive}, nil, as...)
	if a := got["2001:db8:1::10"]; a == nil || a.V4 == nil || a.V4.Src.String() != "192.0.2.99" || a.Evidence[0] != "naive:next-ipv4" {
		t.Errorf("naive: %+v", a)
	}
}

func TestAddressOnlyAssociation(t *testing.T) {
	// A 6to4 spammer whose IPv4 never reached the sensor but is in the reject log.
	as := []attempt.Attempt{mk("2002:c000:21e::c000:21e", 40002, 0, 1, "Linux", linux(0xa0), 50)}
	got := run(t, DefaultConfig(), listed{netip.MustParseAddr("192.0.2.30"): true}, as...)
	a := got["2002:c000:21e::c000:21e"]
	if a == nil || a.V4 != nil || a.V4Addr.String() != "192.0.2.30" || !a.Spammer {
		t.Errorf("%+v", a)
	}
}

func TestOneIPv4ExplainsOneIPv6(t *testing.T) {
	// A misbehaving MTA: many IPv6 attempts, one IPv4 attempt.
	var as []attempt.Attempt
	for i := 0; i < 5; i++ {
		as = append(as, mk("2001:db8:bad::1", uint16(40000+2*i), time.Duration(i)*5*time.Second, 1, "Linux", linux(0xa0), 58))
	}
	as = append(as, mk("192.0.2.50", 50000, 10*time.Second+2*time.Millisecond, 1, "Linux", linux(0xb4), 58))
	sortAttempts(as)
	n := 0
	e := New(DefaultConfig(), nil, func(a *Association) {
		if a.V4 != nil {
			n++
		}
	})
	for i := range as {
		e.Add(&as[i])
	}
	e.Flush()
	if n != 1 {
		t.Errorf("%d IPv6 attempts associated with the single IPv4 attempt", n)
	}
	if e.Pending() != 0 {
		t.Errorf("%d attempts left after Flush", e.Pending())
	}
}

func TestEvidenceFunctions(t *testing.T) {
	l6 := mk("2001:db8::1", 1, 0, 1, "Linux", linux(0xa0), 58)
	l4 := mk("192.0.2.1", 2, 2*time.Millisecond, 1, "Linux", linux(0xb4), 58)
	w4 := mk("192.0.2.2", 3, 2*time.Millisecond, 3, "Windows", win(0xb4), 118)
	e := New(DefaultConfig(), nil, func(*Association) {})
	if w := orderOf(t, e, &l6, &l4); w.w <= 0 {
		t.Errorf("order: %+v", w)
	}
	late := l4
	late.FirstSeen = t0.Add(20 * time.Second)
	if w := orderOf(t, e, &l6, &late); w.w >= 0 {
		t.Errorf("late order: %+v", w)
	}
	if s := explainPair(e, &l6, &l4).fam[fStack]; s <= 0 {
		t.Errorf("same Linux stack scored %v", s)
	}
	if s := explainPair(e, &l6, &w4).fam[fStack]; s >= 0 {
		t.Errorf("Linux vs Windows scored %v", s)
	}
	w6 := mk("2001:db8::2", 50673, 0, 3, "Windows", win(0xa0), 118)
	w4.SrcPort = 50674
	if ws := explainPair(e, &w6, &w4).of(fPort); len(ws) != 1 || ws[0].w <= 0 {
		t.Errorf("adjacent Windows ports: %+v", ws)
	}
	if ws := explainPair(e, &l6, &l4).of(fPort); len(ws) != 0 {
		t.Errorf("port evidence for Linux: %+v", ws)
	}
	if ws := explainPair(e, &w6, &l4).of(fRetrans); len(ws) == 0 || ws[0].w >= 0 {
		t.Errorf("3 SYNs vs 1: %+v", ws)
	}
}

func sortAttempts(as []attempt.Attempt) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].FirstSeen.Before(as[j-1].FirstSeen); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

func TestAmbiguousCandidates(t *testing.T) {
	// Two identical Linux hosts start at the same moment. Behind one NAT
	// (same IPv4), the address is known but not which attempt; behind two
	// addresses, nothing can be said.
	for _, tc := range []struct {
		v4a, v4b string
		wantAddr string
	}{{"192.0.2.10", "192.0.2.10", "192.0.2.10"}, {"192.0.2.10", "192.0.2.11", ""}} {
		as := []attempt.Attempt{
			mk("2001:db8:1::10", 40000, 0, 1, "Linux", linux(0xa0), 58),
			mk("2001:db8:1::11", 40100, 0, 1, "Linux", linux(0xa0), 58),
			mk(tc.v4a, 33000, 3*time.Millisecond, 1, "Linux", linux(0xb4), 58),
			mk(tc.v4b, 33100, 3*time.Millisecond, 1, "Linux", linux(0xb4), 58),
		}
		sortAttempts(as)
		got := run(t, DefaultConfig(), nil, as...)
		for _, v6 := range []string{"2001:db8:1::10", "2001:db8:1::11"} {
			a := got[v6]
			if a.V4 != nil {
				t.Errorf("%v: ambiguous attempt associated with %v", tc, a.V4.Src)
			}
			if got := a.V4Addr.String(); (tc.wantAddr == "" && a.V4Addr.IsValid()) || (tc.wantAddr != "" && got != tc.wantAddr) {
				t.Errorf("%v: address-only association %q, want %q", tc, got, tc.wantAddr)
			}
			// The output says why an attempt was left unassociated.
			if tc.wantAddr == "" && (len(a.Evidence) != 1 || a.Evidence[0] != ambiguousUnassociated) {
				t.Errorf("%v: evidence %q, want [%s]", tc, a.Evidence, ambiguousUnassociated)
			}
		}
	}
}

// TestEliminationResolvesAmbiguity: attempt A is torn between two
// look-alike IPv4 attempts X and Y; attempt B clearly explains X. Once B
// has X, Y is what is left to A.
func TestEliminationResolvesAmbiguity(t *testing.T) {
	as := []attempt.Attempt{
		mk("2001:db8:b::1", 40000, 0, 1, "Linux", linux(0xa0), 54),
		mk("2001:db8:a::1", 40100, 50*time.Millisecond, 1, "Linux", linux(0xa0), 58),
		mk("192.0.2.10", 33000, 100*time.Millisecond, 1, "Linux", linux(0xb4), 54), // X
		mk("192.0.2.11", 33100, 300*time.Millisecond, 1, "Linux", linux(0xb4), 58), // Y
	}
	for i := range as {
		as[i].HasTS = false // no clock to tell the hosts apart
	}
	cfg := DefaultConfig()
	cfg.Calibration, cfg.Threshold = &Uncalibrated, 0.5 // the sum's own threshold
	got := run(t, cfg, nil, as...)
	if b := got["2001:db8:b::1"]; b.V4 == nil || b.V4.Src.String() != "192.0.2.10" {
		t.Fatalf("B: %+v, want X (192.0.2.10)", b.V4)
	}
	if a := got["2001:db8:a::1"]; a.V4 == nil || a.V4.Src.String() != "192.0.2.11" {
		t.Errorf("A: %v (evidence %q), want Y (192.0.2.11)", a.V4, a.Evidence)
	}
}
