package enrich

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestQueryName(t *testing.T) {
	for _, c := range []struct {
		ip, zone, want string
	}{
		{"192.0.2.7", "bl.test", "7.2.0.192.bl.test."},
		{"192.0.2.7", "BL.Test.", "7.2.0.192.bl.test."},
		{"::ffff:192.0.2.7", "bl.test", "7.2.0.192.bl.test."},
		{"2001:db8::25", "bl.test", "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test."},
		{"2001:db8:1:2:3:4:5:abcd", "origin6.asn.cymru.com",
			"d.c.b.a.5.0.0.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.origin6.asn.cymru.com."},
	} {
		if got := QueryName(netip.MustParseAddr(c.ip), c.zone); got != c.want {
			t.Errorf("QueryName(%s, %s) = %s, want %s", c.ip, c.zone, got, c.want)
		}
	}
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.7", "7.2.0.192.in-addr.arpa."},
		{"::ffff:192.0.2.7", "7.2.0.192.in-addr.arpa."},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := reverseName(ip); got != c.want {
			t.Errorf("reverseName(%s) = %s, want %s", c.ip, got, c.want)
		}
		// Cross-check with miekg/dns's own function.
		if want, _ := dns.ReverseAddr(ip.Unmap().String()); reverseName(ip) != want {
			t.Errorf("reverseName(%s) = %s, dns.ReverseAddr says %s", c.ip, reverseName(ip), want)
		}
	}
}

func TestDNSBL(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	ctx := context.Background()

	for _, c := range []struct {
		name    string
		ip      netip.Addr
		listed  bool
		codes   []netip.Addr
		reasons []string
		err     error
	}{
		{"listed IPv4", listed4, true, addrs("127.0.0.2", "127.0.0.4"),
			[]string{"listed: spam trap hit see https://bl.test/192.0.2.7"}, nil},
		{"listed IPv4-mapped", netip.MustParseAddr("::ffff:192.0.2.7"), true, addrs("127.0.0.2", "127.0.0.4"),
			[]string{"listed: spam trap hit see https://bl.test/192.0.2.7"}, nil},
		{"listed IPv6", listed6, true, addrs("127.0.0.3"), []string{"IPv6 listed"}, nil},
		{"clean IPv4", clean4, false, nil, nil, nil},
		{"clean IPv6", clean6, false, nil, nil, nil},
		{"refused code", refused4, false, nil, nil, ErrDNSBLCode},
		{"answer outside 127/8", foreign4, false, nil, nil, ErrBadAnswer},
		{"servfail", servfail4, false, nil, nil, ErrServFail},
		{"listed, TXT fails", notxt4, true, addrs("127.0.0.10"), nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := e.LookupDNSBL(ctx, c.ip)
			if len(rs) != 1 {
				t.Fatalf("got %d results, want 1", len(rs))
			}
			r := rs[0]
			if r.Zone != testBL {
				t.Errorf("zone %q", r.Zone)
			}
			if c.err == nil && (err != nil || r.Err != nil) {
				t.Fatalf("unexpected error %v / %v", err, r.Err)
			}
			if c.err != nil && (!errors.Is(err, c.err) || !errors.Is(r.Err, c.err)) {
				t.Fatalf("error %v / %v, want %v", err, r.Err, c.err)
			}
			if r.Listed != c.listed || !slices.Equal(r.Codes, c.codes) || !slices.Equal(r.Reasons, c.reasons) {
				t.Errorf("got listed=%v codes=%v reasons=%q, want %v %v %q",
					r.Listed, r.Codes, r.Reasons, c.listed, c.codes, c.reasons)
			}
		})
	}
	st := e.Stats()
	if st.ServFail < 2 || st.NXDomain < 2 {
		t.Errorf("stats %+v: want at least 2 SERVFAIL (A and TXT) and 2 NXDOMAIN", st)
	}

	r, err := e.LookupDNSBLZone(ctx, listed6, "BL.TEST.")
	if err != nil || !r.Listed || r.Zone != testBL {
		t.Errorf("LookupDNSBLZone: %+v, %v", r, err)
	}
	if _, err := e.LookupDNSBL(ctx, netip.Addr{}); err == nil {
		t.Error("invalid address accepted")
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	rs, err := e.LookupDNSBL(context.Background(), truncated4)
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Listed || !slices.Equal(rs[0].Reasons, []string{"listed, long answer"}) {
		t.Errorf("got %+v", rs[0])
	}
	name := QueryName(truncated4, testBL)
	for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
		if u, tc := srv.count(name, qt, "udp"), srv.count(name, qt, "tcp"); u != 1 || tc != 1 {
			t.Errorf("%s: %d UDP and %d TCP queries, want 1 and 1", dns.TypeToString[qt], u, tc)
		}
	}
	st := e.Stats()
	if st.Truncated != 2 || st.TCPQueries != 2 || st.Queries != 4 || st.Answers != 4 {
		t.Errorf("stats %+v: want 2 truncated, 2 TCP of 4 queries, 4 answers", st)
	}
}

