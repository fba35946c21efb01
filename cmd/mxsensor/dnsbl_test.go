package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/dnsbl"
	"github.com/mxsensor/mxsensor/internal/fleet"
)

// dnsblRbldnsd returns Debian's rbldnsd. Without it the test skips, saying
// why, except under CI=true, where it fails: CI installs rbldnsd (make
// deps-test), so the comparison must run there.
func dnsblRbldnsd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rbldnsd"); err == nil {
		return p
	}
	const debian = "/usr/sbin/rbldnsd" // not on every user's PATH
	_, err := os.Stat(debian)
	if err == nil {
		return debian
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is missing (make deps-test installs Debian's rbldnsd): %v", debian, err)
	}
	t.Skipf("skipping: needs rbldnsd (apt-get install rbldnsd): %v", err)
	return ""
}

// dnsblFreePort returns a port that was free for UDP and TCP on 127.0.0.1
// when asked.
func dnsblFreePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// dnsblStartRbldnsd runs rbldnsd in the foreground on 127.0.0.1 with the
// zone specs (zone:type:file, files relative to dir) and returns its address
// once it reports it has started. It is stopped when the test ends.
func dnsblStartRbldnsd(t *testing.T, bin, dir string, specs ...string) string {
	t.Helper()
	var lastOut string
	for range 3 { // the free port may be taken before rbldnsd binds it
		port := dnsblFreePort(t)
		args := []string{"-n", "-b", fmt.Sprintf("127.0.0.1/%d", port), "-c", "0"}
		if os.Geteuid() == 0 {
			// rbldnsd refuses to run as root: it chroots to dir and drops to
			// its own user, which must be able to read dir.
			args = append(args, "-r", dir, "-w", "/")
		} else {
			args = append(args, "-w", dir)
		}
		cmd := exec.Command(bin, append(args, specs...)...)
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			t.Fatalf("start rbldnsd: %v", err)
		}
		var mu sync.Mutex
		var out strings.Builder
		started, exited := make(chan struct{}), make(chan struct{})
		go func() {
			sc := bufio.NewScanner(pr)
			var once sync.Once
			for sc.Scan() {
				mu.Lock()
				out.WriteString(sc.Text() + "\n")
				mu.Unlock()
				if strings.Contains(sc.Text(), " started (") {
					once.Do(func() { close(started) })
				}
			}
		}()
		go func() { cmd.Wait(); pw.Close(); close(exited) }()
		text := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
		select {
		case <-started:
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					t.Logf("rbldnsd output:\n%s", text())
				}
			})
			return fmt.Sprintf("127.0.0.1:%d", port)
		case <-exited:
			lastOut = text()
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("rbldnsd did not start within 10 s:\n%s", text())
		}
	}
	t.Fatalf("rbldnsd would not start:\n%s", lastOut)
	return ""
}

// dnsblStartCLI runs `mxsensor dnsbl --expire 0 args...` (the tests'
// entries have fixed dates) in-process on a free port of 127.0.0.1 and
// returns its address once it answers. It is stopped (as by
// SIGINT: its context is cancelled) when the test ends, and must return nil.
func dnsblStartCLI(t *testing.T, zone string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var addr string
	done := make(chan error, 1)
	for range 3 {
		addr = fmt.Sprintf("127.0.0.1:%d", dnsblFreePort(t))
		cmd := newRootCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"dnsbl", "--log-level", "warn", "--listen", addr, "--zone", zone, "--expire", "0"}, args...))
		go func() { done <- cmd.ExecuteContext(ctx) }()
		// Up when the apex answers; the RFC 5782 test point is always there.
		probe := new(dns.Msg)
		probe.SetQuestion(dnsbl.Nibbles(netip.MustParseAddr("::ffff:7f00:2"))+"."+zone, dns.TypeA)
		c := &dns.Client{Timeout: 200 * time.Millisecond}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-done:
				t.Logf("mxsensor dnsbl on %s exited: %v", addr, err)
				goto retry
			default:
			}
			if r, _, err := c.Exchange(probe, addr); err == nil && r.Rcode == dns.RcodeSuccess {
				t.Cleanup(func() {
					cancel()
					select {
					case err := <-done:
						if err != nil {
							t.Errorf("mxsensor dnsbl: %v", err)
						}
					case <-time.After(10 * time.Second):
						t.Error("mxsensor dnsbl did not stop within 10 s")
					}
				})
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		t.Fatalf("mxsensor dnsbl on %s did not answer within 10 s", addr)
	retry:
	}
	cancel()
	t.Fatal("mxsensor dnsbl would not start")
	return ""
}

