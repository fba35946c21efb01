package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Server. Zero fields take the defaults of
// DefaultConfig, except RateLimit: 0 switches rate limiting off.
type Config struct {
	// Zone is the DNSBL zone ("bl6.example").
	Zone string
	// TTL of positive answers, and NegTTL of negative ones (the SOA
	// minimum, RFC 2308).
	TTL, NegTTL uint32
	// NS is the name server named in the SOA and NS records; Mbox the
	// SOA's responsible mailbox.
	NS, Mbox string
	// RateLimit is the number of UDP responses a second allowed to one
	// source prefix (IPv4 /RateIPv4Bits, IPv6 /RateIPv6Bits), with bursts
	// of RateBurst; excess queries are dropped and counted. RateMaxPrefixes
	// bounds the prefixes tracked.
	RateLimit       float64
	RateBurst       int
	RateIPv4Bits    int
	RateIPv6Bits    int
	RateMaxPrefixes int
	// MaxTCPConns bounds concurrent TCP connections in total, and
	// MaxTCPConnsPerSource those from one source (an IPv4 address or an
	// IPv6 /64); a connection over either limit is closed at once and
	// counted, so one host cannot lock the others out.
	MaxTCPConns          int
	MaxTCPConnsPerSource int
	// TCPIdleTimeout closes a TCP connection idle that long after an
	// answer; TCPMaxQueries closes it after that many queries.
	TCPIdleTimeout time.Duration
	TCPMaxQueries  int
	// OnReload, if set, is called with each table Reload swaps in, after
	// the swap, on the caller's goroutine: the one place where a
	// Reloader's and a Watcher's lists both pass (the HTTP feed follows
	// it). The table New starts with does not go through it.
	OnReload func(*Table)
	// Expire is how long an entry is answered after its LastSeen, judged
	// at each query (0: for ever).
	Expire time.Duration
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:5353"
	DefaultTTL             = 300
	DefaultNegTTL          = 60
	DefaultNS              = "localhost."
	DefaultRateLimit       = 100
	DefaultRateBurst       = 200
	DefaultRateIPv4Bits    = 24
	DefaultRateIPv6Bits    = 56
	DefaultRateMaxPrefixes = 65536
	DefaultMaxTCPConns     = 256
	// Eight connections are plenty for one resolver host (RFC 7766 asks
	// clients to reuse one) and leave room for 32 such hosts.
	DefaultMaxTCPConnsPerSource = 8
	DefaultTCPIdleTimeout       = 5 * time.Second
	DefaultTCPMaxQueries        = 64
	// tcpReadTimeout bounds the wait for a new connection's first query.
	tcpReadTimeout = 2 * time.Second
)

// DefaultConfig returns the defaults for zone.
func DefaultConfig(zone string) Config {
	return Config{Zone: zone, TTL: DefaultTTL, NegTTL: DefaultNegTTL, NS: DefaultNS,
		RateLimit: DefaultRateLimit, RateBurst: DefaultRateBurst, RateIPv4Bits: DefaultRateIPv4Bits,
		RateIPv6Bits: DefaultRateIPv6Bits, RateMaxPrefixes: DefaultRateMaxPrefixes, MaxTCPConns: DefaultMaxTCPConns,
		MaxTCPConnsPerSource: DefaultMaxTCPConnsPerSource, TCPIdleTimeout: DefaultTCPIdleTimeout, TCPMaxQueries: DefaultTCPMaxQueries}
}

// Stats counts queries and what they got.
type Stats struct {
	Queries     uint64 // queries given a response or dropped by the rate limit (all transports, malformed ones too)
	Answers     uint64 // responses sent
	Listed      uint64 // queries for a listed address (any type)
	NXDomain    uint64
	NoData      uint64 // NOERROR without an answer
	Refused     uint64 // outside the zone or not class IN
	NotImp      uint64 // ANY queries and opcodes other than QUERY
	FormErr     uint64 // malformed queries, more than one question or OPT record
	BadVers     uint64 // EDNS version above 0
	RateLimited uint64 // UDP responses dropped by the rate limit
	WriteErrors uint64
	Malformed   uint64 // messages that did not parse (FORMERR when the header did)
	Ignored     uint64 // messages dropped unanswered: responses, not one question, records in the answer or authority section
	Expired     uint64 // queries for an address whose listing had expired (NXDOMAIN, or a wider prefix's answer)

	TCPConns         uint64 // TCP connections open now
	TCPAccepted      uint64 // TCP connections served
	TCPRefusedSource uint64 // TCP connections closed at once: MaxTCPConnsPerSource reached
	TCPRefusedTotal  uint64 // TCP connections closed at once: MaxTCPConns reached
}

