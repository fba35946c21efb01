package fingerprint

import (
	"os"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// testDB parses signature lines under a [tcp:request] header.
func testDB(t testing.TB, body string) *DB {
	t.Helper()
	db, _, err := Parse(strings.NewReader("classes = win,unix,other\n[tcp:request]\n"+body), "m.fp")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// mssNopWS is a SYN with options mss 1460, nop, ws 7, window 29200, DF and a
// zero IP ID (quirks: df).
func mssNopWS(mod ...func(*synevent.Event)) *synevent.Event {
	return testEvent(append([]func(*synevent.Event){opts(2, 4, 5, 0xb4, 1, 3, 3, 7),
		func(e *synevent.Event) { e.IPID = 0 }}, mod...)...)
}

func TestMatchPrecedence(t *testing.T) {
	const (
		fuzzy    = "label = s:unix:FuzzyFirst:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df,id+:0\n"
		generic  = "label = g:unix:Generic:\nsig = 4:64:0:*:*,*:mss,nop,ws:df:0\n"
		generic2 = "label = g:unix:Generic2:\nsig = 4:64:0:*:*,7:mss,nop,ws:df:0\n"
		specific = "label = s:unix:Specific:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df:0\n"
		other    = "label = s:unix:Other:\nsig = 4:64:0:*:1000,7:mss,nop,ws:df:0\n"
	)
	tests := []struct {
		name, db, want string
		generic, fuzzy bool
	}{
		{"specific wins wherever it is", fuzzy + generic + specific, "Specific", false, false},
		{"generic beats fuzzy", fuzzy + generic + other, "Generic", true, false},
		{"first generic", generic2 + generic, "Generic2", true, false},
		{"fuzzy as a last resort", fuzzy + other, "FuzzyFirst", false, true},
		{"nothing", other, "???", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testDB(t, tt.db).Match(mssNopWS())
			if r.Label != tt.want || r.Generic != tt.generic || r.Fuzzy != tt.fuzzy || r.Matched != (tt.want != "???") {
				t.Errorf("got %q generic=%v fuzzy=%v matched=%v", r.Label, r.Generic, r.Fuzzy, r.Matched)
			}
		})
	}
}

func TestMatchFuzzyRules(t *testing.T) {
	base := "label = s:unix:X:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:"
	tests := []struct {
		name   string
		quirks string // of the signature
		mod    func(*synevent.Event)
		want   string // "exact", "fuzzy" or "none"
	}{
		{"same quirks", "df", nil, "exact"},
		{"df disappears", "df", func(e *synevent.Event) { e.IPFlags = 0; e.IPID = 1 }, "fuzzy"},
		{"id+ disappears", "df,id+", nil, "fuzzy"},
		{"id- appears", "", func(e *synevent.Event) { e.IPFlags = 0 }, "fuzzy"},
		{"ecn appears", "df", func(e *synevent.Event) { e.TOS = 2 }, "fuzzy"},
		{"df and id+ go, id- and ecn come", "df,id+", func(e *synevent.Event) { e.IPFlags, e.TOS = 0, 1 }, "fuzzy"},
		{"df appears", "", func(e *synevent.Event) { e.IPID = 1 }, "none"},
		{"ecn disappears", "df,ecn", nil, "none"},
		{"id- disappears", "id-", func(e *synevent.Event) { e.IPFlags, e.IPID = 0, 1 }, "none"},
		{"other quirk appears", "df", func(e *synevent.Event) { e.Seq = 0 }, "none"},
		{"other quirk disappears", "df,seq-", nil, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := testDB(t, base+tt.quirks+":0\n")
			ev := mssNopWS()
			if tt.mod != nil {
				tt.mod(ev)
			}
			r := db.Match(ev)
			got := "none"
			if r.Matched {
				got = "exact"
				if r.Fuzzy {
					got = "fuzzy"
				}
			}
			if got != tt.want {
				t.Errorf("got %s (%s), want %s", got, r.RawSig(), tt.want)
			}
		})
	}
}

