package record

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// The seeds of the random round trips, also the fuzz targets' corpus.
var seeds = []uint64{1, 2, 3, 15, 2026}

// gen draws random values; str, when not empty, is mixed into the strings
// (the fuzzer's input).
type gen struct {
	r   *rand.Rand
	str string
}

func newGen(seed uint64, str string) *gen {
	return &gen{rand.New(rand.NewPCG(seed, 0x7265636f7264)), str}
}

// pieces of strings: plain text, every escape AppendString knows, a
// multi-byte rune, U+2028/U+2029, DEL and invalid UTF-8.
var pieces = []string{"Linux", " 3.11 and newer", "a", "", "\"", "\\", "/", "<&>", "\n", "\r", "\t", "\x00", "\x01",
	"\x1f", "\x7f", "é", "日本", "\u2028", "\u2029", "\U0001F600", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\ufffd"}

func (g *gen) string() string {
	if g.str != "" && g.r.IntN(3) == 0 {
		return g.str
	}
	var b []byte
	for range g.r.IntN(6) {
		b = append(b, pieces[g.r.IntN(len(pieces))]...)
	}
	return string(b)
}

func (g *gen) strings() []string {
	var ss []string
	for range g.r.IntN(4) {
		ss = append(ss, g.string())
	}
	return ss
}

// time is zero one time in five, else any instant of years 1970-2100 in
// some zone (written in UTC).
func (g *gen) time() time.Time {
	if g.r.IntN(5) == 0 {
		return time.Time{}
	}
	zone := time.FixedZone("", (g.r.IntN(49)-24)*1800)
	return time.Unix(0, g.r.Int64N(4102444800e9)).In(zone)
}

func (g *gen) addr(f Family) netip.Addr {
	if f == IPv4 {
		return netip.AddrFrom4([4]byte{byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32())})
	}
	var a [16]byte
	for i := range a {
		a[i] = byte(g.r.Uint32())
	}
	if g.r.IntN(8) == 0 {
		a = netip.AddrFrom4([4]byte{192, 0, 2, byte(g.r.Uint32())}).As16() // IPv4-mapped
	}
	return netip.AddrFrom16(a)
}

func (g *gen) family() Family { return []Family{IPv4, IPv6}[g.r.IntN(2)] }

func (g *gen) anyAddr() netip.Addr { return g.addr(g.family()) }

func (g *gen) addrs() []netip.Addr {
	var as []netip.Addr
	for range g.r.IntN(3) {
		as = append(as, g.anyAddr())
	}
	return as
}

func (g *gen) port() uint16 { return uint16(g.r.Uint32()) }
func (g *gen) bool() bool   { return g.r.IntN(2) == 0 }
func (g *gen) int() int     { return g.r.IntN(1<<20) - g.r.IntN(4) }

func (g *gen) attempt() Attempt {
	a := Attempt{FirstSeen: g.time(), LastSeen: g.time(), Family: g.family(), SrcPort: g.port(), DstPort: g.port(),
		SYNs: g.int(), OS: g.string(), OSClass: g.string(), Dist: g.int(), RawSig: g.string()}
	a.Src, a.Dst = g.addr(a.Family), g.addr(a.Family)
	if a.Family == IPv6 {
		a.AddrType = g.string()
	} else {
		a.Blocklisted = g.bool()
	}
	return a
}

// association: unassociated, associated with an address only, or with an
// attempt, one time in three each.
func (g *gen) association() Association {
	a := Association{FirstSeen: g.time(), Src: g.addr(IPv6), SrcPort: g.port(), SYNs: g.int(), OSClass: g.string(),
		AddrType: g.string(), Score: g.r.Float64() * 2, Evidence: g.strings(), Spammer: g.bool()}
	switch g.r.IntN(3) {
	case 1:
		a.IPv4 = IPv4Ref{Src: g.addr(IPv4), Blocklisted: g.bool()}
	case 2:
		a.IPv4 = IPv4Ref{Src: g.addr(IPv4), SrcPort: g.port(), FirstSeen: g.time(), Blocklisted: g.bool()}
		if a.IPv4.FirstSeen.IsZero() {
			a.IPv4.FirstSeen = time.Unix(1, 0)
		}
	}
	return a
}

func (g *gen) rejection() Rejection {
	r := Rejection{Time: g.time(), IP: g.anyAddr(), Zone: g.string(), Rank: g.int(), Reason: g.string(), Raw: g.string(),
		MTA: []string{MTAPostfixSMTPD, MTAPostfixPostscreen, MTAExim, MTASendmail, g.string()}[g.r.IntN(5)]}
	if g.r.IntN(4) == 0 {
		r.IP = netip.Addr{}
	}
	return r
}

