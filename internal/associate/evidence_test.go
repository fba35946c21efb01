package associate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/attempt"
)

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
	e := New(DefaultConfig(), nil, func(*Association) {})
	for _, c := range cases {
		a6 := mk(c.v6, 1, 0, 1, "Linux", linux(0xa0), 58)
		a4 := mk(c.v4, 2, 0, 1, "Linux", linux(0xb4), 58)
		ws := explainPair(e, &a6, &a4).of(fEmbedded)
		if c.want == "" {
			if len(ws) != 0 {
				t.Errorf("%s/%s: %+v, want none", c.v6, c.v4, ws)
			}
			continue
		}
		if len(ws) != 1 || !strings.HasPrefix(ws[0].what, c.want) || (ws[0].w > 0) != c.pos {
			t.Errorf("%s/%s: %+v, want %s (positive %v)", c.v6, c.v4, ws, c.want, c.pos)
		}
	}
}

// orderOf is the order verdict of a pair.
func orderOf(t *testing.T, e *Engine, a6, a4 *attempt.Attempt) noted {
	t.Helper()
	ws := explainPair(e, a6, a4).of(fOrder)
	if len(ws) != 1 {
		t.Fatalf("%v/%v: order verdicts %+v", a6.Src, a4.Src, ws)
	}
	return ws[0]
}

