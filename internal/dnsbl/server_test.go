package dnsbl

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// startServer serves s on a free port of 127.0.0.1 until the test ends.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
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
	return s.Addr().String()
}

// waitFor polls cond until it holds; the deadline only keeps a broken
// server from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// malformed is a query whose header is fine (one question) but whose
// question is cut short, so it does not unpack.
func malformed(id uint16) []byte {
	b := make([]byte, 12, 16)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	return append(b, 5, 'a', 'b')        // a 5-byte label holding 2
}

// TestDNSBLMalformedRateLimited: replies to queries that do not parse (the
// FORMERR the DNS library sends on its own) share the per-source rate
// limit of the other answers and are counted; over the limit nothing is
// sent, so garbage with a spoofed source cannot be reflected.
func TestDNSBLMalformedRateLimited(t *testing.T) {
	s := newServer(t, nested(), Config{RateLimit: 1, RateBurst: 3})
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now } // no refill during the test
	addr := startServer(t, s)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 10
	for i := range sent {
		if _, err := c.Write(malformed(uint16(1000 + i))); err != nil {
			t.Fatal(err)
		}
	}
	// Each datagram is served in its own goroutine: wait for these before
	// the good query, so that it comes last.
	waitFor(t, "the malformed queries handled", func() bool {
		st := s.Stats()
		return st.Answers+st.RateLimited+st.WriteErrors == sent
	})
	// Then a good query from the same source: its bucket is empty too.
	q := query(Nibbles(netip.MustParseAddr("2001:db8:a:1::7"))+"."+zone, dns.TypeA)
	q.Id = 42
	b, _ := q.Pack()
	c.Write(b)
	waitFor(t, "all queries handled", func() bool {
		st := s.Stats()
		return st.Answers+st.RateLimited+st.WriteErrors == sent+1
	})
	// On loopback a datagram sent is already queued at the receiver.
	var got []*dns.Msg
	buf := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("reply does not unpack: %v", err)
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Errorf("%d replies to a source with a burst of 3", len(got))
	}
	for _, m := range got {
		if m.Rcode != dns.RcodeFormatError || m.Id < 1000 {
			t.Errorf("reply %d %s, want FORMERR to a malformed query", m.Id, dns.RcodeToString[m.Rcode])
		}
	}
	st := s.Stats()
	if st.Queries != sent+1 || st.Answers != 3 || st.RateLimited != sent+1-3 || st.FormErr != 3 || st.Malformed != sent {
		t.Errorf("stats %+v", st)
	}

	// Over TCP (not rate limited) the FORMERR is sent and counted.
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	dc := &dns.Conn{Conn: tc}
	m := malformed(7)
	if _, err := dc.Write(m); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := dc.ReadMsg()
	if err != nil || r.Rcode != dns.RcodeFormatError || r.Id != 7 {
		t.Fatalf("TCP: %v %v", r, err)
	}
	waitFor(t, "the TCP answer counted", func() bool { return s.Stats().Answers == 4 })
	if st := s.Stats(); st.Queries != sent+2 || st.FormErr != 4 || st.Malformed != sent+1 {
		t.Errorf("stats after TCP %+v", st)
	}

	// Responses and other messages not worth a reply are counted too.
	resp := new(dns.Msg)
	resp.SetReply(q)
	b, _ = resp.Pack()
	c.Write(b)
	c.Write([]byte{1, 2, 3}) // shorter than a header
	waitFor(t, "ignored messages counted", func() bool { st := s.Stats(); return st.Ignored == 1 && st.Malformed == sent+2 })
}

// TestDNSBLEDNSVersionAndDuplicateOPT: RFC 6891 6.1.1 and 6.1.3: an EDNS
// version above 0 gets BADVERS with an OPT of version 0, more than one OPT
// record gets FORMERR; over UDP and TCP.
func TestDNSBLEDNSVersionAndDuplicateOPT(t *testing.T) {
	s := newServer(t, nested(), Config{})
	addr := startServer(t, s)
	name := Nibbles(netip.MustParseAddr("2001:db8:a:1::7")) + "." + zone
	for _, netw := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: netw, Timeout: 5 * time.Second}

		q := query(name, dns.TypeA)
		q.SetEdns0(1232, false)
		q.IsEdns0().SetVersion(5)
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s: %v", netw, err)
		}
		if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 {
			t.Errorf("%s EDNS version 5: %s %v, want BADVERS", netw, dns.RcodeToString[r.Rcode], r.Answer)
		}
		if o := r.IsEdns0(); o == nil || o.Version() != 0 {
			t.Errorf("%s EDNS version 5: OPT %v, want one of version 0", netw, o)
		}

		q = query(name, dns.TypeA)
		q.SetEdns0(1232, false)
		q.SetEdns0(4096, true) // a second OPT record
		if len(q.Extra) != 2 {
			t.Fatalf("query has %d additional records", len(q.Extra))
		}
		r, _, err = c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s: %v", netw, err)
		}
		if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
			t.Errorf("%s two OPT records: %s %v, want FORMERR", netw, dns.RcodeToString[r.Rcode], r.Answer)
		}

		// Version 0 is still answered.
		q = query(name, dns.TypeA)
		q.SetEdns0(1232, false)
		if r, _, err = c.Exchange(q, addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s EDNS version 0: %v %v", netw, r, err)
		}
	}
	// A response is counted once written: the client may read it first.
	waitFor(t, "the last answer counted", func() bool { return s.Stats().Answers >= 6 })
	if st := s.Stats(); st.BadVers != 2 || st.FormErr != 2 || st.Answers != 6 {
		t.Errorf("stats %+v", st)
	}
}