type counters struct {
	queries, answers, listed, nxdomain, nodata, refused, notimp, formerr, badvers, ratelimited, writeErrors atomic.Uint64
	malformed, ignored, expired                                                                             atomic.Uint64
	tcpConns                                                                                                atomic.Int64
	tcpAccepted, tcpRefusedSource, tcpRefusedTotal                                                          atomic.Uint64
}

// Server answers DNSBL queries from a Table that Reload swaps atomically.
type Server struct {
	cfg   Config
	zone  string // canonical: lower case, fully qualified
	table atomic.Pointer[Table]
	rl    *Limiter
	st    counters
	now   func() time.Time

	mu       sync.Mutex
	udp, tcp *dns.Server
	addr     net.Addr
	errc     chan error
}

// New returns a server for cfg answering from t (nil: nothing listed but
// the test point).
func New(cfg Config, t *Table) (*Server, error) {
	zone := strings.ToLower(dns.Fqdn(strings.TrimSpace(cfg.Zone)))
	if zone == "." {
		return nil, errors.New("dnsbl: a zone is required")
	}
	if _, ok := dns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("dnsbl: zone %q is not a domain name", cfg.Zone)
	}
	d := DefaultConfig(zone)
	if cfg.TTL == 0 {
		cfg.TTL = d.TTL
	}
	if cfg.NegTTL == 0 {
		cfg.NegTTL = d.NegTTL
	}
	if cfg.NS == "" {
		cfg.NS = d.NS
	}
	cfg.NS = dns.Fqdn(cfg.NS)
	if cfg.Mbox == "" {
		cfg.Mbox = "hostmaster." + zone
	}
	cfg.Mbox = dns.Fqdn(cfg.Mbox)
	for _, n := range []string{cfg.NS, cfg.Mbox} {
		if _, ok := dns.IsDomainName(n); !ok {
			return nil, fmt.Errorf("dnsbl: %q is not a domain name", n)
		}
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = d.RateBurst
	}
	if cfg.RateIPv4Bits == 0 {
		cfg.RateIPv4Bits = d.RateIPv4Bits
	}
	if cfg.RateIPv6Bits == 0 {
		cfg.RateIPv6Bits = d.RateIPv6Bits
	}
	if cfg.RateMaxPrefixes == 0 {
		cfg.RateMaxPrefixes = d.RateMaxPrefixes
	}
	if cfg.MaxTCPConns == 0 {
		cfg.MaxTCPConns = d.MaxTCPConns
	}
	if cfg.MaxTCPConnsPerSource == 0 {
		cfg.MaxTCPConnsPerSource = d.MaxTCPConnsPerSource
	}
	if cfg.TCPIdleTimeout == 0 {
		cfg.TCPIdleTimeout = d.TCPIdleTimeout
	}
	if cfg.TCPMaxQueries == 0 {
		cfg.TCPMaxQueries = d.TCPMaxQueries
	}
	if cfg.Expire < 0 {
		return nil, errors.New("dnsbl: expiry must not be negative (0: never)")
	}
	if cfg.MaxTCPConns < 0 || cfg.MaxTCPConnsPerSource < 0 || cfg.TCPIdleTimeout < 0 || cfg.TCPMaxQueries < 0 {
		return nil, errors.New("dnsbl: TCP connection limits, idle timeout and query budget must not be negative")
	}
	if cfg.RateIPv4Bits < 0 || cfg.RateIPv4Bits > 32 || cfg.RateIPv6Bits < 0 || cfg.RateIPv6Bits > 128 {
		return nil, fmt.Errorf("dnsbl: rate-limit prefix lengths /%d (IPv4) and /%d (IPv6) out of range", cfg.RateIPv4Bits, cfg.RateIPv6Bits)
	}
	cfg.Zone = zone
	s := &Server{cfg: cfg, zone: zone, now: time.Now,
		rl: NewLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateIPv4Bits, cfg.RateIPv6Bits, cfg.RateMaxPrefixes)}
	if t == nil {
		t = NewTable(nil)
	}
	s.table.Store(t)
	return s, nil
}

