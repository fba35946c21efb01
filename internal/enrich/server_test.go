package enrich

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zones served by the test server.
const (
	testBL      = "bl.test"
	testOrigin  = "origin.asn.test"
	testOrigin6 = "origin6.asn.test"
	testASN     = "asn.test"
)

// Addresses with special behaviour in the DNSBL zone.
var (
	listed4    = netip.MustParseAddr("192.0.2.7")
	listed6    = netip.MustParseAddr("2001:db8::25")
	clean4     = netip.MustParseAddr("192.0.2.1")
	clean6     = netip.MustParseAddr("2001:db8::1")
	refused4   = netip.MustParseAddr("192.0.2.99") // 127.255.255.254
	foreign4   = netip.MustParseAddr("192.0.2.98") // 192.0.2.200, not 127/8
	servfail4  = netip.MustParseAddr("192.0.2.66") // SERVFAIL
	silent4    = netip.MustParseAddr("192.0.2.77") // never answered
	truncated4 = netip.MustParseAddr("192.0.2.88") // TC over UDP, listed over TCP
	notxt4     = netip.MustParseAddr("192.0.2.55") // listed, TXT query SERVFAILs
	unconf4    = netip.MustParseAddr("192.0.2.8")  // PTR name points elsewhere
	multi4     = netip.MustParseAddr("198.51.100.10")
	nested4    = netip.MustParseAddr("203.0.113.5")
	piped6     = netip.MustParseAddr("2001:db8:1::1")
	unrouted6  = netip.MustParseAddr("2001:db8:ffff::1")
	servfail6  = netip.MustParseAddr("2001:db8::66")
	fwdFail4   = netip.MustParseAddr("192.0.2.44") // PTR target SERVFAILs
	refusedPTR = netip.MustParseAddr("192.0.2.33") // PTR query REFUSED
)

const positiveTTL = 300

// testServer is an authoritative-looking DNS server on 127.0.0.1, UDP and
// TCP on the same port, answering from a table of records built in
// newTestServer. It counts the queries it receives by name, type and
// transport.
type testServer struct {
	addr string

	mu      sync.Mutex
	records map[string][]dns.RR // key: lower-case fqdn + "/" + type
	special map[string]string   // fqdn or key -> "servfail", "refused", "silent", "truncate"
	counts  map[string]int      // key + "/" + "udp" or "tcp"
}

func rrKey(name string, qtype uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + dns.TypeToString[qtype]
}

func (s *testServer) add(t *testing.T, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatalf("test record %q: %v", rr, err)
	}
	k := rrKey(r.Header().Name, r.Header().Rrtype)
	s.records[k] = append(s.records[k], r)
}

// count returns how many queries for name/qtype arrived over net ("udp",
// "tcp" or "" for both).
func (s *testServer) count(name string, qtype uint16, network string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := rrKey(name, qtype)
	if network != "" {
		return s.counts[k+"/"+network]
	}
	return s.counts[k+"/udp"] + s.counts[k+"/tcp"]
}

