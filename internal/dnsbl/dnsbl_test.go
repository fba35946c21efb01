package dnsbl

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

const zone = "bl6.test."

func entry(prefix string, attempts int, v4 string) blocklist.Entry {
	e := blocklist.Entry{Prefix: netip.MustParsePrefix(prefix)}
	if attempts > 0 {
		e.Attempts = attempts
		e.FirstSeen = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		e.LastSeen = e.FirstSeen.Add(24 * time.Hour)
		e.IPv4 = []netip.Addr{netip.MustParseAddr(v4)}
	}
	return e
}

// nested has a /48 holding a /64 holding a /128, each with its own reason.
func nested() *Table {
	return NewTable([]blocklist.Entry{
		entry("2001:db8:a::/48", 1, "192.0.2.48"),
		entry("2001:db8:a:1::/64", 2, "192.0.2.64"),
		entry("2001:db8:a:1::7/128", 3, "192.0.2.128"),
		entry("2001:db8:b::/64", 0, ""),
		entry("2001:db8:a::/48", 9, "192.0.2.99"), // duplicate: the first wins
	})
}

func TestDNSBLNibbles(t *testing.T) {
	for _, s := range []string{"2001:db8::1", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:7f00:2", "2001:db8:a:1:0:5efe:c000:201"} {
		ip := netip.MustParseAddr(s)
		n := Nibbles(ip)
		got, ok := ParseNibbles(n)
		if !ok || got != ip {
			t.Errorf("%s -> %q -> %v %v", s, n, got, ok)
		}
		if got, ok := ParseNibbles(strings.ToUpper(n)); !ok || got != ip {
			t.Errorf("upper case %q -> %v %v", n, got, ok)
		}
	}
	if n := Nibbles(netip.MustParseAddr("2001:db8::1")); n != "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2" {
		t.Errorf("Nibbles = %q", n)
	}
	good := Nibbles(netip.MustParseAddr("2001:db8::1"))
	for _, bad := range []string{
		"", good[2:], good + ".0", "x" + good[1:], good[:61] + ".g", strings.Replace(good, ".", "-", 1),
		"10." + good[3:], // a two-character label
		good[:62] + ".",
	} {
		if ip, ok := ParseNibbles(bad); ok {
			t.Errorf("ParseNibbles(%q) = %v", bad, ip)
		}
	}
}

func TestDNSBLLongestPrefixMatch(t *testing.T) {
	tab := nested()
	if tab.Len() != 4 {
		t.Errorf("Len %d, want 4", tab.Len())
	}
	for _, c := range []struct {
		ip   string
		want string // "" = not listed
	}{
		{"2001:db8:a:1::7", "192.0.2.128"},
		{"2001:db8:a:1::8", "192.0.2.64"},
		{"2001:db8:a:1:ffff:ffff:ffff:ffff", "192.0.2.64"},
		{"2001:db8:a:2::7", "192.0.2.48"},
		{"2001:db8:a:ffff::", "192.0.2.48"},
		{"2001:db8:9:ffff:ffff:ffff:ffff:ffff", ""},
		{"2001:db8:b::1", "mxsensor: spam"},
		{"2001:db8:b:1::", ""},
		{"2001:db8:c::", ""},
		{"::ffff:7f00:2", blocklist.TestPointReason},
		{"::ffff:7f00:1", ""},
		{"192.0.2.1", ""},
	} {
		a, ok := tab.Lookup(netip.MustParseAddr(c.ip))
		switch {
		case c.want == "" && ok:
			t.Errorf("%s listed: %+v", c.ip, a)
		case c.want != "" && (!ok || a.TXT != c.want && !strings.Contains(a.TXT, " "+c.want+";") || a.A != blocklist.ListedA):
			t.Errorf("%s: %+v %v, want %s", c.ip, a, ok, c.want)
		}
	}
	// A table without entries still has the test points right.
	var empty *Table
	if _, ok := empty.Lookup(blocklist.TestPointListed); ok {
		t.Error("nil table lists")
	}
	if _, ok := NewTable(nil).Lookup(blocklist.TestPointListed); !ok {
		t.Error("empty table does not list the test point")
	}
}

func newServer(t *testing.T, tab *Table, cfg Config) *Server {
	t.Helper()
	if cfg.Zone == "" {
		cfg.Zone = "BL6.Test"
	}
	s, err := New(cfg, tab)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func rrText(rrs []dns.RR) []string {
	var s []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			s = append(s, "A "+r.A.String())
		case *dns.TXT:
			s = append(s, "TXT "+strings.Join(r.Txt, "|"))
		default:
			s = append(s, dns.TypeToString[rr.Header().Rrtype])
		}
	}
	return s
}