func (g *gen) enrichment() Enrichment {
	e := Enrichment{Time: g.time(), IP: g.anyAddr(), Error: g.string()}
	for range g.r.IntN(3) {
		e.DNSBL = append(e.DNSBL, DNSBLAnswer{Zone: g.string(), Listed: g.bool(), Codes: g.addrs(),
			Reasons: g.strings(), Error: g.string()})
	}
	if g.bool() {
		e.PTR = PTR{Names: append(g.strings(), g.string()), Confirmed: g.string()}
	}
	if g.bool() {
		e.ASN = ASN{Country: g.string(), Registry: g.string(), Allocated: g.string(), Source: g.string()}
		for range 1 + g.r.IntN(2) {
			e.ASN.Origins = append(e.ASN.Origins, AS{Number: g.r.Uint32(), Name: g.string()})
		}
		if g.bool() {
			e.ASN.Prefix = netip.PrefixFrom(g.anyAddr(), 0).Masked()
			e.ASN.Prefix, _ = e.ASN.Prefix.Addr().Prefix(g.r.IntN(e.ASN.Prefix.Addr().BitLen() + 1))
		}
	}
	return e
}

func (g *gen) truth() Truth {
	if g.bool() {
		return Truth{Type: TruthHost, Host: g.int(), OS: g.string(), OSClass: g.string(), IPv4: g.addrs(),
			IPv6: g.addrs(), AddrType: g.string(), Spammer: g.bool(), Listed: g.bool(), NAT: g.bool(),
			Role: g.string(), Software: g.string(), Group: g.int(), Hops4: g.int(), Hops6: g.int()}
	}
	t := Truth{Type: TruthAttempt, Host: g.int(), Family: g.family(), SrcPort: g.port(), FirstSeen: g.time(),
		SYNs: g.int(), Delivery: g.int()}
	t.Src = g.addr(t.Family)
	if g.bool() {
		t.Pair = AttemptRef{Src: g.anyAddr(), SrcPort: g.port(), FirstSeen: g.time()}
	}
	return t
}

func (g *gen) fingerprint() Fingerprint {
	f := g.family()
	return Fingerprint{Time: g.time(), Src: g.addr(f), SrcPort: g.port(), Dst: g.addr(f), DstPort: g.port(),
		Label: g.string(), OSClass: g.string(), Generic: g.bool(), Fuzzy: g.bool(), Dist: g.int(), RawSig: g.string()}
}

// normalize puts v (a pointer) in the form a written and read back value
// has: every string as valid UTF-8 (each invalid byte U+FFFD, as
// AppendString and encoding/json write it), times in UTC, empty slices
// nil.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		normalize(v.Elem())
	case reflect.String:
		v.SetString(string([]rune(v.String())))
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	case reflect.Struct:
		switch t := v.Addr().Interface().(type) {
		case *time.Time:
			if !t.IsZero() {
				*t = time.Unix(0, t.UnixNano()).UTC()
			} else {
				*t = time.Time{}
			}
			return
		case *netip.Addr, *netip.Prefix:
			return
		}
		for i := range v.NumField() {
			normalize(v.Field(i))
		}
	}
}

// line is what every record type has.
type line[T any] interface {
	*T
	AppendJSON([]byte) []byte
}

// checkRoundTrip writes vs (each with AppendJSON), checks each line is one
// line of valid JSON, and reads them back both with encoding/json and with
// the type's reader, expecting want(v) normalized.
func checkRoundTrip[T any, P line[T]](t *testing.T, vs []T, want func(*T), scan func(io.Reader, func(*T) error) (Stats, error)) {
	t.Helper()
	var all []byte
	wants := make([]T, len(vs))
	for i := range vs {
		l := P(&vs[i]).AppendJSON(nil)
		if bytes.IndexByte(l, '\n') != len(l)-1 || !json.Valid(l) {
			t.Fatalf("not one line of JSON: %q", l)
		}
		all = append(all, l...)
		wants[i] = vs[i]
		want(&wants[i])
		normalize(reflect.ValueOf(&wants[i]))
		var back T
		if err := json.Unmarshal(l, &back); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		normalize(reflect.ValueOf(&back))
		if !reflect.DeepEqual(back, wants[i]) {
			t.Fatalf("%s decodes to\n%+v\nwant\n%+v", l, back, wants[i])
		}
	}
	i := 0
	st, err := scan(bytes.NewReader(all), func(back *T) error {
		normalize(reflect.ValueOf(back))
		if !reflect.DeepEqual(*back, wants[i]) {
			t.Fatalf("line %d reads as\n%+v\nwant\n%+v", i+1, *back, wants[i])
		}
		i++
		return nil
	})
	if err != nil || st.Bad != 0 || st.Filtered != 0 || i != len(vs) {
		t.Fatalf("read %d of %d: %+v %v", i, len(vs), st, err)
	}
}

func all[T any](w Window, scan func(io.Reader, Window, func(*T) error) (Stats, error)) func(io.Reader, func(*T) error) (Stats, error) {
	return func(r io.Reader, fn func(*T) error) (Stats, error) { return scan(r, w, fn) }
}

// run checks n values of one type drawn with draw.
func run[T any, P line[T]](t *testing.T, name string, n int, draw func() T, want func(*T), scan func(io.Reader, func(*T) error) (Stats, error)) {
	t.Run(name, func(t *testing.T) {
		vs := make([]T, n)
		for i := range vs {
			vs[i] = draw()
		}
		checkRoundTrip[T, P](t, vs, want, scan)
	})
}