// dialFrom connects to addr over TCP from the loopback address src.
func dialFrom(t *testing.T, src, addr string) *dns.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &dns.Conn{Conn: c}
}

// ask sends a query on c and returns the answer, or the error when the
// server closed the connection instead (a timeout is a test failure).
func ask(t *testing.T, c *dns.Conn) (*dns.Msg, error) {
	t.Helper()
	q := query(Nibbles(netip.MustParseAddr("2001:db8:a:1::7"))+"."+zone, dns.TypeA)
	if err := c.WriteMsg(q); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := c.ReadMsg()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no answer and the connection not closed within 5 s")
	}
	if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1) {
		t.Fatalf("answer %v", r)
	}
	return r, err
}

// refused reports whether a connection from src is closed by the server
// unanswered; the reset may already fail the connect.
func refused(t *testing.T, src, addr string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial from %s: %v", src, err)
		}
		return true
	}
	defer c.Close()
	_, err = ask(t, &dns.Conn{Conn: c})
	return err != nil
}

// TestDNSBLTCPConnLimits: one host holding many TCP connections cannot lock
// other clients out: over the per-source or the total limit a new
// connection is closed at once (counted), a connection closed frees its
// place, and each connection has a query budget and an idle timeout.
func TestDNSBLTCPConnLimits(t *testing.T) {
	s := newServer(t, nested(), Config{MaxTCPConns: 3, MaxTCPConnsPerSource: 2, TCPMaxQueries: 3, TCPIdleTimeout: time.Minute})
	addr := startServer(t, s)
	c1, c2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	for _, c := range []*dns.Conn{c1, c2} {
		if _, err := ask(t, c); err != nil {
			t.Fatal(err)
		}
	}
	if !refused(t, "127.0.0.1", addr) {
		t.Error("a third connection from one source was served (limit 2)")
	}
	// Another source still gets in, up to the total.
	c4 := dialFrom(t, "127.0.0.2", addr)
	if _, err := ask(t, c4); err != nil {
		t.Errorf("another source locked out: %v", err)
	}
	if !refused(t, "127.0.0.3", addr) {
		t.Error("a fourth connection was served (total limit 3)")
	}
	st := s.Stats()
	if st.TCPConns != 3 || st.TCPAccepted != 3 || st.TCPRefusedSource != 1 || st.TCPRefusedTotal != 1 {
		t.Errorf("stats %+v", st)
	}
	// Closing a connection frees its place.
	c1.Close()
	waitFor(t, "the closed connection released", func() bool { return s.Stats().TCPConns == 2 })
	c5 := dialFrom(t, "127.0.0.1", addr)
	for i := range 3 {
		if _, err := ask(t, c5); err != nil {
			t.Fatalf("query %d of the budget of 3: %v", i+1, err)
		}
	}
	if _, err := ask(t, c5); err == nil {
		t.Error("a fourth query answered on one connection (budget 3)")
	}
	waitFor(t, "the connection over its budget released", func() bool { return s.Stats().TCPConns == 2 })
}

// TestDNSBLTCPIdleTimeout: an idle connection is closed.
func TestDNSBLTCPIdleTimeout(t *testing.T) {
	s := newServer(t, nested(), Config{TCPIdleTimeout: 50 * time.Millisecond})
	addr := startServer(t, s)
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := ask(t, c); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.ReadMsg(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle connection: %v, want it closed by the server", err)
	}
	waitFor(t, "the idle connection released", func() bool { return s.Stats().TCPConns == 0 })
}

// TestServe: a query answered, a reload on SIGHUP, and at the end the
// summary of both; cancelling stops serving without an error.
func TestServe(t *testing.T) {
	list := filepath.Join(t.TempDir(), "list.txt")
	replaceFile(t, list, prefixList(1))
	rl, srv, _ := startReloader(t, Source{List: list})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, rl, hup, zap.New(core)) }()
	m := new(dns.Msg).SetQuestion(Nibbles(netip.MustParseAddr("2001:db8:1::2"))+".bl6.test.", dns.TypeA)
	if r, err := dns.Exchange(m, srv.Addr().String()); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("query: %v %v", r, err)
	}
	hup <- syscall.SIGHUP
	waitFor(t, "the reload", func() bool { n, _ := rl.Stats(); return n > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	serving := logs.FilterMessage("dnsbl serving").All()
	if len(serving) != 1 || serving[0].ContextMap()["entries"] != int64(1) || serving[0].ContextMap()["source"] != list {
		t.Errorf("serving: %v", serving)
	}
	stopped := logs.FilterMessage("dnsbl stopped").All()
	if len(stopped) != 1 {
		t.Fatalf("stopped: %v", stopped)
	}
	f := stopped[0].ContextMap()
	if f["queries"] != uint64(1) || f["listed"] != uint64(1) || f["reloads"] != uint64(1) || f["tcp_refused_total"] != uint64(0) {
		t.Errorf("summary %v", f)
	}
	if _, ok := f["tcp_conns"]; ok {
		t.Error("summary has the connections open now")
	}
}