func (s *testServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	network := "udp"
	if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	name := strings.ToLower(q.Name)
	k := rrKey(name, q.Qtype)
	s.mu.Lock()
	s.counts[k+"/"+network]++
	special := s.special[name]
	if special == "" {
		special = s.special[k]
	}
	rrs := s.records[k]
	exists := false
	for key := range s.records {
		if strings.HasPrefix(key, name+"/") {
			exists = true
			break
		}
	}
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch special {
	case "silent":
		return
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case "refused":
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	case "truncate":
		if network == "udp" {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
	}
	switch {
	case len(rrs) > 0:
		m.Answer = rrs
	case exists:
		// NODATA: the name has other types.
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		soa, _ := dns.NewRR(". 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
		soa.Header().Name = zoneOf(name)
		m.Ns = []dns.RR{soa}
	}
	w.WriteMsg(m)
}

// zoneOf returns the test zone a name is under, for SOA records.
func zoneOf(name string) string {
	for _, z := range []string{testBL, testOrigin6, testOrigin, testASN, "in-addr.arpa", "ip6.arpa", "example.test"} {
		if strings.HasSuffix(name, "."+z+".") {
			return z + "."
		}
	}
	return "."
}

// newTestServer starts the server with the records the tests use and
// stops it when the test ends.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{
		records: make(map[string][]dns.RR),
		special: make(map[string]string),
		counts:  make(map[string]int),
	}
	bl := func(ip netip.Addr) string { return QueryName(ip, testBL) }
	ttl := fmt.Sprint(positiveTTL)

	// DNSBL.
	s.add(t, bl(listed4)+" "+ttl+" IN A 127.0.0.4")
	s.add(t, bl(listed4)+" "+ttl+" IN A 127.0.0.2")
	s.add(t, bl(listed4)+` `+ttl+` IN TXT "listed: spam trap hit" " see https://bl.test/192.0.2.7"`)
	s.add(t, bl(listed6)+" "+ttl+" IN A 127.0.0.3")
	s.add(t, bl(listed6)+` `+ttl+` IN TXT "IPv6 listed"`)
	s.add(t, bl(refused4)+" "+ttl+" IN A 127.255.255.254")
	s.add(t, bl(foreign4)+" "+ttl+" IN A 192.0.2.200")
	s.add(t, bl(truncated4)+" "+ttl+" IN A 127.0.0.2")
	s.add(t, bl(truncated4)+` `+ttl+` IN TXT "listed, long answer"`)
	s.add(t, bl(notxt4)+" "+ttl+" IN A 127.0.0.10")
	s.special[bl(servfail4)] = "servfail"
	s.special[bl(silent4)] = "silent"
	s.special[bl(truncated4)] = "truncate"
	s.special[rrKey(bl(notxt4), dns.TypeTXT)] = "servfail"

	// Team Cymru.
	s.add(t, QueryName(listed4, testOrigin)+` `+ttl+` IN TXT "64500 | 192.0.2.0/24 | US | arin | 1998-09-25"`)
	s.add(t, QueryName(multi4, testOrigin)+` `+ttl+` IN TXT "64501 64502 | 198.51.100.0/24 | NL | ripencc | 2005-01-01"`)
	s.add(t, QueryName(nested4, testOrigin)+` `+ttl+` IN TXT "64504 | 203.0.0.0/16 | AU | apnic | 2000-01-01"`)
	s.add(t, QueryName(nested4, testOrigin)+` `+ttl+` IN TXT "64505 | 203.0.113.0/24 | AU | apnic | 2001-02-03"`)
	s.add(t, QueryName(listed6, testOrigin6)+` `+ttl+` IN TXT "64503 | 2001:db8::/32 | DE | ripencc | 2010-01-01"`)
	s.add(t, QueryName(piped6, testOrigin6)+` `+ttl+` IN TXT "64506 | 2001:db8:1::/48 | FR | ripencc |"`)
	s.special[QueryName(servfail6, testOrigin6)] = "servfail"
	s.add(t, `AS64500.`+testASN+`. `+ttl+` IN TXT "64500 | US | arin | 2002-01-04 | EXAMPLE-NET - Example | Networks, US"`)
	s.add(t, `AS64501.`+testASN+`. `+ttl+` IN TXT "64501 | NL | ripencc | 2005-01-01 | FIRST-AS, NL"`)
	s.add(t, `AS64502.`+testASN+`. `+ttl+` IN TXT "64502 | NL | ripencc | 2005-01-01 | SECOND-AS, NL"`)
	s.add(t, `AS64503.`+testASN+`. `+ttl+` IN TXT "64503 | DE | ripencc | 2010-01-01 | V6-AS, DE"`)
	s.add(t, `AS64505.`+testASN+`. `+ttl+` IN TXT "64505 | AU | apnic | 2001-02-03 | NESTED-AS, AU"`)
	s.add(t, `AS64506.`+testASN+`. `+ttl+` IN TXT "64506 | FR | ripencc | 2012-12-12 | "`)

	// Reverse and forward names.
	s.add(t, reverseName(listed4)+" "+ttl+" IN PTR liar.example.test.")
	s.add(t, reverseName(listed4)+" "+ttl+" IN PTR mail.example.test.")
	s.add(t, "liar.example.test. "+ttl+" IN A 192.0.2.200")
	s.add(t, "mail.example.test. "+ttl+" IN A 192.0.2.6")
	s.add(t, "mail.example.test. "+ttl+" IN A 192.0.2.7")
	s.add(t, "mail.example.test. "+ttl+" IN AAAA 2001:db8::25")
	s.add(t, reverseName(listed6)+" "+ttl+" IN PTR mx6.example.test.")
	s.add(t, "mx6.example.test. "+ttl+" IN AAAA 2001:db8::25")
	s.add(t, "mx6.example.test. "+ttl+" IN A 192.0.2.7")
	s.add(t, reverseName(unconf4)+" "+ttl+" IN PTR fake.example.test.")
	s.add(t, "fake.example.test. "+ttl+" IN A 192.0.2.9")
	s.add(t, reverseName(fwdFail4)+" "+ttl+" IN PTR broken.example.test.")
	s.special["broken.example.test."] = "servfail"
	s.special[reverseName(refusedPTR)] = "refused"
	for i := range 8 {
		host := fmt.Sprintf("many%d.example.test.", i)
		s.add(t, reverseName(clean6)+" "+ttl+" IN PTR "+host)
		s.add(t, host+" "+ttl+" IN AAAA 2001:db8::2")
	}

	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	s.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: s},
		{Listener: ln, Handler: s},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.ActivateAndServe(); err != nil {
				t.Logf("test dns server: %v", err)
			}
		}()
		select {
		case <-started:
		case <-done:
			t.Fatal("test dns server did not start")
		}
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return s
}

// testConfig is a configuration for the test server: no rate limit, a
// TTL floor of 1 s.
func testConfig(addr string) Config {
	cfg := DefaultConfig()
	cfg.Resolver = addr
	cfg.Timeout = 2 * time.Second // generous: tests that want timeouts set their own
	cfg.QueriesPerSecond = 0
	cfg.DNSBLZones = []string{testBL}
	cfg.CymruOriginZone = testOrigin
	cfg.CymruOrigin6Zone = testOrigin6
	cfg.CymruASNZone = testASN
	cfg.MinTTL = time.Second
	return cfg
}

func newTestEnricher(t *testing.T, cfg Config) *Enricher {
	t.Helper()
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// fakeClock is a settable clock for cache expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