func TestDNSBLAnswers(t *testing.T) {
	s := newServer(t, nested(), Config{})
	name := func(ip string) string { return Nibbles(netip.MustParseAddr(ip)) + "." + zone }
	for _, c := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string
		soaNS  bool // SOA in the authority section
	}{
		{name("2001:db8:a:1::7"), dns.TypeA, dns.RcodeSuccess, "[A 127.0.0.2]", false},
		{name("2001:db8:a:1::7"), dns.TypeTXT, dns.RcodeSuccess, "[TXT mxsensor: spam via IPv4 192.0.2.128; 3 attempts since 2026-11-26]", false},
		{strings.ToUpper(name("2001:db8:a:1::7")), dns.TypeA, dns.RcodeSuccess, "[A 127.0.0.2]", false},
		{name("2001:db8:a:1::7"), dns.TypeAAAA, dns.RcodeSuccess, "[]", true},
		{name("2001:db8:a:1::7"), dns.TypeMX, dns.RcodeSuccess, "[]", true},
		{name("2001:db8:a:1::7"), dns.TypeANY, dns.RcodeNotImplemented, "[]", false},
		{name("2001:db8:c::1"), dns.TypeA, dns.RcodeNameError, "[]", true},
		{name("2001:db8:c::1"), dns.TypeTXT, dns.RcodeNameError, "[]", true},
		{name("::ffff:7f00:2"), dns.TypeA, dns.RcodeSuccess, "[A 127.0.0.2]", false},
		{name("::ffff:7f00:2"), dns.TypeTXT, dns.RcodeSuccess, "[TXT RFC 5782 test point]", false},
		{name("::ffff:7f00:1"), dns.TypeA, dns.RcodeNameError, "[]", true},
		{"0.0.0.0.1.0.0.0.a.0.0.0.8.b.d.0.1.0.0.2." + zone, dns.TypeA, dns.RcodeNameError, "[]", true},
		{"www." + zone, dns.TypeA, dns.RcodeNameError, "[]", true},
		{zone, dns.TypeSOA, dns.RcodeSuccess, "[SOA]", false},
		{"Bl6.TEST.", dns.TypeNS, dns.RcodeSuccess, "[NS]", false},
		{zone, dns.TypeA, dns.RcodeSuccess, "[]", true},
		{zone, dns.TypeANY, dns.RcodeNotImplemented, "[]", false},
		{"example.org.", dns.TypeA, dns.RcodeRefused, "[]", false},
		{"xbl6.test.", dns.TypeA, dns.RcodeRefused, "[]", false},
		{name("2001:db8:a:1::7")[:64] + "example.", dns.TypeA, dns.RcodeRefused, "[]", false},
	} {
		m := s.Answer(query(c.name, c.qtype))
		got := fmt.Sprint(rrText(m.Answer))
		if got == "[]" && len(m.Answer) == 0 {
			got = "[]"
		}
		hasSOA := len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
		if m.Rcode != c.rcode || got != c.answer || hasSOA != c.soaNS {
			t.Errorf("%s %s: %s %s ns=%v; want %s %s soa=%v", c.name, dns.TypeToString[c.qtype],
				dns.RcodeToString[m.Rcode], got, m.Ns, dns.RcodeToString[c.rcode], c.answer, c.soaNS)
		}
		if !m.Response || m.Id == 0 && c.rcode != dns.RcodeRefused {
			t.Errorf("%s: not a response: %+v", c.name, m.MsgHdr)
		}
		if m.Rcode != dns.RcodeRefused && !m.Authoritative {
			t.Errorf("%s: not authoritative", c.name)
		}
		for _, rr := range m.Answer {
			if rr.Header().Name != c.name {
				t.Errorf("owner %q, want the query name %q", rr.Header().Name, c.name)
			}
		}
	}
	soa := s.Answer(query(zone, dns.TypeSOA)).Answer[0].(*dns.SOA)
	if soa.Ns != "localhost." || soa.Mbox != "hostmaster.bl6.test." || soa.Minttl != DefaultNegTTL {
		t.Errorf("SOA %v", soa)
	}
	// Class CH (version.bind and friends): refused.
	m := query("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if r := s.Answer(m); r.Rcode != dns.RcodeRefused {
		t.Errorf("CH: %s", dns.RcodeToString[r.Rcode])
	}
	m = query(zone, dns.TypeSOA)
	m.Opcode = dns.OpcodeNotify
	if r := s.Answer(m); r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %s", dns.RcodeToString[r.Rcode])
	}
	m = query(zone, dns.TypeSOA)
	m.Question = append(m.Question, m.Question[0])
	if r := s.Answer(m); r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s", dns.RcodeToString[r.Rcode])
	}
	// EDNS is echoed.
	m = query(name("2001:db8:a:1::7"), dns.TypeTXT)
	m.SetEdns0(4096, false)
	if r := s.Answer(m); r.IsEdns0() == nil {
		t.Error("no OPT in the answer to an EDNS query")
	}
	st := s.Stats()
	if st.Listed != 8 || st.NXDomain != 5 || st.NoData != 3 || st.Refused != 4 || st.NotImp != 3 || st.FormErr != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("no zone accepted")
	}
	if _, err := New(Config{Zone: "bad..zone"}, nil); err == nil {
		t.Error("bad zone accepted")
	}
}