// Zone returns the canonical zone name.
func (s *Server) Zone() string { return s.zone }

// Reload swaps the table; queries in flight finish with the old one.
func (s *Server) Reload(t *Table) {
	if t == nil {
		t = NewTable(nil)
	}
	s.table.Store(t)
	if s.cfg.OnReload != nil {
		s.cfg.OnReload(t)
	}
}

// Table returns the table being served.
func (s *Server) Table() *Table { return s.table.Load() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.st
	return Stats{Queries: c.queries.Load(), Answers: c.answers.Load(), Listed: c.listed.Load(), NXDomain: c.nxdomain.Load(),
		NoData: c.nodata.Load(), Refused: c.refused.Load(), NotImp: c.notimp.Load(), FormErr: c.formerr.Load(), BadVers: c.badvers.Load(),
		RateLimited: c.ratelimited.Load(), WriteErrors: c.writeErrors.Load(), Malformed: c.malformed.Load(), Ignored: c.ignored.Load(), Expired: c.expired.Load(),
		TCPConns: uint64(max(c.tcpConns.Load(), 0)), TCPAccepted: c.tcpAccepted.Load(),
		TCPRefusedSource: c.tcpRefusedSource.Load(), TCPRefusedTotal: c.tcpRefusedTotal.Load()}
}

// admit counts a query about to be answered and reports whether its
// response may be sent: UDP responses are rate limited per source prefix
// (spoofable sources), TCP ones are not.
func (s *Server) admit(remote net.Addr) bool {
	s.st.queries.Add(1)
	if ua, ok := remote.(*net.UDPAddr); ok && s.rl != nil {
		ip, _ := netip.AddrFromSlice(ua.IP)
		if !s.rl.Allow(ip, s.now()) {
			s.st.ratelimited.Add(1)
			return false
		}
	}
	return true
}

// sent counts the result of writing a response.
func (s *Server) sent(err error) {
	if err != nil {
		s.st.writeErrors.Add(1)
		return
	}
	s.st.answers.Add(1)
}

// ServeDNS implements dns.Handler: UDP responses are rate limited per
// source prefix before any work is done.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if !s.admit(w.RemoteAddr()) {
		return
	}
	m := s.Answer(req)
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(max(o.UDPSize(), dns.MinMsgSize))
		}
		m.Truncate(size)
	}
	b, err := m.Pack()
	if err != nil {
		s.sent(fmt.Errorf("packing the response: %w", err))
		return
	}
	// Write, not WriteMsg: WriteMsg goes through replyGate, which would
	// take a second token for this already admitted response.
	_, err = w.Write(b)
	s.sent(err)
}

// replyGate sees the responses the DNS library sends on its own, without
// calling ServeDNS (FORMERR to a query that does not unpack, and whatever
// acceptMsg rejects): they are admitted and counted as ServeDNS's are, so
// garbage from a spoofed source is no way around the rate limit.
type replyGate struct {
	s *Server
	w dns.Writer // the connection's own writer (dns.ResponseWriter)
}

func (g *replyGate) Write(b []byte) (int, error) {
	var remote net.Addr
	if rw, ok := g.w.(interface{ RemoteAddr() net.Addr }); ok {
		remote = rw.RemoteAddr()
	}
	if !g.s.admit(remote) {
		return len(b), nil
	}
	if len(b) >= 4 {
		g.s.countRcode(int(b[3] & 0xf))
	}
	n, err := g.w.Write(b)
	g.s.sent(err)
	return n, err
}