func TestTimeoutRetried(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.Timeout = 50 * time.Millisecond
	cfg.Retries = 1
	e := newTestEnricher(t, cfg)
	rs, err := e.LookupDNSBL(context.Background(), silent4)
	if !errors.Is(err, ErrTimeout) || !errors.Is(rs[0].Err, ErrTimeout) || rs[0].Listed {
		t.Fatalf("got %+v, %v; want a timeout", rs, err)
	}
	if n := srv.count(QueryName(silent4, testBL), dns.TypeA, ""); n != 2 {
		t.Errorf("server saw %d queries, want 2 (one retry)", n)
	}
	st := e.Stats()
	if st.Timeouts != 2 || st.Queries != 2 || st.Answers != 0 {
		t.Errorf("stats %+v: want 2 timeouts of 2 queries", st)
	}
	// A failure is not cached: the next look-up asks again.
	e.LookupDNSBL(context.Background(), silent4)
	if n := srv.count(QueryName(silent4, testBL), dns.TypeA, ""); n != 4 {
		t.Errorf("server saw %d queries, want 4", n)
	}
}

func TestRefused(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	_, err := e.LookupPTR(context.Background(), refusedPTR)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want REFUSED", err)
	}
	if st := e.Stats(); st.Refused != 1 {
		t.Errorf("stats %+v: want 1 refused", st)
	}
}

func TestPTR(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		ip        netip.Addr
		names     []string
		confirmed string
		err       error
	}{
		{"second name confirms", listed4, []string{"liar.example.test", "mail.example.test"}, "mail.example.test", nil},
		{"IPv4-mapped", netip.MustParseAddr("::ffff:192.0.2.7"),
			[]string{"liar.example.test", "mail.example.test"}, "mail.example.test", nil},
		{"IPv6 confirmed by AAAA", listed6, []string{"mx6.example.test"}, "mx6.example.test", nil},
		{"not confirmed", unconf4, []string{"fake.example.test"}, "", nil},
		{"no PTR", clean4, nil, "", nil},
		{"forward look-up fails", fwdFail4, []string{"broken.example.test"}, "", ErrServFail},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := e.LookupPTR(ctx, c.ip)
			if (c.err == nil && err != nil) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if !slices.Equal(r.Names, c.names) || r.Confirmed != c.confirmed {
				t.Errorf("got %+v, want names %q confirmed %q", r, c.names, c.confirmed)
			}
		})
	}
	// Only the first MaxPTRNames names are checked.
	r, err := e.LookupPTR(ctx, clean6)
	if err != nil || len(r.Names) != 8 || r.Confirmed != "" {
		t.Fatalf("got %+v, %v", r, err)
	}
	checked := 0
	for _, n := range r.Names {
		checked += srv.count(n, dns.TypeAAAA, "")
	}
	if checked != e.Config().MaxPTRNames {
		t.Errorf("%d forward look-ups, want %d", checked, e.Config().MaxPTRNames)
	}
}