func TestMatchTTL(t *testing.T) {
	normal := testDB(t, "label = s:unix:X:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df:0\n")
	random := testDB(t, "label = s:!:Y:\nsys = @unix\nsig = 4:64-:0:*:mss*20,7:mss,nop,ws:df:0\n")
	tests := []struct {
		name       string
		db         *DB
		ttl        uint8
		label      string
		fuzzy      bool
		dist       string
		params     string
		randomTTL  bool
		tool       bool
		wantClass  string
		wantSource string
	}{
		{"at origin", normal, 64, "X", false, "0", "none", false, false, "X", "m.fp:4"},
		{"24 hops", normal, 40, "X", false, "24", "none", false, false, "X", "m.fp:4"},
		{"35 hops", normal, 29, "X", false, "35", "none", false, false, "X", "m.fp:4"},
		// More than 35 hops makes the match fuzzy and the distance a guess.
		{"36 hops", normal, 28, "X", true, "4", "fuzzy", false, false, "X", "m.fp:4"},
		{"44 hops", normal, 20, "X", true, "12", "fuzzy", false, false, "X", "m.fp:4"},
		// A TTL above the signature's is fuzzy too.
		{"above", normal, 70, "X", true, "58", "fuzzy excess_dist", false, false, "X", "m.fp:4"},
		// Random-TTL signatures accept any distance, and nothing above.
		{"random, 44 hops", random, 20, "Y", false, "<= 44", "random_ttl excess_dist", true, true, "unknown", "m.fp:5"},
		{"random, above", random, 70, "???", false, "58", "excess_dist", false, false, "unknown", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.db.Match(mssNopWS(func(e *synevent.Event) { e.TTL = tt.ttl }))
			if r.Label != tt.label || r.Fuzzy != tt.fuzzy || string(r.AppendDist(nil)) != tt.dist ||
				string(r.AppendParams(nil)) != tt.params || r.RandomTTL != tt.randomTTL || r.Tool != tt.tool ||
				r.Class != tt.wantClass || r.Source != tt.wantSource {
				t.Errorf("got %+v dist=%s params=%s", r, r.AppendDist(nil), r.AppendParams(nil))
			}
		})
	}
}

func TestMatchToolNeverFuzzy(t *testing.T) {
	db := testDB(t, "label = s:!:Scanner:\nsys = @unix\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df,id+:0\n")
	r := db.Match(mssNopWS(func(e *synevent.Event) { e.TTL = 50 }))
	// p0f drops the fuzzy application match and leaves the distance at 0.
	if r.Matched || r.Label != "???" || r.Dist != 0 || r.Class != "unknown" {
		t.Errorf("got %+v", r)
	}
	// A fuzzy OS match listed before it is still used.
	db = testDB(t, "label = s:unix:OS:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df,id+:0\n"+
		"label = s:!:Scanner:\nsys = @unix\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df,id+:0\n")
	if r := db.Match(mssNopWS()); r.Label != "OS" || !r.Fuzzy {
		t.Errorf("got %+v", r)
	}
}