func TestDNSBLLimiter(t *testing.T) {
	l := NewLimiter(10, 20, 24, 56, 3)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.200")      // same /24
	c := netip.MustParseAddr("::ffff:192.0.2.9") // mapped: same /24
	allowed := 0
	for i := range 30 {
		ip := []netip.Addr{a, b, c}[i%3]
		if l.Allow(ip, t0) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("burst: %d allowed, want 20", allowed)
	}
	if l.Allow(a, t0.Add(50*time.Millisecond)) {
		t.Error("allowed before a token was refilled")
	}
	if !l.Allow(a, t0.Add(100*time.Millisecond)) || l.Allow(a, t0.Add(100*time.Millisecond)) {
		t.Error("refill at 10/s: want exactly one token after 100 ms")
	}
	// Refill caps at the burst.
	n := 0
	for l.Allow(a, t0.Add(time.Hour)) {
		n++
	}
	if n != 20 {
		t.Errorf("after an hour: %d, want the burst 20", n)
	}
	// Another /24 and IPv6 /56s have their own buckets.
	if !l.Allow(netip.MustParseAddr("192.0.3.1"), t0) {
		t.Error("other /24 limited")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8:0:ff::1"), netip.MustParseAddr("2001:db8:0:1ff::1")
	if l.Key(v6a) != netip.MustParsePrefix("2001:db8::/56") || l.Key(v6b) != netip.MustParsePrefix("2001:db8:0:100::/56") {
		t.Errorf("keys %v %v", l.Key(v6a), l.Key(v6b))
	}
	// Bounded: a fourth prefix evicts the least recently used (192.0.3.0/24
	// was used after 192.0.2.0/24, so 192.0.2.0/24 goes and comes back full).
	l.Allow(v6a, t0)
	if l.Len() != 3 {
		t.Errorf("len %d, want 3", l.Len())
	}
	l.Allow(v6b, t0)
	if l.Len() != 3 {
		t.Errorf("len %d after eviction, want 3", l.Len())
	}
	if !l.Allow(a, t0.Add(time.Hour)) {
		t.Error("evicted prefix not back with a full bucket")
	}
	var off *Limiter = NewLimiter(0, 1, 24, 56, 1)
	if off != nil || !off.Allow(a, t0) || off.Len() != 0 {
		t.Error("rate 0 does not switch limiting off")
	}
}

// udpWriter is a dns.ResponseWriter from a UDP source.
type udpWriter struct {
	remote net.Addr
	mu     sync.Mutex
	sent   []*dns.Msg
}

func (w *udpWriter) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *udpWriter) RemoteAddr() net.Addr { return w.remote }
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, m)
	return nil
}
func (w *udpWriter) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	return len(b), w.WriteMsg(m)
}
func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}