// dnsblResult is what the comparison looks at in an answer.
type dnsblResult struct {
	Rcode string
	A     []string
	TXT   []string
}

func (r dnsblResult) String() string {
	return fmt.Sprintf("%s A=%v TXT=%q", r.Rcode, r.A, r.TXT)
}

// dnsblAsk sends one query over UDP (TCP if the answer is truncated).
func dnsblAsk(t *testing.T, addr, name string, qtype uint16) dnsblResult {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	var r *dns.Msg
	var err error
	for range 3 {
		r, _, err = (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, addr)
		if err == nil && r.Truncated {
			r, _, err = (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(q, addr)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s %s to %s: %v", name, dns.TypeToString[qtype], addr, err)
	}
	res := dnsblResult{Rcode: dns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		switch x := rr.(type) {
		case *dns.A:
			res.A = append(res.A, x.A.String())
		case *dns.TXT:
			res.TXT = append(res.TXT, strings.Join(x.Txt, ""))
		}
	}
	slices.Sort(res.A)
	slices.Sort(res.TXT)
	return res
}

// dnsblPrefixEnds returns the first and last address of p and the
// addresses just before and just after it.
func dnsblPrefixEnds(p netip.Prefix) (first, last, before, after netip.Addr) {
	first = p.Masked().Addr()
	b := first.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last = netip.AddrFrom16(b)
	return first, last, first.Prev(), last.Next()
}

// TestDNSBLMatchesRbldnsd exports a results directory with `mxsensor
// blocklist --format rbldnsd`, serves the file with Debian's rbldnsd
// (ip6trie), serves the same results with `mxsensor dnsbl --in` and with
// `mxsensor dnsbl --list` (the JSON export), and checks that all three give
// the same rcode, A records and TXT text for the same queries. Then it adds
// a spammer to the results and checks that the built-in server lists it
// after a reload, without a restart.
func TestDNSBLMatchesRbldnsd(t *testing.T) {
	bin := dnsblRbldnsd(t)
	// SIGHUP is sent to this process below; never let it kill the test.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	const zone = "bl6.mxsensor.test."
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil { // rbldnsd reads as its own user
		t.Fatal(err)
	}
	res := filepath.Join(base, "results")
	lines := []string{
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 3.5, true, "order:rst-roundtrip-gap(+3.0)", "stack:mss(+0.5)"),
		blocklistAssoc(t, "2026-11-27T09:00:00Z", "2001:db8:1:2:a:b:c:d", "192.0.2.7", 1.5, true, "port:shared(+1.5)"),
		blocklistAssoc(t, "2026-11-26T11:00:00Z", "2001:db8:1:3::1", "198.51.100.1", 0.2, true, "asn:same(+0.2)"),         // under the score
		blocklistAssoc(t, "2026-11-26T12:00:00Z", "2001:db8:1:4::1", "", 0, false),                                        // not a spammer
		blocklistAssoc(t, "2026-11-26T13:00:00Z", "2a00:1450:4001:82b::1a", "203.0.113.9", 0.9, true, "clock:rate(+0.9)"), // one attempt
		blocklistAssoc(t, "2026-11-26T14:00:00Z", "2001:db8:ffff:ffff::1", "192.0.2.200", 2, true, "embedded:6to4(+2)"),   // next to the end of 2001:db8::/32
		blocklistAssoc(t, "2026-11-26T15:00:00Z", "::ffff:192.0.2.99", "192.0.2.99", 9, true, "embedded:mapped(+9)"),      // never listable
		`{"broken`,
	}
	blocklistResults(t, res, lines...)

	zoneFile := filepath.Join(base, "bl6.zone")
	if _, errs, err := runCLI(t, "blocklist", "--expire", "0", "--in", res, "--format", "rbldnsd", "--out", zoneFile, "--log-format", "json"); err != nil {
		t.Fatal(err)
	} else {
		wantFields(t, logged(t, errs, "blocklist built"), map[string]any{"entries": 3, "prefix_len": 64, "spammer_attempts": 4, "bad_lines": 1})
	}
	jsonFile := filepath.Join(base, "bl6.jsonl")
	if _, _, err := runCLI(t, "blocklist", "--expire", "0", "--in", res, "--format", "json", "--out", jsonFile); err != nil {
		t.Fatal(err)
	}

	rbl := dnsblStartRbldnsd(t, bin, base, strings.TrimSuffix(zone, ".")+":ip6trie:bl6.zone")
	ours := dnsblStartCLI(t, zone, "--in", res, "--reload", "100ms")
	fromList := dnsblStartCLI(t, zone, "--list", jsonFile, "--reload", "0")

	name := func(ip netip.Addr) string { return dnsbl.Nibbles(ip) + "." + zone }
	type question struct {
		name  string
		qtype uint16
		want  string // the rcode rbldnsd and the built-in server must both give
	}
	var qs []question
	addrQ := func(ip netip.Addr, listed bool) {
		want := "NXDOMAIN"
		if listed {
			want = "NOERROR"
		}
		qs = append(qs, question{name(ip), dns.TypeA, want}, question{name(ip), dns.TypeTXT, want})
	}
	for _, p := range []string{"2001:db8:1:2::/64", "2a00:1450:4001:82b::/64", "2001:db8:ffff:ffff::/64"} {
		first, last, before, after := dnsblPrefixEnds(netip.MustParsePrefix(p))
		addrQ(first, true)
		addrQ(last, true)
		addrQ(first.Next().Next(), true)
		addrQ(before, false) // neighbours just outside the prefix
		addrQ(after, false)
	}
	addrQ(netip.MustParseAddr("2001:db8:1:2::10"), true)
	addrQ(netip.MustParseAddr("2001:db8:1:2:a:b:c:d"), true)
	addrQ(netip.MustParseAddr("2001:db8:1:3::1"), false) // under the score
	addrQ(netip.MustParseAddr("2001:db8:1:4::1"), false) // not a spammer
	addrQ(netip.MustParseAddr("::ffff:c000:263"), false) // the mapped spammer source
	addrQ(netip.MustParseAddr("2001:db9::1"), false)     // after 2001:db8::/32
	addrQ(netip.MustParseAddr("::ffff:7f00:2"), true)    // RFC 5782: must be listed
	addrQ(netip.MustParseAddr("::ffff:7f00:1"), false)   // RFC 5782: must not be
	listed := name(netip.MustParseAddr("2001:db8:1:2::10"))
	qs = append(qs,
		question{strings.ToUpper(listed), dns.TypeA, "NOERROR"}, // case-insensitive
		question{strings.ToUpper(listed), dns.TypeTXT, "NOERROR"},
		question{listed, dns.TypeAAAA, "NOERROR"}, // NODATA
		question{listed, dns.TypeMX, "NOERROR"},
		question{"2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2." + zone, dns.TypeA, "NXDOMAIN"}, // 16 nibbles
		question{"x." + listed, dns.TypeA, "NXDOMAIN"},                             // 33 labels
		question{"www." + zone, dns.TypeA, "NXDOMAIN"},
		question{strings.TrimSuffix(listed, zone) + "example.org.", dns.TypeA, "REFUSED"}, // outside the zone
		question{"mxsensor.test.", dns.TypeA, "REFUSED"},                                  // the parent
	)
	// Not compared, as both are specified to differ:
	//   - the apex: rbldnsd answers SOA and NS only when the data has $SOA
	//     and $NS lines (REFUSED otherwise, per its man page); the export
	//     has none (they name the operator's servers), while the built-in
	//     server always answers SOA and NS so that resolvers can cache
	//     negative answers (RFC 2308);
	//   - ANY: rbldnsd answers with A and TXT, the built-in server with
	//     NOTIMP (RFC 8482 allows declining ANY; no amplification).
	for _, q := range qs {
		a := dnsblAsk(t, rbl, q.name, q.qtype)
		b := dnsblAsk(t, ours, q.name, q.qtype)
		c := dnsblAsk(t, fromList, q.name, q.qtype)
		qn := fmt.Sprintf("%s %s", q.name, dns.TypeToString[q.qtype])
		if a.String() != b.String() || b.String() != c.String() {
			t.Errorf("%s:\n  rbldnsd:        %s\n  dnsbl --in:     %s\n  dnsbl --list:   %s", qn, a, b, c)
		}
		if a.Rcode != q.want {
			t.Errorf("%s: rcode %s, want %s", qn, a.Rcode, q.want)
		}
		if q.want == "NOERROR" && (q.qtype == dns.TypeA) != (len(a.A) == 1 && a.A[0] == "127.0.0.2") {
			t.Errorf("%s: A %v", qn, a.A)
		}
		if q.want == "NOERROR" && (q.qtype == dns.TypeTXT) != (len(a.TXT) == 1) {
			t.Errorf("%s: TXT %q", qn, a.TXT)
		}
	}
	// The TXT text itself, once, spelled out.
	if r := dnsblAsk(t, ours, listed, dns.TypeTXT); len(r.TXT) != 1 ||
		r.TXT[0] != "mxsensor: spam via IPv4 192.0.2.1 (+1); 2 attempts since 2026-11-26; evidence order,port,stack" {
		t.Errorf("TXT %q", r.TXT)
	}
	// What the built-in server does where it differs on purpose.
	if r := dnsblAsk(t, ours, zone, dns.TypeSOA); r.Rcode != "NOERROR" {
		t.Errorf("apex SOA: %s", r)
	}
	if r := dnsblAsk(t, ours, listed, dns.TypeANY); r.Rcode != "NOTIMP" || len(r.A)+len(r.TXT) != 0 {
		t.Errorf("ANY: %s", r)
	}

	// Reload without a restart: a new spammer in a new /64, the results
	// file rewritten in place (as analyze does). --in polls every 100 ms.
	newSpammer := netip.MustParseAddr("2001:db8:99::5")
	blocklistResults(t, res, append(lines, blocklistAssoc(t, "2026-11-27T12:00:00Z", newSpammer.String(), "192.0.2.250", 5, true, "order:x(+5)"))...)
	if r := dnsblAsk(t, ours, name(newSpammer), dns.TypeA); r.Rcode != "NXDOMAIN" {
		// The poll may already have seen the change; that is fine too.
		t.Logf("listed before the first poll: %s", r)
	}
	dnsblWaitListed(t, ours, name(newSpammer), "mxsensor: spam via IPv4 192.0.2.250; 1 attempt since 2026-11-27; evidence order")
	if r := dnsblAsk(t, ours, listed, dns.TypeA); r.Rcode != "NOERROR" {
		t.Errorf("old entry lost in the reload: %s", r)
	}

	// --list with --reload 0 reloads on SIGHUP: export again (atomically
	// replaced), signal, and the new entry appears.
	if r := dnsblAsk(t, fromList, name(newSpammer), dns.TypeA); r.Rcode != "NXDOMAIN" {
		t.Errorf("--list listed the new spammer before SIGHUP: %s", r)
	}
	if _, _, err := runCLI(t, "blocklist", "--expire", "0", "--in", res, "--format", "json", "--out", jsonFile); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if r := dnsblAsk(t, fromList, name(newSpammer), dns.TypeA); r.Rcode != "NXDOMAIN" {
		t.Errorf("--reload 0 reloaded without SIGHUP: %s", r)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	dnsblWaitListed(t, fromList, name(newSpammer), "mxsensor: spam via IPv4 192.0.2.250; 1 attempt since 2026-11-27; evidence order")

	// A source that breaks keeps the old list.
	if err := os.Remove(filepath.Join(res, "associations.jsonl")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if r := dnsblAsk(t, ours, name(newSpammer), dns.TypeA); r.Rcode != "NOERROR" {
		t.Errorf("list dropped when the source vanished: %s", r)
	}
}

// dnsblWaitListed waits (up to 10 s) until name is listed with txt.
func dnsblWaitListed(t *testing.T, addr, name, txt string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var r dnsblResult
	for time.Now().Before(deadline) {
		r = dnsblAsk(t, addr, name, dns.TypeTXT)
		if r.Rcode == "NOERROR" {
			if len(r.TXT) != 1 || r.TXT[0] != txt {
				t.Errorf("%s: TXT %q, want %q", name, r.TXT, txt)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not listed within 10 s: %s", name, r)
}

func TestDNSBLCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"dnsbl", "--zone", "bl6.test"},
		{"dnsbl", "--zone", "bl6.test", "--in", dir, "--list", filepath.Join(dir, "x")},
		{"dnsbl", "--in", dir},
		{"dnsbl", "--zone", "bl6.test", "--in", dir},                             // no associations.jsonl
		{"dnsbl", "--zone", "bl6.test", "--list", filepath.Join(dir, "missing")}, // no list
		{"dnsbl", "--zone", "bl6.test", "--in", dir, "--prefix", "16"},           // bad prefix
		{"dnsbl", "--zone", "bl6.test", "--in", dir, "--rate-limit", "-1"},       // bad rate
		{"dnsbl", "--zone", "bl6.test", "--list", os.DevNull, "--tcp-max-conns-per-source", "0"},
		{"dnsbl", "--zone", "bl6.test", "--list", os.DevNull, "--tcp-idle-timeout", "-1s"},
		{"dnsbl", "--zone", "bl6.test", "--list", os.DevNull, "--listen", "127.0.0.1:bad"}, // bad listen
		{"dnsbl", "--zone", "bl6..test", "--list", os.DevNull, "--listen", "127.0.0.1:0"},  // bad zone
	} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		} else {
			t.Logf("%v: %v", args, err)
		}
	}
}

// TestDNSBLCommandTCPLimits: the --tcp-* flags reach the server: with one
// connection allowed per source, a second one from the same address is
// closed unanswered while another address is served.
func TestDNSBLCommandTCPLimits(t *testing.T) {
	addr := dnsblStartCLI(t, "bl6.test.", "--list", os.DevNull, "--reload", "0", "--tcp-max-conns-per-source", "1")
	q := new(dns.Msg)
	q.SetQuestion(dnsbl.Nibbles(netip.MustParseAddr("::ffff:7f00:2"))+".bl6.test.", dns.TypeA)
	askFrom := func(src string) (*dns.Conn, error) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			return nil, err // refused before the connect returned
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		dc := &dns.Conn{Conn: c}
		if err := dc.WriteMsg(q); err != nil {
			return dc, err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = dc.ReadMsg()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("from %s: neither answered nor closed within 5 s", src)
		}
		return dc, err
	}
	if _, err := askFrom("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := askFrom("127.0.0.1"); err == nil {
		t.Error("a second connection from one source answered with --tcp-max-conns-per-source 1")
	}
	if _, err := askFrom("127.0.0.2"); err != nil {
		t.Errorf("another source: %v", err)
	}
}

