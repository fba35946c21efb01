package dnsbl

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
)

// TestDNSBLExpiryAtAnswer: an entry is answered until LastSeen+expire,
// excluded; an expired /64 falls back to a wider prefix still live.
func TestDNSBLExpiryAtAnswer(t *testing.T) {
	const expire = 30 * 24 * time.Hour
	wide, narrow := entry("2001:db8:a::/48", 1, "192.0.2.48"), entry("2001:db8:a:1::/64", 2, "192.0.2.64")
	wide.LastSeen = narrow.LastSeen.Add(time.Hour)
	s := newServer(t, NewTable([]blocklist.Entry{wide, narrow}), Config{Expire: expire})
	end := narrow.LastSeen.Add(expire)
	ask := func(at time.Time, ip string) string {
		s.now = func() time.Time { return at }
		m := s.Answer(query(Nibbles(netip.MustParseAddr(ip))+".bl6.test.", dns.TypeTXT))
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			return dns.RcodeToString[m.Rcode]
		}
		return m.Answer[0].(*dns.TXT).Txt[0]
	}
	if got, want := ask(end.Add(-time.Second), "2001:db8:a:1::1"), blocklist.Reason(narrow); got != want {
		t.Errorf("one second before: %q, want %q", got, want)
	}
	if s.Stats().Expired != 0 {
		t.Errorf("expired counted before the end")
	}
	for _, at := range []time.Time{end, end.Add(time.Second)} {
		if got, want := ask(at, "2001:db8:a:1::1"), blocklist.Reason(wide); got != want {
			t.Errorf("%s after: %q, want the /48's %q", at.Sub(end), got, want)
		}
	}
	if got := ask(wide.LastSeen.Add(expire).Add(time.Second), "2001:db8:a:1::1"); got != "NXDOMAIN" {
		t.Errorf("both expired: %q", got)
	}
	if got := s.Stats().Expired; got != 3 {
		t.Errorf("expired counted %d, want 3", got)
	}
	// The test point has no LastSeen: it never expires.
	if got := ask(end.Add(1000*expire), "::ffff:7f00:2"); got != blocklist.TestPointReason {
		t.Errorf("test point: %q", got)
	}
}

// TestReloaderAllowlist: the allowlist keeps its prefixes out of the list
// served; a changed allowlist applies to the list held; a bad one keeps
// the old allowlist, counted and logged; a bad one at start is an error
// naming the line.
func TestReloaderAllowlist(t *testing.T) {
	dir := t.TempDir()
	list, allow := filepath.Join(dir, "bl6.txt"), filepath.Join(dir, "allow.txt")
	replaceFile(t, list, prefixList(3)) // 2001:db8:1::/64 .. 2001:db8:3::/64
	replaceFile(t, allow, "# our own\n2001:db8:2::/48\n")
	srv, err := New(Config{Zone: "bl6.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	rl, err := NewReloader(ReloaderConfig{Source: Source{List: list}, Allowlist: allow, Log: zap.New(core)}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.Start(); err != nil {
		t.Fatal(err)
	}
	defer rl.Stop()
	listed := func(ip string) bool {
		_, ok := srv.Table().Lookup(netip.MustParseAddr(ip))
		return ok
	}
	check := func(step string, kept, loaded, failed uint64, two bool) {
		t.Helper()
		k, l, f := rl.AllowlistStats()
		if k != kept || l != loaded || f != failed || listed("2001:db8:2::1") != two || !listed("2001:db8:1::1") {
			t.Errorf("%s: kept %d, reloads %d, failed %d, 2001:db8:2::1 listed %v", step, k, l, f, listed("2001:db8:2::1"))
		}
	}
	check("start", 1, 0, 0, false)
	if logs.FilterMessage("dnsbl list loaded").FilterField(zap.Int("allowlisted", 1)).Len() != 1 {
		t.Errorf("the load's log does not say what the allowlist kept out: %v", logs.All())
	}

	replaceFile(t, allow, "2001:db8:7::/48\n")
	rl.reload(triggerDemand)
	check("allowlist changed", 0, 1, 0, true)

	replaceFile(t, allow, "2001:db8:2::/48\nmx.example.org\n")
	rl.reload(triggerDemand)
	check("garbage", 0, 1, 1, true)
	if logs.FilterMessage("dnsbl allowlist reload failed, keeping the old allowlist").Len() != 1 {
		t.Error("the failed allowlist reload is not logged")
	}
	// A poll sees the same bad version: not loaded, not logged again.
	rl.reload(triggerPoll)
	rl.reload(triggerPoll)
	if logs.FilterMessage("dnsbl allowlist reload failed, keeping the old allowlist").Len() != 1 {
		t.Error("the same bad allowlist logged again")
	}

	_, err = NewReloader(ReloaderConfig{Source: Source{List: list}, Allowlist: allow}, srv)
	if err == nil || !strings.HasPrefix(err.Error(), allow+`:2: "mx.example.org" is not a prefix or an address`) {
		t.Errorf("bad allowlist at start: %v", err)
	}
}

// TestWatcherAllowlist: the fleet's list is served without the allowlisted
// prefixes, and a changed allowlist applies on Reload (SIGHUP).
func TestWatcherAllowlist(t *testing.T) {
	n, kv, ctx := sharedList(t)
	putEntry(ctx, t, kv, "2001:db8:a::/64", "s1")
	putEntry(ctx, t, kv, "2001:db8:b::/64", "s1")
	allow := filepath.Join(t.TempDir(), "allow.txt")
	replaceFile(t, allow, "2001:db8:b::/48\n")
	srv, err := New(Config{Zone: "bl.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherConfig{Conn: fleet.ConnConfig{URLs: []string{n.URL()}, Name: "dnsbl"}, Allowlist: allow, Log: zap.NewNop()}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, ok := srv.Table().Lookup(netip.MustParseAddr("2001:db8:b::1")); ok || srv.Table().Len() != 1 {
		t.Errorf("allowlisted 2001:db8:b::/64 served (%d entries)", srv.Table().Len())
	}
	if kept, _, _ := w.AllowlistStats(); kept != 1 {
		t.Errorf("kept out %d, want 1", kept)
	}
	replaceFile(t, allow, "2001:db8:a::/48\n")
	w.Reload()
	waitListed(ctx, t, srv, "2001:db8:a::1", false)
	waitListed(ctx, t, srv, "2001:db8:b::1", true)
}