// countRcode counts a response by its rcode.
func (s *Server) countRcode(c int) {
	switch c {
	case dns.RcodeRefused:
		s.st.refused.Add(1)
	case dns.RcodeNotImplemented:
		s.st.notimp.Add(1)
	case dns.RcodeFormatError:
		s.st.formerr.Add(1)
	case dns.RcodeNameError:
		s.st.nxdomain.Add(1)
	case dns.RcodeBadVers:
		s.st.badvers.Add(1)
	}
}

// Answer returns the response to req and counts it (but not as a query:
// ServeDNS does that).
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	rcode := func(c int) *dns.Msg {
		m.Rcode = c
		s.countRcode(c)
		return m
	}
	// RFC 6891 6.1.1: more than one OPT record is FORMERR; 6.1.3: a
	// version we do not speak is BADVERS, with an OPT of ours (version 0).
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return rcode(dns.RcodeFormatError)
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(1232, false)
		if o.Version() > 0 {
			return rcode(dns.RcodeBadVers)
		}
	}
	if req.Opcode != dns.OpcodeQuery {
		return rcode(dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return rcode(dns.RcodeFormatError)
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET {
		return rcode(dns.RcodeRefused)
	}
	name := strings.ToLower(q.Name)
	var sub string
	switch {
	case name == s.zone:
	case strings.HasSuffix(name, "."+s.zone):
		sub = name[:len(name)-len(s.zone)-1]
	default:
		return rcode(dns.RcodeRefused)
	}
	m.Authoritative = true
	// RFC 8482 lets a server decline ANY; NOTIMP is the smallest answer.
	if q.Qtype == dns.TypeANY {
		return rcode(dns.RcodeNotImplemented)
	}
	t := s.table.Load()
	if sub == "" {
		switch q.Qtype {
		case dns.TypeSOA:
			soa := s.soa(t, s.cfg.TTL)
			soa.Hdr.Name = q.Name
			m.Answer = append(m.Answer, soa)
		case dns.TypeNS:
			m.Answer = append(m.Answer, &dns.NS{Hdr: s.hdr(q.Name, dns.TypeNS, s.cfg.TTL), Ns: s.cfg.NS})
		default:
			return s.nodata(m, t)
		}
		return m
	}
	ip, ok := ParseNibbles(sub)
	if !ok {
		m.Ns = append(m.Ns, s.soa(t, s.cfg.NegTTL))
		return rcode(dns.RcodeNameError)
	}
	a, ok, expired := t.LookupAt(ip, s.now(), s.cfg.Expire)
	if expired {
		s.st.expired.Add(1)
	}
	if !ok {
		m.Ns = append(m.Ns, s.soa(t, s.cfg.NegTTL))
		return rcode(dns.RcodeNameError)
	}
	s.st.listed.Add(1)
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = append(m.Answer, &dns.A{Hdr: s.hdr(q.Name, dns.TypeA, s.cfg.TTL), A: a.A.AsSlice()})
	case dns.TypeTXT:
		if a.TXT == "" {
			return s.nodata(m, t)
		}
		m.Answer = append(m.Answer, &dns.TXT{Hdr: s.hdr(q.Name, dns.TypeTXT, s.cfg.TTL), Txt: []string{a.TXT}})
	default:
		return s.nodata(m, t)
	}
	return m
}

func (s *Server) nodata(m *dns.Msg, t *Table) *dns.Msg {
	s.st.nodata.Add(1)
	m.Ns = append(m.Ns, s.soa(t, s.cfg.NegTTL))
	return m
}

func (s *Server) hdr(name string, typ uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: ttl}
}

// soa returns the zone's SOA; its serial is the table's build time.
func (s *Server) soa(t *Table, ttl uint32) *dns.SOA {
	return &dns.SOA{Hdr: s.hdr(s.zone, dns.TypeSOA, ttl), Ns: s.cfg.NS, Mbox: s.cfg.Mbox, Serial: t.Serial,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: s.cfg.NegTTL}
}

