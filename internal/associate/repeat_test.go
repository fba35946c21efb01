package associate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// TestHistoryOnlyFromIdentity: an association without identity evidence
// leaves no "same IPv4 as before" for the next attempt of its /64; one
// with identity evidence does; an IPv4 close to the best in two decisions
// in a row does too, and a decision without it starts the count again.
func TestHistoryOnlyFromIdentity(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	at := func(i int) attempt.Attempt {
		a := mk("2001:db8:1::10", 40000, time.Duration(i)*time.Minute, 1, "Linux", linux(0xa0), 58)
		return a
	}
	e := New(DefaultConfig(), nil, func(*Association) {})
	h := e.hist
	a := at(0)
	h.recordV6(&a, v4, false, []netip.Addr{v4})
	next := at(1)
	if w, ok := historyOf(e, &next, v4); ok && w.w > 0 {
		t.Errorf("a weak association vouches for the next: %+v", w)
	}
	h.recordV6(&next, v4, true, []netip.Addr{v4})
	third := at(2)
	if w, ok := historyOf(e, &third, v4); !ok || w.what != "history:same-ipv4-as-before" {
		t.Errorf("after an identity-backed association: %+v %v", w, ok)
	}

	e = New(DefaultConfig(), nil, func(*Association) {})
	h = e.hist
	a = at(0)
	h.recordV6(&a, netip.Addr{}, false, []netip.Addr{v4, other})
	b := at(1)
	h.recordV6(&b, netip.Addr{}, false, []netip.Addr{other, v4}) // close, though not best
	c := at(2)
	if w, ok := historyOf(e, &c, v4); !ok || w.what != "history:same-ipv4-best-before" {
		t.Errorf("close in two decisions in a row: %+v %v", w, ok)
	}
	h.recordV6(&c, netip.Addr{}, false, []netip.Addr{other})
	d := at(3)
	if w, ok := historyOf(e, &d, v4); ok && w.w > 0 {
		t.Errorf("a decision without it did not start the count again: %+v", w)
	}
}

// collect runs the engine and returns every association in order.
func collect(cfg Config, bl Blocklist, as []attempt.Attempt) []Association {
	var out []Association
	e := New(cfg, bl, func(a *Association) {
		c := *a
		c.V6, c.V4 = nil, nil
		c.Evidence = slices.Clone(a.Evidence)
		out = append(out, c)
	})
	for i := range as {
		e.Add(&as[i])
	}
	e.Flush()
	return out
}

// repeatSender is a /64 retrying every 5 s for 3 minutes, each IPv6 try
// followed 50 ms later by an IPv4 attempt of the same stack: from one
// address (its own: a dual-stack host), or each time from another (other
// hosts, by chance at the right gap).
func repeatSender(sameIPv4 bool) []attempt.Attempt {
	var as []attempt.Attempt
	for i := range 36 {
		at := time.Duration(i) * 5 * time.Second
		v6 := mk("2001:db8:9::5", uint16(40000+i), at, 1, "Linux", linux(0xa0), 58)
		src := fmt.Sprintf("198.51.100.%d", 10+i)
		if sameIPv4 {
			src = "198.51.100.10"
		}
		v4 := mk(src, uint16(50000+i), at+50*time.Millisecond, 1, "Linux", linux(0xb4), 58)
		// Unrelated timestamp clocks: no clock evidence.
		v6.TSFirst, v4.TSFirst = uint32(i)*1e8, uint32(i)*1e8+5e7
		as = append(as, v6, v4)
	}
	return as
}

// TestRepeatSenderNeedsIdentity: once a /64 sends faster than a few
// attempts a minute, timing and a shared stack no longer associate its
// attempts (the unassociated rows say why); a dual-stack host sending as
// fast keeps its associations, its own IPv4 being the best candidate
// decision after decision.
func TestRepeatSenderNeedsIdentity(t *testing.T) {
	got := collect(DefaultConfig(), nil, repeatSender(false))
	if len(got) != 36 {
		t.Fatalf("%d decisions", len(got))
	}
	said := 0
	for i, a := range got[10:] {
		if a.V4Addr.IsValid() {
			t.Errorf("try %d: associated with %v, evidence %q", i+10, a.V4Addr, a.Evidence)
		}
		// Every row says it was a repeat sender's: its candidates lacked
		// identity evidence, or (the /64 being IPv6-heavy by then,
		// history:ipv6-heavy-prefix) none could explain it.
		switch {
		case slices.Equal(a.Evidence, []string{repeatUnassociated}):
			said++
		case slices.Equal(a.Evidence, []string{repeatNoCandidate}):
		default:
			t.Errorf("try %d: evidence %q, not a repeat sender's", i+10, a.Evidence)
		}
	}
	if said < 5 {
		t.Errorf("%d unassociated tries say their candidates lacked identity evidence", said)
	}
	got = collect(DefaultConfig(), nil, repeatSender(true))
	n := 0
	for _, a := range got {
		if a.V4Addr == netip.MustParseAddr("198.51.100.10") {
			n++
		}
	}
	if n < 34 {
		t.Errorf("dual-stack host: %d of %d associated with its IPv4", n, len(got))
	}
}

