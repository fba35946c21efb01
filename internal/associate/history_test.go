package associate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

// historyOf is the history verdict of an IPv6 attempt with an IPv4
// attempt from ip at the same time, given e's history.
func historyOf(e *Engine, a6 *attempt.Attempt, ip netip.Addr) (noted, bool) {
	a4 := mk(ip.String(), 33000, 0, 1, "Linux", linux(0xb4), 58)
	a4.FirstSeen, a4.LastSeen = a6.FirstSeen, a6.FirstSeen
	ws := explainPair(e, a6, &a4).of(fHistory)
	if len(ws) == 0 {
		return noted{}, false
	}
	return ws[0], true
}

func TestHistoryEvidence(t *testing.T) {
	e := New(DefaultConfig(), nil, func(*Association) {})
	h := e.hist
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := mk("2001:db8:1::10", 40000, 0, 1, "Linux", linux(0xa0), 58)
	if _, ok := historyOf(e, &v6, v4); ok {
		t.Error("evidence without history")
	}
	h.recordV6(&v6, v4, true, []netip.Addr{v4})
	next := v6
	next.FirstSeen = next.FirstSeen.Add(time.Minute)
	next.Src = netip.MustParseAddr("2001:db8:1::99") // same /64
	if w, ok := historyOf(e, &next, v4); !ok || w.w <= 0 {
		t.Errorf("same IPv4 as before: %+v", w)
	}
	// A /64 sending many IPv6 attempts that never pair: a misbehaving MTA.
	bad := mk("2001:db8:bad::1", 1, 0, 1, "Linux", linux(0xa0), 58)
	for i := 0; i < 20; i++ {
		a := bad
		a.FirstSeen = a.FirstSeen.Add(time.Duration(i) * 5 * time.Second)
		h.recordV6(&a, netip.Addr{}, false, nil)
	}
	bad.FirstSeen = bad.FirstSeen.Add(101 * time.Second)
	if w, ok := historyOf(e, &bad, v4); !ok || w.w >= 0 {
		t.Errorf("IPv6-heavy prefix: %+v", w)
	}
	// History expires.
	old := next
	old.FirstSeen = old.FirstSeen.Add(2 * historyTTL)
	if _, ok := historyOf(e, &old, v4); ok {
		t.Error("history older than historyTTL used")
	}
}

func TestNATHistory(t *testing.T) {
	h := newHistory(0)
	a := mk("192.0.2.7", 50000, 0, 3, "Windows", win(0xb4), 118)
	h.seeV4(&a)
	if nat, single := h.natState(a.Src); nat || single {
		t.Errorf("after one attempt: nat %v single %v", nat, single)
	}
	b := a
	b.SrcPort, b.FirstSeen = 50002, a.FirstSeen.Add(time.Second)
	h.seeV4(&b)
	if nat, single := h.natState(a.Src); nat || !single {
		t.Errorf("sequential Windows ports: nat %v single %v", nat, single)
	}
	c := mk("192.0.2.7", 61000, 2*time.Second, 1, "Linux", linux(0xb4), 50) // another stack behind the address
	h.seeV4(&c)
	if nat, _ := h.natState(a.Src); !nat {
		t.Error("two stacks on one address not taken for NAT")
	}
}

func TestEmbeddedEvidence(t *testing.T) {
	e := New(DefaultConfig(), nil, func(*Association) {})
	embedded := func(v6, v4 string) []noted {
		a6 := mk(v6, 1, 0, 1, "Linux", linux(0xa0), 58)
		a4 := mk(v4, 2, 0, 1, "Linux", linux(0xb4), 58)
		return explainPair(e, &a6, &a4).of(fEmbedded)
	}
	if ws := embedded("2002:c000:21e::1", "192.0.2.30"); len(ws) != 1 || ws[0].w < 4 {
		t.Errorf("6to4 gateway: %+v", ws)
	}
	if ws := embedded("2002:c000:21e::1", "192.0.2.31"); len(ws) != 1 || ws[0].w >= 0 {
		t.Errorf("6to4 with another IPv4: %+v", ws)
	}
	if ws := embedded("2001:db8::1234:5678:9abc:def0", "192.0.2.30"); len(ws) != 0 {
		t.Errorf("evidence from a random interface ID: %+v", ws)
	}
}

// TestPrefixSnapshotsFresh: the /64 snapshot prefixOf returns, which the
// engine invalidates one /64 at a time, always equals a fresh one, at every
// pair scored and after every attempt, with a small history (purges) too.
func TestPrefixSnapshotsFresh(t *testing.T) {
	for _, maxHistory := range []int{0, 40} {
		cfg := DefaultConfig()
		cfg.MaxHistory = maxHistory
		as, _ := randomStream(11, 20000)
		e := New(cfg, nil, func(*Association) {})
		checked, stale := 0, 0
		check := func(v6 *entry) {
			if v6.prefix.gen == 0 {
				return // never taken, or invalidated: taken afresh when read
			}
			cached := *e.prefixOf(v6)
			fresh := *e.snapPrefix(v6)
			cached.gen, cached.purges, fresh.gen, fresh.purges = 0, 0, 0, 0
			checked++
			if cached != fresh {
				stale++
				if stale <= 3 {
					t.Errorf("max history %d: %v: cached %+v, fresh %+v", maxHistory, v6.f.src, cached, fresh)
				}
			}
		}
		e.check = func(v6, _ *entry, _ float64) { check(v6) }
		e.afterAdd = func() {
			for _, v6 := range e.v6 {
				check(v6)
			}
		}
		for i := range as {
			e.Add(&as[i])
		}
		e.Flush()
		if checked < 1000 || stale > 0 {
			t.Errorf("max history %d: %d of %d snapshots stale", maxHistory, stale, checked)
		}
	}
}