// acceptMsg drops what is not worth a response (responses, not exactly one
// question, records in the answer or authority section) without replying,
// and counts it; other opcodes reach ServeDNS, which answers NOTIMP under
// the rate limit.
func (s *Server) acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	const qrBit = 1 << 15
	if dh.Bits&qrBit != 0 || dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		s.st.ignored.Add(1)
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// invalidMsg counts a message that did not parse.
func (s *Server) invalidMsg([]byte, error) { s.st.malformed.Add(1) }

// gateWriter puts replyGate in front of each connection's writer.
func (s *Server) gateWriter(w dns.Writer) dns.Writer { return &replyGate{s: s, w: w} }

// Start listens on addr over UDP and TCP (the same port; port 0 picks one
// free for UDP and then takes it for TCP) and serves until Shutdown.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return errors.New("dnsbl: already started")
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	ua := pc.LocalAddr().(*net.UDPAddr)
	ln, err := net.Listen("tcp", net.JoinHostPort(ua.IP.String(), strconv.Itoa(ua.Port)))
	if err != nil {
		pc.Close()
		return err
	}
	ln = &connLimiter{Listener: ln, total: s.cfg.MaxTCPConns, perSource: s.cfg.MaxTCPConnsPerSource, st: &s.st,
		open: make(map[netip.Prefix]int)}
	s.addr = pc.LocalAddr()
	s.errc = make(chan error, 2)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s, MsgAcceptFunc: s.acceptMsg, MsgInvalidFunc: s.invalidMsg,
		DecorateWriter: s.gateWriter, NotifyStartedFunc: notify}
	idle := s.cfg.TCPIdleTimeout
	s.tcp = &dns.Server{Listener: ln, Handler: s, MsgAcceptFunc: s.acceptMsg, MsgInvalidFunc: s.invalidMsg,
		DecorateWriter: s.gateWriter, NotifyStartedFunc: notify,
		ReadTimeout: tcpReadTimeout, WriteTimeout: tcpReadTimeout, MaxTCPQueries: s.cfg.TCPMaxQueries,
		IdleTimeout: func() time.Duration { return idle }}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.errc <- err
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-s.errc:
			_ = s.udp.Shutdown()
			_ = s.tcp.Shutdown()
			return err
		}
	}
	return nil
}

// Addr returns the address served (after Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Err delivers an error if serving stops on its own.
func (s *Server) Err() <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errc
}

// Shutdown stops serving.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()
	if udp == nil {
		return nil
	}
	return errors.Join(udp.ShutdownContext(ctx), tcp.ShutdownContext(ctx))
}

// connLimiter bounds concurrent TCP connections, in total and per source.
// It never blocks in Accept: a connection over a limit is closed at once
// (and counted) so that a host holding its share cannot keep others
// waiting in the backlog. Its map holds at most total keys.
type connLimiter struct {
	net.Listener
	total, perSource int
	st               *counters

	mu   sync.Mutex
	n    int
	open map[netip.Prefix]int
}

// sourceKey is what MaxTCPConnsPerSource counts by: an IPv4 address, or
// the /64 of an IPv6 one (one host usually has a whole /64).
func sourceKey(a net.Addr) netip.Prefix {
	ta, _ := a.(*net.TCPAddr)
	if ta == nil {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap().WithZone("")
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, _ := ip.Prefix(bits)
	return p
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := sourceKey(c.RemoteAddr())
		l.mu.Lock()
		switch {
		case l.n >= l.total:
			l.st.tcpRefusedTotal.Add(1)
		case l.open[key] >= l.perSource:
			l.st.tcpRefusedSource.Add(1)
		default:
			l.n++
			l.open[key]++
			l.mu.Unlock()
			l.st.tcpConns.Add(1)
			l.st.tcpAccepted.Add(1)
			return &limitConn{Conn: c, release: sync.OnceFunc(func() { l.release(key) })}, nil
		}
		l.mu.Unlock()
		// A reset, not a FIN: no TIME_WAIT left behind here for each
		// connection refused.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

func (l *connLimiter) release(key netip.Prefix) {
	l.mu.Lock()
	l.n--
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
	l.mu.Unlock()
	l.st.tcpConns.Add(-1)
}

// limitConn gives its place back when closed (once).
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
