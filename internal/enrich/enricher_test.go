package enrich

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSubmitDeliversResults(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	reqs := []Request{
		{IP: listed4, Tag: "v4"},
		{IP: listed6, Tag: "v6"},
		{IP: clean4, Want: WantPTR, Tag: "ptr only"},
	}
	for _, r := range reqs {
		if !e.Submit(r) {
			t.Fatalf("Submit(%v) refused", r.IP)
		}
	}
	got := make(map[string]Result)
	for range reqs {
		r := <-e.Results()
		got[r.Request.Tag.(string)] = r
	}
	v4 := got["v4"]
	if v4.Err != nil || len(v4.DNSBL) != 1 || !v4.DNSBL[0].Listed ||
		v4.PTR.Confirmed != "mail.example.test" || v4.ASN.Origins[0].Number != 64500 {
		t.Errorf("v4 result %+v", v4)
	}
	v6 := got["v6"]
	if v6.Err != nil || !v6.DNSBL[0].Listed || v6.PTR.Confirmed != "mx6.example.test" ||
		v6.ASN.Origins[0].Number != 64503 {
		t.Errorf("v6 result %+v", v6)
	}
	p := got["ptr only"]
	if p.Err != nil || p.DNSBL != nil || p.ASN.Source != "" || len(p.PTR.Names) != 0 {
		t.Errorf("ptr-only result %+v", p)
	}
	e.Stop()
	if _, ok := <-e.Results(); ok {
		t.Error("Results not closed by Stop")
	}
	if e.Submit(Request{IP: listed4}) {
		t.Error("Submit accepted a request after Stop")
	}
	st := e.Stats()
	if st.Submitted != 3 || st.Completed != 3 || st.Dropped != 1 {
		t.Errorf("stats %+v: want 3 submitted and completed, 1 dropped", st)
	}
}

func TestSubmitCallback(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	got := make(chan Result, 1)
	e.OnResult(func(r Result) { got <- r })
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Submit(Request{IP: multi4, Want: WantASN})
	r := <-got
	if r.Err != nil || len(r.ASN.Origins) != 2 {
		t.Errorf("result %+v", r)
	}
}