func TestDNSBLRateLimitDrops(t *testing.T) {
	s := newServer(t, nested(), Config{RateLimit: 5, RateBurst: 10})
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	flood := &udpWriter{remote: &net.UDPAddr{IP: net.ParseIP("2001:db8:ffff:ff00::1"), Port: 53}}
	other := &udpWriter{remote: &net.UDPAddr{IP: net.ParseIP("2001:db8:ffff:100::1"), Port: 53}}
	q := query(Nibbles(netip.MustParseAddr("2001:db8:a:1::7"))+"."+zone, dns.TypeTXT)
	for i := range 100 {
		// The victim's /56 shares one bucket whatever the address.
		flood.remote.(*net.UDPAddr).IP[15] = byte(i)
		s.ServeDNS(flood, q)
	}
	s.ServeDNS(other, q)
	if len(flood.sent) != 10 || len(other.sent) != 1 {
		t.Errorf("sent %d to the flooded /56 (want the burst 10), %d to another", len(flood.sent), len(other.sent))
	}
	now = now.Add(time.Second)
	s.ServeDNS(flood, q)
	st := s.Stats()
	if len(flood.sent) != 11 || st.RateLimited != 90 || st.Queries != 102 || st.Answers != 12 {
		t.Errorf("sent %d, stats %+v", len(flood.sent), st)
	}
	// TCP is not limited (no spoofing over TCP).
	tcp := &tcpWriter{udpWriter{remote: &net.TCPAddr{IP: net.ParseIP("2001:db8:ffff:ff00::1"), Port: 53}}}
	for range 50 {
		s.ServeDNS(tcp, q)
	}
	if len(tcp.sent) != 50 {
		t.Errorf("TCP: %d answers, want 50", len(tcp.sent))
	}
}

type tcpWriter struct{ udpWriter }

func TestDNSBLReloadSwap(t *testing.T) {
	name := func(ip string) string { return Nibbles(netip.MustParseAddr(ip)) + "." + zone }
	t1 := NewTable([]blocklist.Entry{entry("2001:db8:1::/64", 1, "192.0.2.1")})
	t2 := NewTable([]blocklist.Entry{entry("2001:db8:2::/64", 2, "192.0.2.2")})
	s := newServer(t, t1, Config{RateLimit: 0})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 10)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := s.Answer(query(name("2001:db8:1::5"), dns.TypeA))
				b := s.Answer(query(name("2001:db8:2::5"), dns.TypeA))
				// Each query sees one table or the other, never half of one.
				if a.Rcode == dns.RcodeSuccess && len(a.Answer) != 1 || b.Rcode == dns.RcodeSuccess && len(b.Answer) != 1 {
					select {
					case errs <- fmt.Sprint(a, b):
					default:
					}
				}
			}
		}()
	}
	for i := range 1000 {
		if i%2 == 0 {
			s.Reload(t2)
		} else {
			s.Reload(t1)
		}
	}
	s.Reload(t2)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if s.Answer(query(name("2001:db8:1::5"), dns.TypeA)).Rcode != dns.RcodeNameError ||
		s.Answer(query(name("2001:db8:2::5"), dns.TypeA)).Rcode != dns.RcodeSuccess {
		t.Error("after Reload(t2) the server does not answer from t2")
	}
	s.Reload(nil)
	if s.Answer(query(name("::ffff:7f00:2"), dns.TypeA)).Rcode != dns.RcodeSuccess {
		t.Error("Reload(nil) lost the test point")
	}
}

// TestDNSBLNetwork serves over real UDP and TCP sockets on loopback.
func TestDNSBLNetwork(t *testing.T) {
	s := newServer(t, nested(), Config{})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	addr := s.Addr().String()
	q := query(Nibbles(netip.MustParseAddr("2001:db8:a:1::7"))+"."+zone, dns.TypeTXT)
	for _, netw := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: netw, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s: %v", netw, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.Contains(rrText(r.Answer)[0], "192.0.2.128") {
			t.Errorf("%s: %v", netw, r)
		}
	}
	// A response packet is ignored, not answered.
	pc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	resp := new(dns.Msg)
	resp.SetReply(q)
	b, _ := resp.Pack()
	pc.Write(b)
	pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := pc.Read(make([]byte, 512)); err == nil {
		t.Errorf("answered a response with %d bytes", n)
	}
	if st := s.Stats(); st.Queries != 2 || st.Answers != 2 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkDNSBLLookup looks up random addresses in a table of 100,000 /64s.
func BenchmarkDNSBLLookup(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var es []blocklist.Entry
	var ips []netip.Addr
	for range 100000 {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		for i := 2; i < 16; i++ {
			a[i] = byte(r.Uint32())
		}
		ip := netip.AddrFrom16(a)
		p, _ := ip.Prefix(64)
		es = append(es, blocklist.Entry{Prefix: p})
		ips = append(ips, ip)
	}
	tab := NewTable(es)
	b.ResetTimer()
	for i := range b.N {
		if _, ok := tab.Lookup(ips[i%len(ips)]); !ok {
			b.Fatal("not found")
		}
	}
}
