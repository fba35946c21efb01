package associate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/attempt"
)

func classify(t *testing.T, s string) addr.Info {
	t.Helper()
	var info addr.Info
	addr.ClassifyInto(netip.MustParseAddr(s), &info)
	return info
}

func TestEmbeddedEvidenceKinds(t *testing.T) {
	cases := []struct {
		v6, v4 string
		want   string // "" = no evidence
		pos    bool
	}{
		{"2002:c000:0201::c000:0201", "192.0.2.1", "embedded:6to4", true},
		{"2002:c000:0201::c000:0201", "192.0.2.99", "embedded:mismatch-6to4", false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45", "embedded:teredo", true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "198.51.100.1", "embedded:mismatch-teredo", false},
		{"2001:db8:1::c000:0201", "192.0.2.1", "embedded:", true},
		{"2001:db8:1::1234:5678:9abc", "192.0.2.1", "", false},
	}
	for _, c := range cases {
		info := classify(t, c.v6)
		w, ok := embeddedEvidence(&info, netip.MustParseAddr(c.v4))
		if c.want == "" {
			if ok {
				t.Errorf("%s/%s: %+v, want none", c.v6, c.v4, w)
			}
			continue
		}
		if !ok || !strings.HasPrefix(w.what, c.want) || (w.w > 0) != c.pos {
			t.Errorf("%s/%s: %+v %v, want %s (positive %v)", c.v6, c.v4, w, ok, c.want, c.pos)
		}
	}
}

func TestOrderEvidence(t *testing.T) {
	at := func(src string, d time.Duration, syns int) attempt.Attempt {
		return mk(src, 1, d, syns, "", nil, 64)
	}
	cases := []struct {
		name    string
		v6, v4  attempt.Attempt
		kind    addr.Kind
		os      string
		want    string
		minW    float64
		maxW    float64
		wantNeg bool
	}{
		{name: "native v6 then v4 after the RST", v6: at("2001:db8::1", 0, 1), v4: at("192.0.2.1", 80*time.Millisecond, 1),
			os: "Linux", want: "order:rst-roundtrip-gap", minW: 3, maxW: 3},
		{name: "native but v4 first (software ignoring RFC 6724)", v6: at("2001:db8::1", 80*time.Millisecond, 1), v4: at("192.0.2.1", 0, 1),
			os: "Linux", want: "order:reversed-rst-roundtrip-gap", minW: 0.5, maxW: 0.5},
		{name: "6to4 after IPv4", v6: at("2002:c000:201::1", 90*time.Millisecond, 1), v4: at("192.0.2.1", 0, 1),
			kind: addr.Kind6to4, os: "Linux", want: "order:rst-roundtrip-gap", minW: 3, maxW: 3},
		{name: "Windows falls back ~1 s after 3 SYNs", v6: at("2001:db8::1", 0, 3), v4: at("192.0.2.1", 1500*time.Millisecond+600*time.Millisecond, 3),
			os: "Windows", want: "order:windows-fallback-gap", minW: 3, maxW: 6},
		{name: "Windows v4 at once is not a fallback", v6: at("2001:db8::1", 0, 3), v4: at("192.0.2.1", 1500*time.Millisecond+5*time.Millisecond, 3),
			os: "Windows", want: "order:windows-gap-wrong", wantNeg: true},
		{name: "seconds apart", v6: at("2001:db8::1", 0, 1), v4: at("192.0.2.1", 5*time.Second, 1),
			os: "Linux", want: "order:gap-wrong", wantNeg: true},
	}
	for _, c := range cases {
		w := orderEvidence(&c.v6, c.kind, &c.v4, c.os)
		if !strings.HasPrefix(w.what, c.want) {
			t.Errorf("%s: %+v, want %s", c.name, w, c.want)
		}
		if c.wantNeg {
			if w.w >= 0 {
				t.Errorf("%s: weight %v, want < 0", c.name, w.w)
			}
		} else if w.w < c.minW || w.w > c.maxW {
			t.Errorf("%s: weight %v, want in [%v, %v]", c.name, w.w, c.minW, c.maxW)
		}
	}
}

func TestStackEvidenceDetails(t *testing.T) {
	find := func(ws []weighed, what string) bool {
		for _, w := range ws {
			if w.what == what {
				return true
			}
		}
		return false
	}
	v6 := mk("2001:db8::1", 1, 0, 1, "Linux", linux(0xa0), 58) // MSS 1440
	v4 := mk("192.0.2.1", 2, 0, 1, "Linux", linux(0xb4), 58)   // MSS 1460
	far := mk("192.0.2.2", 2, 0, 1, "Linux", linux(0xb4), 40)  // 18 more hops
	big := mk("192.0.2.3", 2, 0, 1, "Linux", linux(0x10), 58)  // MSS 1296 < v6's
	ws8 := mk("192.0.2.4", 2, 0, 1, "Linux", linux(0xb4), 58)  // other window scale
	ws8.First.Options[ws8.First.OptLen-1] = 8
	ttl := mk("192.0.2.5", 2, 0, 1, "Linux", linux(0xb4), 120) // initial TTL 128
	nots := mk("192.0.2.6", 2, 0, 1, "Linux", win(0xb4), 58)
	for _, c := range []struct {
		v4   attempt.Attempt
		want string
	}{
		{v4, "stack:mss-v6=v4-20"}, {v4, "stack:same-hops"}, {v4, "stack:same-options"}, {v4, "stack:same-wscale"},
		{far, "stack:different-hops"}, {big, "stack:mss-v6>v4"}, {ws8, "stack:different-wscale"},
		{ttl, "stack:different-initial-ttl"}, {nots, "stack:different-options"}, {nots, "stack:timestamps-differ"},
	} {
		if ws := stackEvidence(&v6, &c.v4); !find(ws, c.want) {
			t.Errorf("%s missing from %v", c.want, ws)
		}
	}
}

func TestRetransEvidence(t *testing.T) {
	w := func(src string, gaps ...time.Duration) attempt.Attempt {
		a := mk(src, 1, 0, len(gaps)+1, "Windows", win(0xb4), 118)
		for i, g := range gaps {
			a.Intervals[i] = g
		}
		a.NIntervals = len(gaps)
		return a
	}
	sum := func(ws []weighed) (s float64, what []string) {
		for _, x := range ws {
			s += x.w
			what = append(what, x.what)
		}
		return
	}
	same6, same4 := w("2001:db8::1", 580*time.Millisecond, 585*time.Millisecond), w("192.0.2.1", 583*time.Millisecond, 579*time.Millisecond)
	if s, what := sum(retransEvidence(&same6, &same4)); s < 2.5 || !strings.Contains(strings.Join(what, ","), "retrans:same-timing") {
		t.Errorf("same RTT: %v %v", s, what)
	}
	other := w("192.0.2.2", 760*time.Millisecond, 770*time.Millisecond)
	if s, what := sum(retransEvidence(&same6, &other)); s >= 0 {
		t.Errorf("timing 180 ms apart: %v %v", s, what)
	}
	one := mk("192.0.2.3", 1, 0, 1, "Linux", linux(0xb4), 58)
	if s, _ := sum(retransEvidence(&same6, &one)); s >= 0 {
		t.Errorf("3 SYNs vs 1: %v", s)
	}
	// The fallback gap predicted by the retransmission timing.
	if w, f, ok := fallbackFit(&same6, 600*time.Millisecond); !ok || w <= 0 || f != 1 {
		t.Errorf("fitting gap: %v %v %v", w, f, ok)
	}
	if w, f, ok := fallbackFit(&same6, 1200*time.Millisecond); !ok || w >= 0 || f != 2 {
		t.Errorf("misfitting gap: %v %v %v", w, f, ok)
	}
}

// stackSumFeat (the fast scorer's and the bound's) must equal the sum of
// stackEvidence's weights for every pair of the stacks the tests know.
func TestStackSumMatchesEvidence(t *testing.T) {
	var as []attempt.Attempt
	for _, os := range []string{"Linux", "Windows", "", "unknown"} {
		for _, o := range [][]byte{linux(0xa0), linux(0xb4), win(0xa0), win(0xb4), nil} {
			for _, ttl := range []uint8{40, 58, 60, 118, 250} {
				as = append(as, mk("192.0.2.1", 1, 0, 1, os, o, ttl))
			}
		}
	}
	e := New(DefaultConfig(), nil, func(*Association) {})
	ens := make([]entry, len(as))
	for i := range as {
		ens[i].stack.fill(&as[i])
		e.fillFeat(&ens[i], &as[i])
	}
	for i := range ens {
		for j := range ens {
			want := 0.0
			for _, w := range stackEvidenceTo(nil, &ens[i].stack, &ens[j].stack) {
				want += w.w
			}
			if got := stackSumFeat(&ens[i].f, &ens[j].f, &ens[i], &ens[j]); got != want {
				t.Fatalf("pair %d/%d: stackSumFeat %v, evidence sum %v", i, j, got, want)
			}
		}
	}
}