func TestMatchFields(t *testing.T) {
	tests := []struct {
		sig  string
		mod  func(*synevent.Event)
		want bool
	}{
		{"4:64:0:1460:mss*20,7:mss,nop,ws:df:0", nil, true},
		{"4:64:0:1400:mss*20,7:mss,nop,ws:df:0", nil, false},
		{"4:64:0:*:mss*20,*:mss,nop,ws:df:0", nil, true},
		{"4:64:0:*:mss*20,8:mss,nop,ws:df:0", nil, false},
		{"4:64:0:*:29200,7:mss,nop,ws:df:0", nil, true},
		{"4:64:0:*:29201,7:mss,nop,ws:df:0", nil, false},
		{"4:64:0:*:%7300,7:mss,nop,ws:df:0", nil, true},
		{"4:64:0:*:%7301,7:mss,nop,ws:df:0", nil, false},
		{"4:64:0:*:mss*10,7:mss,nop,ws:df:0", nil, false},
		{"4:64:0:*:mtu*2,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.Window = 3000 }, true},
		{"4:64:0:*:mss*2,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.Window = 3000 }, false},
		{"4:64:0:*:mss*2,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.Window = 2920 }, true},
		{"4:64:0:*:mtu*2,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.Window = 2920 }, false},
		{"4:64:0:*:*,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.Window = 1 }, true},
		{"4:64:0:*:*,7:mss,nop,ws:df:+", nil, false},
		{"4:64:0:*:*,7:mss,nop,ws:df:+", func(e *synevent.Event) { e.PayloadLen = 1 }, true},
		{"4:64:0:*:*,7:mss,nop,ws:df:*", func(e *synevent.Event) { e.PayloadLen = 1 }, true},
		{"4:64:0:*:*,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.PayloadLen = 1 }, false},
		{"4:64:4:*:*,7:mss,nop,ws:df:0", nil, false},
		{"4:64:4:*:*,7:mss,nop,ws:df:0", func(e *synevent.Event) { e.IPOptLen, e.IPHdrLen = 4, 24 }, true},
		{"4:64:0:*:*,7:mss,ws:df:0", nil, false},
		{"4:64:0:*:*,7:mss,nop,ws,eol+1:df:0", func(e *synevent.Event) { setOptions(e, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7, 0, 0}) }, true},
		{"4:64:0:*:*,7:mss,nop,ws,eol+0:df:0", func(e *synevent.Event) { setOptions(e, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7, 0, 0}) }, false},
		// p0f never compares the IP version itself: a version-specific
		// signature can match the other version when the quirks agree.
		{"6:64:0:*:*,7:mss,nop,ws::0", func(e *synevent.Event) { e.IPFlags, e.IPID = 0, 9 }, true},
		// A version-less signature drops the other version's quirks.
		{"*:64:0:*:*,7:mss,nop,ws:df,flow:0", nil, true},
		{"*:64:0:*:*,7:mss,nop,ws:df,flow:0", func(e *synevent.Event) { v6(e); e.FlowLabel = 1 }, true},
		{"*:64:0:*:*,7:mss,nop,ws:df:0", func(e *synevent.Event) { v6(e); e.FlowLabel = 1 }, false},
	}
	for _, tt := range tests {
		db := testDB(t, "label = s:unix:X:\nsig = "+tt.sig+"\n")
		ev := mssNopWS()
		if tt.mod != nil {
			tt.mod(ev)
		}
		r := db.Match(ev)
		if got := r.Matched && !r.Fuzzy; got != tt.want {
			t.Errorf("%s vs %s: matched=%v fuzzy=%v, want exact=%v", tt.sig, r.RawSig(), r.Matched, r.Fuzzy, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	a := testDB(t, "label = s:unix:A:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df:0\n")
	b := testDB(t, "label = s:win:B:\nsig = 4:64:0:*:mss*20,7:mss,nop,ws:df:0\n"+
		"label = s:win:B2:\nsig = 4:64:0:*:1000,7:mss,nop,ws:df:0\n")
	m := Merge(a, nil, b)
	if m.Len() != 3 {
		t.Fatalf("Len %d", m.Len())
	}
	if r := m.Match(mssNopWS()); r.Label != "A" {
		t.Errorf("first database should win, got %q", r.Label)
	}
	if r := Merge(b, a).Match(mssNopWS()); r.Label != "B" || r.Class != "B" {
		t.Errorf("got %q %q", r.Label, r.Class)
	}
	if r := m.Match(mssNopWS(func(e *synevent.Event) { e.Window = 1000 })); r.Label != "B2" {
		t.Errorf("got %q", r.Label)
	}
	if r := Merge().Match(mssNopWS()); r.Matched || r.Label != "???" || r.Dist != 0 {
		t.Errorf("empty database: %+v", r)
	}
	var none *DB
	if r := none.Match(mssNopWS(func(e *synevent.Event) { e.TTL = 120 })); r.Matched || r.Dist != 8 {
		t.Errorf("nil database: %+v", r)
	}
}

func TestFamilies(t *testing.T) {
	for name, want := range map[string]string{
		"Windows": "Windows", "Linux": "Linux", "Mac OS X": "Mac OS X", "MacOS X": "Mac OS X", "macOS": "Mac OS X",
		"iOS": "iOS", "FreeBSD": "FreeBSD", "OpenBSD": "OpenBSD", "Solaris": "Solaris", "HP-UX": "HP-UX",
		"Nintendo": "Nintendo",
	} {
		if got := familyOf(name, false); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
	if got := familyOf("Linux", true); got != "unknown" {
		t.Errorf("tool: %s", got)
	}
}

func TestBuiltinMatches(t *testing.T) {
	db := Builtin()
	tests := []struct {
		ev          *synevent.Event
		label, cls  string
		tool, fuzzy bool
	}{
		{testEvent(func(e *synevent.Event) { e.Window = 64240 }), "Linux 4.19 and newer", "Linux", false, false},
		{testEvent(v6, opts(linux6...), func(e *synevent.Event) { e.Window, e.FlowLabel = 64800, 0x5a5a5 }),
			"Linux 4.19 and newer", "Linux", false, false},
		{testEvent(opts(winOpts...), func(e *synevent.Event) { e.TTL, e.Window = 117, 64240 }), "Windows 10 or 11", "Windows", false, false},
		{testEvent(opts(macOpts...), func(e *synevent.Event) { e.Window = 65535 }), "Mac OS X recent, or iOS", "Mac OS X", false, false},
		{testEvent(opts(2, 4, 5, 0xb4), func(e *synevent.Event) { e.TTL, e.IPFlags, e.IPID, e.Window = 240, 0, 54321, 65535 }),
			"ZMap SYN scan", "unknown", true, false},
		{testEvent(opts(2, 4, 5, 0xb4), func(e *synevent.Event) { e.TTL, e.IPFlags, e.Window = 240, 0, 1025 }),
			"masscan SYN scan", "unknown", true, false},
		{testEvent(opts(2, 4, 5, 0xb4), func(e *synevent.Event) { e.TTL, e.IPFlags, e.Window = 41, 0, 2048 }),
			"Nmap SYN scan", "unknown", true, false},
	}
	for _, tt := range tests {
		r := db.Match(tt.ev)
		if r.Label != tt.label || r.Class != tt.cls || r.Tool != tt.tool || r.Fuzzy != tt.fuzzy {
			t.Errorf("%s: got %q %q tool=%v fuzzy=%v, want %q", r.RawSig(), r.Label, r.Class, r.Tool, r.Fuzzy, tt.label)
		}
	}
}

// benchDB is the CLI's default database: the stock one, then ours.
func benchDB(tb testing.TB) *DB {
	tb.Helper()
	stock, _, err := LoadFile(StockPath)
	if err != nil {
		if os.IsNotExist(err) {
			tb.Skipf("%s missing", StockPath)
		}
		tb.Fatal(err)
	}
	return Merge(stock, Builtin())
}

// benchEvents is a mix of SYNs: every observeCases event plus common systems.
func benchEvents() []*synevent.Event {
	var evs []*synevent.Event
	for _, c := range observeCases {
		evs = append(evs, testEvent(c.mod...))
	}
	evs = append(evs,
		testEvent(func(e *synevent.Event) { e.Window = 64240 }),
		testEvent(opts(winOpts...), func(e *synevent.Event) { e.TTL, e.Window = 117, 64240 }),
		testEvent(opts(macOpts...), func(e *synevent.Event) { e.Window = 65535 }),
		testEvent(opts(2, 4, 5, 0xb4), func(e *synevent.Event) { e.TTL, e.IPFlags, e.Window = 41, 0, 1024 }),
	)
	return evs
}

func TestMatchZeroAllocs(t *testing.T) {
	db := Builtin()
	if _, err := os.Stat(StockPath); err == nil {
		db = benchDB(t)
	}
	evs := benchEvents()
	var sink Result
	allocs := testing.AllocsPerRun(20, func() {
		for _, ev := range evs {
			sink = db.Match(ev)
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %.1f times per %d SYNs", allocs, len(evs))
	}
	buf := make([]byte, 0, 256)
	allocs = testing.AllocsPerRun(20, func() {
		buf = sink.AppendRawSig(buf[:0])
		buf = sink.AppendParams(buf)
		buf = sink.AppendDist(buf)
	})
	if allocs != 0 {
		t.Errorf("formatting allocates %.1f times", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	db := benchDB(b)
	evs := benchEvents()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = db.Match(evs[i%len(evs)])
	}
}

func BenchmarkMatchAndFormat(b *testing.B) {
	db := benchDB(b)
	evs := benchEvents()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := db.Match(evs[i%len(evs)])
		buf = r.AppendRawSig(buf[:0])
	}
}