// TestLow32IsNotIdentity: an address whose low 32 bits read as an IPv4
// address (a numbering habit, also with somebody else's address) does not
// vouch for a pair whose timing says two hosts, nor for an association
// with the address alone; a 6to4 address does.
func TestLow32IsNotIdentity(t *testing.T) {
	decoy := mk("2001:db8:7::c633:6407", 40000, 0, 1, "Linux", linux(0xa0), 58) // embeds 198.51.100.7
	far := mk("198.51.100.7", 50000, 20*time.Second, 1, "Linux", linux(0xb4), 58)
	far.TSFirst, decoy.TSFirst = 1e9, 5
	got := collect(DefaultConfig(), nil, []attempt.Attempt{decoy, far})
	if len(got) != 1 || got[0].V4Addr.IsValid() {
		t.Errorf("low 32 bits with timing that says two hosts: %+v", got)
	}
	l := listed{netip.MustParseAddr("198.51.100.7"): true, netip.MustParseAddr("192.0.2.9"): true}
	got = collect(DefaultConfig(), l, []attempt.Attempt{decoy})
	if len(got) != 1 || got[0].V4Addr.IsValid() {
		t.Errorf("low 32 bits of a listed address, no IPv4 attempt: %+v", got)
	}
	sixto4 := mk("2002:c000:209::1", 40000, 0, 1, "Linux", linux(0xa0), 58) // 6to4 of 192.0.2.9
	got = collect(DefaultConfig(), l, []attempt.Attempt{sixto4})
	if len(got) != 1 || got[0].V4Addr != netip.MustParseAddr("192.0.2.9") {
		t.Errorf("6to4 of a listed address, no IPv4 attempt: %+v", got)
	}
}

// TestSlowIPv6OnlyNotRepeat: a /64 sending one IPv6 attempt a minute and
// never IPv4 becomes IPv6-heavy, not a repeat sender, and its rows say
// which.
func TestSlowIPv6OnlyNotRepeat(t *testing.T) {
	var as []attempt.Attempt
	for i := range 30 {
		as = append(as, mk("2001:db8:7::5", uint16(40000+i), time.Duration(i)*time.Minute, 1, "Linux", linux(0xa0), 58))
	}
	heavy := 0
	for i, a := range collect(DefaultConfig(), nil, as) {
		switch {
		case slices.Equal(a.Evidence, []string{heavyNoCandidate}):
			heavy++
		case len(a.Evidence) != 0:
			t.Errorf("attempt %d: evidence %q", i, a.Evidence)
		}
	}
	if heavy < 10 {
		t.Errorf("%d of 30 rows say the /64 is IPv6-heavy", heavy)
	}
}

// TestAgreedFeature: a dual-stack host retrying fast is first associated
// on agreement alone (Features.Agreed), then on the /64's identity-backed
// IPv4 (not Agreed).
func TestAgreedFeature(t *testing.T) {
	agreed, strong := 0, 0
	for _, a := range collect(DefaultConfig(), nil, repeatSender(true)) {
		best := slices.ContainsFunc(a.Evidence, func(s string) bool { return strings.HasPrefix(s, "history:same-ipv4-best-before") })
		same := slices.ContainsFunc(a.Evidence, func(s string) bool { return strings.HasPrefix(s, "history:same-ipv4-as-before") })
		if a.Features.Agreed != (best && !same) {
			t.Errorf("Agreed %v with evidence %q", a.Features.Agreed, a.Evidence)
		}
		if a.Features.Agreed {
			agreed++
		} else if same {
			strong++
		}
	}
	if agreed == 0 || strong == 0 {
		t.Errorf("%d associations on agreement alone, %d on the /64's IPv4", agreed, strong)
	}
}
