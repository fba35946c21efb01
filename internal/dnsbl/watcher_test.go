package dnsbl

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
)

// putEntry writes prefix's entry into the shared list, retrying while the
// writer's connection is re-established.
func putEntry(ctx context.Context, t *testing.T, kv jetstream.KeyValue, prefix string, sensors ...string) {
	t.Helper()
	p := netip.MustParsePrefix(prefix)
	b, err := json.Marshal(blocklist.Entry{Prefix: p, Attempts: 2, Addresses: 1, Evidence: []string{"order"}, Sensors: sensors})
	if err != nil {
		t.Fatal(err)
	}
	putRaw(ctx, t, kv, fleet.PrefixKey(p), b)
}

func putRaw(ctx context.Context, t *testing.T, kv jetstream.KeyValue, key string, val []byte) {
	t.Helper()
	for {
		_, err := kv.Put(ctx, key, val)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitListed waits until the server's answer for addr is listed (or not).
func waitListed(ctx context.Context, t *testing.T, srv *Server, addr string, listed bool) {
	t.Helper()
	a := netip.MustParseAddr(addr)
	for {
		if _, ok := srv.Table().Lookup(a); ok == listed {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: listed %v, want %v", addr, !listed, listed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherFollowsSharedList: the watcher serves the bucket's entries,
// applies puts and deletes as they come, skips malformed values, follows
// the bucket again after the server was down (an entry written and one
// deleted meanwhile are applied), and drops entries older than the
// bucket's TTL.
func TestWatcherFollowsSharedList(t *testing.T) {
	n := fleettest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := fleettest.Connect(t, "writer", n.URL())
	kv, err := fleet.EnsureList(ctx, js, fleet.ListConfig{Expire: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	putEntry(ctx, t, kv, "2001:db8:a::/64", "s1", "s2")
	putRaw(ctx, t, kv, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:bad::/64")), []byte("not json"))
	// A value whose prefix is not its key's.
	wrong, _ := json.Marshal(blocklist.Entry{Prefix: netip.MustParsePrefix("2001:db8:c::/64")})
	putRaw(ctx, t, kv, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:d::/64")), wrong)

	srv, err := New(Config{Zone: "bl.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	w, err := NewWatcher(WatcherConfig{Conn: fleet.ConnConfig{URLs: []string{n.URL()}, Name: "dnsbl", ReconnectWait: 500 * time.Millisecond}, Log: zaptest.NewLogger(t)}, srv)
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return time.Unix(0, clock.Load()) }
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if a, ok := srv.Table().Lookup(netip.MustParseAddr("2001:db8:a::1")); !ok || a.TXT == "" {
		t.Fatalf("the loaded entry is not served: %+v %v", a, ok)
	}
	if srv.Table().Len() != 1 || w.Malformed() != 2 {
		t.Errorf("%d entries, %d malformed; want 1 and 2", srv.Table().Len(), w.Malformed())
	}

	putEntry(ctx, t, kv, "2001:db8:b::/64", "s3")
	waitListed(ctx, t, srv, "2001:db8:b::1", true)
	if err := kv.Delete(ctx, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:a::/64"))); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, srv, "2001:db8:a::1", false)
	putRaw(ctx, t, kv, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:e::/64")), []byte(`{"prefix":12}`))

	// The server goes down and comes back; while the watcher's connection
	// is away (it retries every 500 ms, the writer every 20), one entry is
	// written and one deleted.
	n.Stop()
	n.Restart(t)
	putEntry(ctx, t, kv, "2001:db8:f::/64", "s1")
	if err := kv.Delete(ctx, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:b::/64"))); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, srv, "2001:db8:f::1", true)
	waitListed(ctx, t, srv, "2001:db8:b::1", false)
	if w.Resumed() == 0 {
		t.Error("the watcher was not re-created after the reconnection")
	}
	if w.Malformed() != 3 {
		t.Errorf("%d malformed values, want 3", w.Malformed())
	}

	// SIGHUP loads the whole list again: the same entries.
	loaded, _ := w.Stats()
	w.Reload()
	for l, _ := w.Stats(); l == loaded; l, _ = w.Stats() {
		if ctx.Err() != nil {
			t.Fatal("no reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Table().Len() != 1 {
		t.Errorf("%d entries after a reload, want 1", srv.Table().Len())
	}

	// An hour later the bucket has expired the entry; so has the table.
	clock.Add(int64(time.Hour + time.Second))
	w.expire <- struct{}{}
	waitListed(ctx, t, srv, "2001:db8:f::1", false)

	w.Stop()
	if !srv.Table().Built.IsZero() && srv.Table().Len() != 0 {
		t.Errorf("after Stop: %d entries", srv.Table().Len())
	}
}

// TestWatcherNoBucket: with no shared list yet, Start fails and says why.
func TestWatcherNoBucket(t *testing.T) {
	n := fleettest.Start(t)
	srv, err := New(Config{Zone: "bl.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherConfig{Conn: fleet.ConnConfig{URLs: []string{n.URL()}}, Wait: 5 * time.Second}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err == nil {
		w.Stop()
		t.Fatal("started without a bucket")
	}
}

// TestWatcherFeedsOnReload: under the sensor network the tables the
// watcher swaps in pass through Config.OnReload, where the HTTP feed
// follows them: a prefix put in the shared bucket reaches it.
func TestWatcherFeedsOnReload(t *testing.T) {
	n, kv, ctx := sharedList(t)
	putEntry(ctx, t, kv, "2001:db8:a::/64", "s1")
	var mu sync.Mutex
	var fed []netip.Prefix
	srv, err := New(Config{Zone: "bl.test", OnReload: func(tb *Table) {
		mu.Lock()
		defer mu.Unlock()
		fed = fed[:0]
		for _, e := range tb.Entries() {
			fed = append(fed, e.Prefix)
		}
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherConfig{Conn: fleet.ConnConfig{URLs: []string{n.URL()}, Name: "dnsbl"}, Log: zap.NewNop()}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	putEntry(ctx, t, kv, "2001:db8:b::/64", "s2")
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:a::/64"), netip.MustParsePrefix("2001:db8:b::/64")}
	for {
		mu.Lock()
		got := slices.Clone(fed)
		mu.Unlock()
		slices.SortFunc(got, netip.Prefix.Compare)
		if slices.Equal(got, want) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("fed %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sharedList starts a NATS server with the fleet's list bucket (entries
// expiring after an hour), and returns it, the bucket and a context
// bounding the test to a minute.
func sharedList(t *testing.T) (*fleettest.Node, jetstream.KeyValue, context.Context) {
	t.Helper()
	n := fleettest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	kv, err := fleet.EnsureList(ctx, fleettest.Connect(t, "writer", n.URL()), fleet.ListConfig{Expire: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return n, kv, ctx
}