// roundTrips checks every record type over n values drawn from seed.
func roundTrips(t *testing.T, seed uint64, str string, n int) {
	g := newGen(seed, str)
	run(t, "attempt", n, g.attempt, func(*Attempt) {}, all(Window{}, ScanAttempts))
	run(t, "association", n, g.association, func(a *Association) {
		a.Score, _ = strconv.ParseFloat(strconv.FormatFloat(a.Score, 'f', 4, 64), 64) // 4 decimals
	}, all(Window{}, ScanAssociations))
	run(t, "rejection", n, g.rejection, func(r *Rejection) { r.Raw = "" }, all(Window{}, ScanRejections))
	run(t, "enrichment", n, g.enrichment, func(*Enrichment) {}, all(Window{}, ScanEnrichments))
	run(t, "truth", n, g.truth, func(*Truth) {}, ScanTruth)
	run(t, "fingerprint", n, g.fingerprint, func(*Fingerprint) {}, all(Window{}, ScanFingerprints))
}

func TestRoundTrip(t *testing.T) {
	for _, seed := range seeds {
		roundTrips(t, seed, "", 500)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, seed := range seeds {
		f.Add(seed, "")
		f.Add(seed, pieces[seed%uint64(len(pieces))])
	}
	f.Fuzz(func(t *testing.T, seed uint64, s string) {
		roundTrips(t, seed, s, 3)
	})
}

// AppendJSON into a buffer big enough allocates nothing, for every type.
func TestAppendJSONNoAllocs(t *testing.T) {
	g := newGen(1, "")
	at, as, rj, en, tr, fp := g.attempt(), g.association(), g.rejection(), g.enrichment(), g.truth(), g.fingerprint()
	as.IPv4 = IPv4Ref{Src: g.addr(IPv4), SrcPort: 1, FirstSeen: time.Unix(1, 0)}
	en.PTR.Names, en.ASN.Origins = []string{"mx.example.org"}, []AS{{Number: 64500}}
	buf := make([]byte, 0, 64<<10)
	for name, fn := range map[string]func([]byte) []byte{
		"attempt": at.AppendJSON, "association": as.AppendJSON, "rejection": rj.AppendJSON,
		"enrichment": en.AppendJSON, "truth": tr.AppendJSON, "fingerprint": fp.AppendJSON,
	} {
		if n := testing.AllocsPerRun(100, func() { buf = fn(buf[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per AppendJSON", name, n)
		}
	}
}

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"":                   `""`,
		"Linux 2.2.x-3.x":    `"Linux 2.2.x-3.x"`,
		"a\"b\\c/d<&>":       `"a\"b\\c/d<&>"`,
		"\n\r\t\x00\x1f\x7f": `"\n\r\t\u0000\u001f\u007f"`,
		"é\u2028\u2029日":     `"é\u2028\u2029日"`,
		"x\xffy\xe2\x80":     `"x\ufffdy\ufffd\ufffd"`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

// sample is a realistic line of each type, for the benchmarks.
func sampleLines() (at Attempt, as Association) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	at = Attempt{FirstSeen: t0, LastSeen: t0.Add(3 * time.Second), Family: IPv6, Src: netip.MustParseAddr("2001:db8:1:2::10"),
		SrcPort: 40000, Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25, SYNs: 2, OS: "Linux 3.11 and newer",
		OSClass: "Linux", Dist: 6, RawSig: "6:58+6:0:1440:mss*44,7:mss,sok,ts,nop,ws::0", AddrType: "slaac-privacy"}
	as = Association{FirstSeen: t0, Src: at.Src, SrcPort: 40000, SYNs: 2, OSClass: "Linux", AddrType: "slaac-privacy",
		IPv4:  IPv4Ref{Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 40002, FirstSeen: t0.Add(-2 * time.Millisecond), Blocklisted: true},
		Score: 0.93, Evidence: []string{"order:ipv4-first(+3.0)", "port:2(+2.0)", "os:Linux(+1.0)"}, Spammer: true}
	return at, as
}

func BenchmarkAppendJSON(b *testing.B) {
	at, as := sampleLines()
	rj := Rejection{Time: at.FirstSeen, IP: as.IPv4.Src, Zone: "zen.spamhaus.org", MTA: MTAPostfixSMTPD, Reason: "https://www.spamhaus.org/query/ip/192.0.2.10"}
	buf := make([]byte, 0, 4096)
	for name, fn := range map[string]func([]byte) []byte{"attempt": at.AppendJSON, "association": as.AppendJSON, "rejection": rj.AppendJSON} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = fn(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkScan(b *testing.B) {
	at, as := sampleLines()
	var atts, assocs []byte
	for range 1000 {
		atts = at.AppendJSON(atts)
		assocs = as.AppendJSON(assocs)
	}
	b.Run("attempts", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(atts)))
		for b.Loop() {
			if _, err := ScanAttempts(bytes.NewReader(atts), Window{}, func(*Attempt) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("associations", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(assocs)))
		for b.Loop() {
			if _, err := ScanAssociations(bytes.NewReader(assocs), Window{}, func(*Association) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