func TestASN(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ip   netip.Addr
		want ASNResult
		err  error
	}{
		{"IPv4, name with separators", listed4, ASNResult{
			Origins: []ASN{{Number: 64500, Name: "EXAMPLE-NET - Example | Networks, US"}},
			Prefix:  netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Registry: "arin",
			Allocated: "1998-09-25", Source: SourceCymru}, nil},
		{"multi-origin", multi4, ASNResult{
			Origins: []ASN{{Number: 64501, Name: "FIRST-AS, NL"}, {Number: 64502, Name: "SECOND-AS, NL"}},
			Prefix:  netip.MustParsePrefix("198.51.100.0/24"), Country: "NL", Registry: "ripencc",
			Allocated: "2005-01-01", Source: SourceCymru}, nil},
		{"most specific of two", nested4, ASNResult{
			Origins: []ASN{{Number: 64505, Name: "NESTED-AS, AU"}},
			Prefix:  netip.MustParsePrefix("203.0.113.0/24"), Country: "AU", Registry: "apnic",
			Allocated: "2001-02-03", Source: SourceCymru}, nil},
		{"IPv6", listed6, ASNResult{
			Origins: []ASN{{Number: 64503, Name: "V6-AS, DE"}},
			Prefix:  netip.MustParsePrefix("2001:db8::/32"), Country: "DE", Registry: "ripencc",
			Allocated: "2010-01-01", Source: SourceCymru}, nil},
		{"empty fields", piped6, ASNResult{
			Origins: []ASN{{Number: 64506, Name: ""}},
			Prefix:  netip.MustParsePrefix("2001:db8:1::/48"), Country: "FR", Registry: "ripencc",
			Source: SourceCymru}, nil},
		{"unrouted", unrouted6, ASNResult{}, nil},
		{"servfail", servfail6, ASNResult{}, ErrServFail},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.LookupASN(ctx, c.ip)
			if (c.err == nil && err != nil) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if !equalASN(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func equalASN(a, b ASNResult) bool {
	return slices.Equal(a.Origins, b.Origins) && a.Prefix == b.Prefix && a.Country == b.Country &&
		a.Registry == b.Registry && a.Allocated == b.Allocated && a.Source == b.Source
}

func TestCacheHitAndExpiry(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.MaxTTL = time.Hour
	e := newTestEnricher(t, cfg)
	clk := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	e.setClock(clk.Now)
	ctx := context.Background()
	name := QueryName(listed4, testBL)

	lookup := func() {
		t.Helper()
		rs, err := e.LookupDNSBL(ctx, listed4)
		if err != nil || !rs[0].Listed {
			t.Fatalf("got %+v, %v", rs, err)
		}
	}
	lookup()
	if st := e.Stats(); st.CacheMisses != 2 || st.CacheHits != 0 || st.CacheEntries != 2 {
		t.Fatalf("after the first look-up: %+v", st)
	}
	lookup()
	if st := e.Stats(); st.CacheHits != 2 || st.CacheMisses != 2 {
		t.Errorf("second look-up: %+v, want 2 cache hits (A and TXT)", st)
	}
	if n := srv.count(name, dns.TypeA, ""); n != 1 {
		t.Errorf("server saw %d A queries, want 1", n)
	}
	clk.Advance(positiveTTL*time.Second - time.Second)
	lookup()
	if n := srv.count(name, dns.TypeA, ""); n != 1 {
		t.Errorf("before the TTL: server saw %d A queries, want 1", n)
	}
	clk.Advance(time.Second)
	lookup()
	if n := srv.count(name, dns.TypeA, ""); n != 2 {
		t.Errorf("after the TTL: server saw %d A queries, want 2", n)
	}
	if st := e.Stats(); st.CacheHits != 4 || st.CacheMisses != 4 {
		t.Errorf("stats %+v: want 4 hits and 4 misses", st)
	}
}

func TestCacheTTLClamped(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.MaxTTL = time.Minute
	e := newTestEnricher(t, cfg)
	clk := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	e.setClock(clk.Now)
	name := QueryName(listed6, testBL)
	e.LookupDNSBL(context.Background(), listed6)
	clk.Advance(59 * time.Second)
	e.LookupDNSBL(context.Background(), listed6)
	if n := srv.count(name, dns.TypeA, ""); n != 1 {
		t.Errorf("within MaxTTL: %d queries, want 1", n)
	}
	clk.Advance(time.Second)
	e.LookupDNSBL(context.Background(), listed6)
	if n := srv.count(name, dns.TypeA, ""); n != 2 {
		t.Errorf("after MaxTTL: %d queries, want 2", n)
	}
}

func TestNegativeCache(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	e := newTestEnricher(t, cfg)
	clk := &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	e.setClock(clk.Now)
	ctx := context.Background()
	name := QueryName(clean4, testBL)
	for range 3 {
		rs, err := e.LookupDNSBL(ctx, clean4)
		if err != nil || rs[0].Listed {
			t.Fatalf("got %+v, %v", rs, err)
		}
	}
	if n := srv.count(name, dns.TypeA, ""); n != 1 {
		t.Errorf("server saw %d queries, want 1 (NXDOMAIN cached)", n)
	}
	st := e.Stats()
	if st.NXDomain != 1 || st.CacheHits != 2 {
		t.Errorf("stats %+v: want 1 NXDOMAIN, 2 cache hits", st)
	}
	// The test server's SOA has TTL 3600 and MINIMUM 60: 60 s it is.
	clk.Advance(59 * time.Second)
	e.LookupDNSBL(ctx, clean4)
	if n := srv.count(name, dns.TypeA, ""); n != 1 {
		t.Errorf("within the SOA minimum: %d queries, want 1", n)
	}
	clk.Advance(time.Second)
	e.LookupDNSBL(ctx, clean4)
	if n := srv.count(name, dns.TypeA, ""); n != 2 {
		t.Errorf("after the SOA minimum: %d queries, want 2", n)
	}
}

func TestNegativeTTL(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinTTL = 10 * time.Second
	cfg.NegativeTTL = 5 * time.Minute
	cfg.MaxNegativeTTL = 30 * time.Minute
	cfg.MaxTTL = time.Hour
	r := newResolver(cfg, &counters{}, zap.NewNop())
	soa := func(ttl, minimum uint32) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns: "ns.test.", Mbox: "h.test.", Minttl: minimum}
	}
	a := func(ttl uint32) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: "x.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
			A: []byte{127, 0, 0, 2}}
	}
	for _, c := range []struct {
		name string
		msg  dns.Msg
		want time.Duration
	}{
		{"NXDOMAIN without SOA", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError}}, 5 * time.Minute},
		{"NXDOMAIN, SOA minimum", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError},
			Ns: []dns.RR{soa(3600, 120)}}, 2 * time.Minute},
		{"NODATA, SOA TTL lower", dns.Msg{Ns: []dns.RR{soa(90, 600)}}, 90 * time.Second},
		{"negative clamped up", dns.Msg{Ns: []dns.RR{soa(1, 1)}}, 10 * time.Second},
		{"negative clamped down", dns.Msg{Ns: []dns.RR{soa(86400, 86400)}}, 30 * time.Minute},
		{"positive, lowest TTL", dns.Msg{Answer: []dns.RR{a(600), a(300)}}, 5 * time.Minute},
		{"positive clamped up", dns.Msg{Answer: []dns.RR{a(0)}}, 10 * time.Second},
		{"positive clamped down", dns.Msg{Answer: []dns.RR{a(86400)}}, time.Hour},
	} {
		if got := r.ttl(&c.msg); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.CacheEntries = 0
	e := newTestEnricher(t, cfg)
	for range 2 {
		e.LookupDNSBL(context.Background(), clean4)
	}
	if n := srv.count(QueryName(clean4, testBL), dns.TypeA, ""); n != 2 {
		t.Errorf("%d queries, want 2", n)
	}
	if st := e.Stats(); st.CacheHits != 0 || st.CacheMisses != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLRUEviction(t *testing.T) {
	c := newCache(2)
	now := time.Now()
	later := now.Add(time.Hour)
	c.put("a", answer{rcode: 1}, later)
	c.put("b", answer{rcode: 2}, later)
	if _, ok := c.get("a", now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", answer{rcode: 3}, later) // evicts b
	if _, ok := c.get("b", now); ok {
		t.Error("b survived eviction")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(k, now); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	if _, ok := c.get("a", later); ok {
		t.Error("expired entry returned")
	}
	if c.len() != 1 {
		t.Errorf("len %d after expiry, want 1", c.len())
	}
}

func TestRateLimitWaitsAreCounted(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.QueriesPerSecond = 20
	cfg.Burst = 1
	cfg.CacheEntries = 0
	e := newTestEnricher(t, cfg)
	// With the limiter's clock frozen no token comes back by itself: the
	// first query spends the burst, each later one waits its turn (50 ms,
	// then 100, 150), however fast or slow the machine is.
	frozen := time.Now()
	e.res.limit.now = func() time.Time { return frozen }
	for range 4 {
		if _, err := e.LookupDNSBL(context.Background(), clean4); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.Stats(); st.Queries != 4 || st.RateLimited != 3 {
		t.Errorf("stats %+v: want 4 queries, 3 of them rate limited", st)
	}
}

// TestRateLimitDeadline: a wait longer than the caller's deadline fails at
// once instead of sleeping until the deadline.
func TestRateLimitDeadline(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.QueriesPerSecond = 0.001
	cfg.Burst = 1
	e := newTestEnricher(t, cfg)
	e.LookupDNSBL(context.Background(), clean4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the wait would be 1000 s
	defer cancel()
	if _, err := e.LookupDNSBL(ctx, clean6); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
	if st := e.Stats(); st.Queries != 1 || st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateLimitCancelledWait(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.QueriesPerSecond = 0.001 // one query, then a wait of 1000 s
	cfg.Burst = 1
	e := newTestEnricher(t, cfg)
	if _, err := e.LookupDNSBL(context.Background(), clean4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.LookupDNSBL(ctx, clean6)
		done <- err
	}()
	waitFor(t, func() bool { return e.Stats().RateLimited == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if st := e.Stats(); st.Queries != 1 || st.RateLimited != 1 {
		t.Errorf("stats %+v: want 1 query sent, 1 rate limited", st)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