// TestDNSBLNATS: dnsbl --nats answers from the fleet's shared list and
// follows it: an entry written to the bucket is answered, a deleted one is
// not.
func TestDNSBLNATS(t *testing.T) {
	listed := sharedEntry("2001:db8:1::/64", "s1", "s2")
	url, kv := sharedListServer(t, listed)
	const zone = "bl6.test."
	addr := dnsblStartCLI(t, zone, "--nats", url)
	name := func(a string) string { return dnsbl.Nibbles(netip.MustParseAddr(a)) + "." + zone }

	if r := dnsblAsk(t, addr, name("2001:db8:1::25"), dns.TypeTXT); r.Rcode != "NOERROR" || len(r.TXT) != 1 || r.TXT[0] != blocklist.Reason(listed) {
		t.Errorf("listed entry: %s", r)
	}
	added := sharedEntry("2001:db8:2::/64", "s3")
	sharedListPut(t, kv, added)
	dnsblWaitListed(t, addr, name("2001:db8:2::1"), blocklist.Reason(added))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kv.Delete(ctx, fleet.PrefixKey(listed.Prefix)); err != nil {
		t.Fatal(err)
	}
	for r := dnsblAsk(t, addr, name("2001:db8:1::25"), dns.TypeA); r.Rcode != "NXDOMAIN"; r = dnsblAsk(t, addr, name("2001:db8:1::25"), dns.TypeA) {
		if ctx.Err() != nil {
			t.Fatalf("deleted entry still answered: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, args := range [][]string{
		{"dnsbl", "--zone", zone, "--nats", url, "--list", os.DevNull},
		{"dnsbl", "--zone", zone, "--nats", url, "--nats-nkey", "k", "--nats-user", "u"},
		{"dnsbl", "--zone", zone, "--nats", "localhost"},
	} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