func TestOrderEvidence(t *testing.T) {
	at := func(src string, d time.Duration, syns int) attempt.Attempt {
		return mk(src, 1, d, syns, "", nil, 64)
	}
	cases := []struct {
		name    string
		v6, v4  attempt.Attempt
		os      string
		want    string
		minW    float64
		maxW    float64
		wantNeg bool
	}{
		{name: "native v6 then v4 after the RST", v6: at("2001:db8::1", 0, 1), v4: at("192.0.2.1", 80*time.Millisecond, 1),
			os: "Linux", want: "order:rst-roundtrip-gap", minW: 3, maxW: 3},
		{name: "native but v4 first (software ignoring RFC 6724)", v6: at("2001:db8::1", 80*time.Millisecond, 1), v4: at("192.0.2.1", 0, 1),
			os: "Linux", want: "order:reversed-rst-roundtrip-gap", minW: 1.5, maxW: 1.5},
		{name: "6to4 after IPv4", v6: at("2002:c000:201::1", 90*time.Millisecond, 1), v4: at("192.0.2.1", 0, 1),
			os: "Linux", want: "order:rst-roundtrip-gap", minW: 3, maxW: 3},
		{name: "Windows falls back ~1 s after 3 SYNs", v6: at("2001:db8::1", 0, 3), v4: at("192.0.2.1", 1500*time.Millisecond+600*time.Millisecond, 3),
			os: "Windows", want: "order:windows-fallback-gap", minW: 3, maxW: 6},
		{name: "Windows v4 at once is not a fallback", v6: at("2001:db8::1", 0, 3), v4: at("192.0.2.1", 1500*time.Millisecond+5*time.Millisecond, 3),
			os: "Windows", want: "order:windows-gap-wrong", wantNeg: true},
		{name: "seconds apart", v6: at("2001:db8::1", 0, 1), v4: at("192.0.2.1", 5*time.Second, 1),
			os: "Linux", want: "order:gap-wrong", wantNeg: true},
	}
	e := New(DefaultConfig(), nil, func(*Association) {})
	for _, c := range cases {
		c.v6.OSClass = c.os
		w := orderOf(t, e, &c.v6, &c.v4)
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
	v6 := mk("2001:db8::1", 1, 0, 1, "Linux", linux(0xa0), 58) // MSS 1440
	v4 := mk("192.0.2.1", 2, 0, 1, "Linux", linux(0xb4), 58)   // MSS 1460
	far := mk("192.0.2.2", 2, 0, 1, "Linux", linux(0xb4), 40)  // 18 more hops
	big := mk("192.0.2.3", 2, 0, 1, "Linux", linux(0x10), 58)  // MSS 1296 < v6's
	ws8 := mk("192.0.2.4", 2, 0, 1, "Linux", linux(0xb4), 58)  // other window scale
	ws8.First.Options[ws8.First.OptLen-1] = 8
	ttl := mk("192.0.2.5", 2, 0, 1, "Linux", linux(0xb4), 120) // initial TTL 128
	nots := mk("192.0.2.6", 2, 0, 1, "Linux", win(0xb4), 58)
	e := New(DefaultConfig(), nil, func(*Association) {})
	for _, c := range []struct {
		v4   attempt.Attempt
		want string
	}{
		{v4, "stack:mss-v6=v4-20"}, {v4, "stack:same-hops"}, {v4, "stack:same-options"}, {v4, "stack:same-wscale"},
		{far, "stack:different-hops"}, {big, "stack:mss-v6>v4"}, {ws8, "stack:different-wscale"},
		{ttl, "stack:different-initial-ttl"}, {nots, "stack:different-options"}, {nots, "stack:timestamps-differ"},
	} {
		if ws := explainPair(e, &v6, &c.v4).of(fStack); !has(ws, c.want) {
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
	e := New(DefaultConfig(), nil, func(*Association) {})
	retrans := func(a6, a4 *attempt.Attempt) (s float64, what []string) {
		for _, x := range explainPair(e, a6, a4).of(fRetrans) {
			s += x.w
			what = append(what, x.what)
		}
		return
	}
	same6, same4 := w("2001:db8::1", 580*time.Millisecond, 585*time.Millisecond), w("192.0.2.1", 583*time.Millisecond, 579*time.Millisecond)
	if s, what := retrans(&same6, &same4); s < 2.5 || !strings.Contains(strings.Join(what, ","), "retrans:same-timing") {
		t.Errorf("same RTT: %v %v", s, what)
	}
	other := w("192.0.2.2", 760*time.Millisecond, 770*time.Millisecond)
	if s, what := retrans(&same6, &other); s >= 0 {
		t.Errorf("timing 180 ms apart: %v %v", s, what)
	}
	one := mk("192.0.2.3", 1, 0, 1, "Linux", linux(0xb4), 58)
	if s, _ := retrans(&same6, &one); s >= 0 {
		t.Errorf("3 SYNs vs 1: %v", s)
	}
	// The fallback gap predicted by the retransmission timing (the order
	// rule's fit: +1.5 or -1.5 on the Windows fallback gap's 3).
	at := func(gap time.Duration) attempt.Attempt {
		a := same4
		a.FirstSeen = same6.LastSeen.Add(gap)
		a.LastSeen = a.FirstSeen
		return a
	}
	fits, misfits := at(600*time.Millisecond), at(1200*time.Millisecond)
	if o := orderOf(t, e, &same6, &fits); o.w != 4.5 || o.what != "order:windows-fallback-gap+gap-fits-retransmission-timing" {
		t.Errorf("fitting gap: %+v", o)
	}
	if o := orderOf(t, e, &same6, &misfits); o.w != 1.5 || o.what != "order:windows-fallback-gap+gap-misfits-retransmission-timing" {
		t.Errorf("misfitting gap: %+v", o)
	}
}

// TestStackPastInternTables: the stack rules compare OS classes and option
// layouts by interned ID, and by name or bytes once the intern tables are
// full: both give the same verdicts for every pair of the stacks the tests
// know.
func TestStackPastInternTables(t *testing.T) {
	var as []attempt.Attempt
	for _, os := range []string{"Linux", "Windows", "", "unknown", "FreeBSD"} {
		for _, o := range [][]byte{linux(0xa0), linux(0xb4), win(0xa0), win(0xb4), nil} {
			for _, ttl := range []uint8{40, 58, 60, 118, 250} {
				as = append(as, mk("192.0.2.1", 1, 0, 1, os, o, ttl))
			}
		}
	}
	interned := New(DefaultConfig(), nil, func(*Association) {})
	full := New(DefaultConfig(), nil, func(*Association) {})
	for i := 0; len(full.osIDs) < osOther-2; i++ {
		full.internOS(fmt.Sprint("os", i))
	}
	for i := 0; len(full.layoutIDs) < maxLayouts; i++ {
		full.layoutIDs[fmt.Sprint("layout", i)] = uint16(i + 1)
	}
	stack := func(e *Engine) [][]noted {
		ens := make([]*entry, len(as))
		for i := range as {
			ens[i] = entryOf(e, &as[i])
		}
		var out [][]noted
		for _, x := range ens {
			for _, y := range ens {
				rec := &record{}
				stackRules(&x.f, &y.f, x, y, rec)
				out = append(out, slices.Clone(rec.named()))
			}
		}
		return out
	}
	a, b := stack(interned), stack(full)
	if got := entryOf(full, &as[0]); got.f.os != osOther || got.f.layout != 0 {
		t.Fatalf("the intern tables are not full: os %d layout %d", got.f.os, got.f.layout)
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("pair %d/%d: interned %v, past the tables %v", i/len(as), i%len(as), a[i], b[i])
		}
	}
}