func TestQueueOverflowDropped(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.QueueSize = 2
	cfg.Workers = 1
	e := newTestEnricher(t, cfg)
	// Not started: nothing leaves the queue.
	accepted := 0
	for range 5 {
		if e.Submit(Request{IP: listed4, Want: WantDNSBL}) {
			accepted++
		}
	}
	st := e.Stats()
	if accepted != 2 || st.Submitted != 2 || st.Dropped != 3 || st.QueueLength != 2 {
		t.Fatalf("accepted %d, stats %+v: want 2 queued and 3 dropped", accepted, st)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := <-e.Results(); r.Err != nil || !r.DNSBL[0].Listed {
			t.Errorf("result %+v", r)
		}
	}
	waitFor(t, func() bool { return e.Stats().Completed == 2 }) // counted after the send
	if st := e.Stats(); st.QueueLength != 0 || st.Dropped != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestStopAbandonsQueued(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	e := newTestEnricher(t, cfg)
	for range 3 {
		e.Submit(Request{IP: listed4})
	}
	e.Stop()
	if st := e.Stats(); st.Abandoned != 3 {
		t.Errorf("stats %+v: want 3 abandoned", st)
	}
	if err := e.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

// TestStopInterruptsQuery checks that Stop does not wait for a query to a
// silent server to time out.
func TestStopInterruptsQuery(t *testing.T) {
	srv := newTestServer(t)
	cfg := testConfig(srv.addr)
	cfg.Timeout = time.Hour
	cfg.RequestTimeout = time.Hour
	e := newTestEnricher(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Submit(Request{IP: silent4, Want: WantDNSBL})
	waitFor(t, func() bool { return e.Stats().Queries == 1 })
	e.Stop() // would hang for an hour if the query were not interrupted
	if st := e.Stats(); st.Abandoned != 1 || st.Timeouts != 0 {
		t.Errorf("stats %+v: want 1 abandoned, no timeout", st)
	}
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestDeadResolver(t *testing.T) {
	cfg := testConfig(closedPort(t))
	cfg.Timeout = 100 * time.Millisecond
	cfg.QueueSize = 4
	cfg.Workers = 1
	e := newTestEnricher(t, cfg)

	// Synchronous look-ups fail, and say so.
	if _, err := e.LookupDNSBL(context.Background(), listed4); err == nil {
		t.Error("DNSBL look-up through a dead resolver succeeded")
	}
	if _, err := e.LookupPTR(context.Background(), listed4); err == nil {
		t.Error("PTR look-up through a dead resolver succeeded")
	}
	if _, err := e.LookupASN(context.Background(), listed6); err == nil {
		t.Error("ASN look-up through a dead resolver succeeded")
	}

	// Submit keeps returning at once: the worker is held in the callback,
	// the queue fills, the rest is dropped.
	release := make(chan struct{})
	var mu sync.Mutex
	var results []Result
	e.OnResult(func(r Result) {
		<-release
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 50
	accepted := 0
	for i := range n {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if e.Submit(Request{IP: ip}) {
			accepted++
		}
	}
	close(release)
	st := e.Stats()
	if st.Submitted != uint64(accepted) || st.Dropped != uint64(n-accepted) || accepted > cfg.QueueSize+1 {
		t.Errorf("accepted %d of %d, stats %+v", accepted, n, st)
	}
	waitFor(t, func() bool { return e.Stats().Completed == uint64(accepted) })
	mu.Lock()
	for _, r := range results {
		if r.Err == nil {
			t.Errorf("result without error: %+v", r)
		}
	}
	mu.Unlock()
	st = e.Stats()
	if st.Answers != 0 || st.Queries == 0 || st.NetErrors+st.Timeouts != st.Queries {
		t.Errorf("stats %+v: every query should have failed", st)
	}
	t.Logf("dead resolver: %+v", st)
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"resolver without port", func(c *Config) { c.Resolver = "127.0.0.1" }, "resolver"},
		{"resolver port zero", func(c *Config) { c.Resolver = "127.0.0.1:0" }, "port"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"retries", func(c *Config) { c.Retries = -1 }, "retries"},
		{"udp size", func(c *Config) { c.UDPSize = 100 }, "udp size"},
		{"rate", func(c *Config) { c.QueriesPerSecond = -1 }, "queries per second"},
		{"burst", func(c *Config) { c.Burst = 0 }, "burst"},
		{"workers", func(c *Config) { c.Workers = 0 }, "workers"},
		{"queue", func(c *Config) { c.QueueSize = 0 }, "queue size"},
		{"ttl bounds", func(c *Config) { c.MaxTTL = time.Second }, "maximum TTL"},
		{"ptr names", func(c *Config) { c.MaxPTRNames = 0 }, "PTR"},
		{"dnsbl zone", func(c *Config) { c.DNSBLZones = []string{"bad..zone"} }, "dnsbl zone"},
		{"dnsbl zone twice", func(c *Config) { c.DNSBLZones = []string{"a.test", "A.test."} }, "twice"},
		{"cymru zone", func(c *Config) { c.CymruASNZone = "bad zone!" + strings.Repeat("x", 300) }, "cymru asn zone"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: New accepted the config", c.name)
		}
	}
	// Rate limit off: burst does not matter.
	cfg := DefaultConfig()
	cfg.QueriesPerSecond, cfg.Burst = 0, 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("unlimited rate: %v", err)
	}
}

func TestSystemResolver(t *testing.T) {
	dir := t.TempDir()
	old := resolvConf
	t.Cleanup(func() { resolvConf = old })
	for _, c := range []struct{ conf, want string }{
		{"# generated\nsearch example.test\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n", "192.0.2.53:53"},
		{"nameserver 2001:db8::53\n", "[2001:db8::53]:53"},
		{"nameserver bogus\nnameserver 192.0.2.1 # trailing\n", "192.0.2.1:53"},
		{"options edns0\n", "127.0.0.1:53"},
	} {
		resolvConf = filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(resolvConf, []byte(c.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := SystemResolver(); got != c.want {
			t.Errorf("%q: got %s, want %s", c.conf, got, c.want)
		}
	}
	resolvConf = filepath.Join(dir, "missing")
	if got := SystemResolver(); got != "127.0.0.1:53" {
		t.Errorf("missing resolv.conf: got %s", got)
	}
}

func TestNewFillsResolver(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Resolver = ""
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Config().Resolver == "" {
		t.Error("resolver left empty")
	}
}

func TestInvalidRequest(t *testing.T) {
	e := newTestEnricher(t, testConfig(closedPort(t)))
	if r := e.Lookup(context.Background(), Request{}); r.Err == nil {
		t.Error("zero address accepted")
	}
	if _, err := e.LookupASN(context.Background(), netip.Addr{}); err == nil {
		t.Error("zero address accepted")
	}
	cfg := testConfig(closedPort(t))
	cfg.CymruOrigin6Zone = ""
	e = newTestEnricher(t, cfg)
	if _, err := e.LookupASN(context.Background(), listed6); !errors.Is(err, ErrNoASNSource) {
		t.Errorf("got %v, want ErrNoASNSource", err)
	}
}
