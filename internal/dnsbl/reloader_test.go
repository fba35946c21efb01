package dnsbl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// replaceFile writes a new file at path (rename), as the exporters do.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// prefixList is a plain list of n /64s.
func prefixList(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d prefixes\n", n)
	for i := range n {
		fmt.Fprintf(&b, "2001:db8:%x::/64\n", i+1)
	}
	return b.String()
}

// startReloader starts a reloader of a fresh server's list from src (with
// no polling: the test calls reload itself) and returns it with its logs.
func startReloader(t *testing.T, src Source) (*Reloader, *Server, *observer.ObservedLogs) {
	t.Helper()
	srv, err := New(Config{Zone: "bl6.test"}, NewTable(nil))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	rl, err := NewReloader(ReloaderConfig{Source: src, Log: zap.New(core)}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Stop() })
	return rl, srv, logs
}

func checkReloads(t *testing.T, step string, rl *Reloader, srv *Server, entries int, loaded, failed uint64) {
	t.Helper()
	l, f := rl.Stats()
	if n := srv.Table().Len(); n != entries || l != loaded || f != failed {
		t.Errorf("%s: %d entries, %d reloads, %d failed; want %d, %d, %d", step, n, l, f, entries, loaded, failed)
	}
}

// TestReloaderGarbageKeepsList: a source with bad lines and no valid entry
// is a failed load (the old list stays, an error is logged, the failure
// counted); an empty source, or one of comments only, is a valid empty
// list.
func TestReloaderGarbageKeepsList(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "bl6.txt")
	replaceFile(t, list, prefixList(68))
	rl, srv, logs := startReloader(t, Source{List: list})
	checkReloads(t, "start", rl, srv, 68, 0, 0)

	replaceFile(t, list, "not a prefix\n2001:db8::/129\n{\"prefix\": 7}\n# a comment\n\n::ffff:127.0.0.1\n")
	rl.reload(triggerDemand)
	checkReloads(t, "garbage", rl, srv, 68, 0, 1)
	if n := logs.FilterMessage("dnsbl reload failed, keeping the list").Len(); n != 1 {
		t.Errorf("%d errors logged for the garbage source, want 1", n)
	}
	// One good line among the bad ones is a list (the bad lines warned).
	replaceFile(t, list, "garbage\n2001:db8:ffff::/48\n")
	rl.reload(triggerDemand)
	checkReloads(t, "one good line", rl, srv, 1, 1, 1)
	if n := logs.FilterMessage("dnsbl source has bad lines (skipped)").Len(); n != 1 {
		t.Errorf("%d warnings of bad lines, want 1", n)
	}
	for _, empty := range []string{"", "# nothing listed today\n\n"} {
		replaceFile(t, list, empty)
		rl.reload(triggerDemand)
	}
	checkReloads(t, "empty and comments only", rl, srv, 0, 3, 1)
}

// TestReloaderResultsGarbage: the same rule for a results directory: every
// line bad is a failure, while a line that parses but lists nobody is not.
func TestReloaderResultsGarbage(t *testing.T) {
	res := filepath.Join(t.TempDir(), "results")
	assoc := filepath.Join(res, "associations.jsonl")
	replaceFile(t, assoc, `{"first_seen":"2026-11-26T10:00:00Z","src":"2001:db8:1:2::10","sport":40000,"syns":3,`+
		`"ipv4":{"src":"192.0.2.1","sport":50000,"first_seen":"2026-11-26T10:00:00Z","blocklisted":true},"score":3.5,"evidence":["order:x(+3)"],"spammer":true}`+"\n")
	rl, srv, _ := startReloader(t, Source{Dir: res, Options: blocklist.DefaultOptions()})
	checkReloads(t, "results", rl, srv, 1, 0, 0)
	replaceFile(t, assoc, "{\"broken\nalso broken\n")
	rl.reload(triggerDemand)
	checkReloads(t, "garbage results", rl, srv, 1, 0, 1)
	replaceFile(t, assoc, `{"first_seen":"2026-11-26T12:00:00Z","src":"2001:db8:1:4::1","sport":40000,"syns":1,"ipv4":null,"score":0,"evidence":[],"spammer":false}`+"\n")
	rl.reload(triggerDemand)
	checkReloads(t, "no spammer", rl, srv, 0, 1, 1)
}

// TestReloaderPollWaitsForStableSource: a poll loads a changed source only
// once the next poll sees it unchanged (not while a writer is at it); an
// unchanged source is not loaded again; a failing source is counted at
// every poll but logged once, and again on demand.
func TestReloaderPollWaitsForStableSource(t *testing.T) {
	list := filepath.Join(t.TempDir(), "bl6.txt")
	replaceFile(t, list, prefixList(3))
	rl, srv, logs := startReloader(t, Source{List: list})
	rl.reload(triggerPoll)
	checkReloads(t, "unchanged", rl, srv, 3, 0, 0)

	replaceFile(t, list, prefixList(5))
	rl.reload(triggerPoll)
	checkReloads(t, "changed, first poll", rl, srv, 3, 0, 0)
	replaceFile(t, list, prefixList(7)) // still being written
	rl.reload(triggerPoll)
	checkReloads(t, "changed again", rl, srv, 3, 0, 0)
	rl.reload(triggerPoll)
	checkReloads(t, "stable for one poll", rl, srv, 7, 1, 0)
	rl.reload(triggerPoll)
	checkReloads(t, "loaded version", rl, srv, 7, 1, 0)

	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rl.reload(triggerPoll)
	}
	checkReloads(t, "missing, three polls", rl, srv, 7, 1, 3)
	failures := logs.FilterMessage("dnsbl reload failed, keeping the list")
	if failures.Len() != 1 {
		t.Errorf("%d failures logged over three polls, want 1", failures.Len())
	}
	rl.reload(triggerDemand)
	if n := logs.FilterMessage("dnsbl reload failed, keeping the list").Len(); n != 2 {
		t.Errorf("%d failures logged after a demand, want 2", n)
	}
}

// TestReloaderStartFails: with no list to keep yet, a source that does not
// load fails Start; a missing store is not created in its place.
func TestReloaderStartFails(t *testing.T) {
	dir := t.TempDir()
	srv, err := New(Config{Zone: "bl6.test"}, NewTable(nil))
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.txt")
	replaceFile(t, garbage, "not a prefix\n")
	db := filepath.Join(dir, "none.db")
	for _, src := range []Source{{List: garbage}, {List: filepath.Join(dir, "missing")}, {DB: db}} {
		rl, err := NewReloader(ReloaderConfig{Source: src}, srv)
		if err != nil {
			t.Fatal(err)
		}
		if err := rl.Start(); err == nil {
			t.Errorf("%+v: started", src)
		}
		if err := rl.Stop(); err != nil {
			t.Errorf("stop without a start: %v", err)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing store was created: %v", err)
	}
	for _, src := range []Source{{}, {List: garbage, Dir: dir}} {
		if _, err := NewReloader(ReloaderConfig{Source: src}, srv); err == nil {
			t.Errorf("%+v: accepted", src)
		}
	}
}

// TestReloaderDropsExpired: an entry that expires between two loads of an
// unchanged source leaves the table (and so the HTTP feed, OnReload) at
// the next poll, not only the answers.
func TestReloaderDropsExpired(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i, last := range []time.Time{t0, t0.Add(time.Hour)} {
		j, err := json.Marshal(blocklist.Entry{Prefix: netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/64", i+1)), FirstSeen: t0, LastSeen: last, Attempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	path := filepath.Join(t.TempDir(), "list.jsonl")
	replaceFile(t, path, b.String())
	var published []int
	srv, err := New(Config{Zone: "bl6.test", OnReload: func(tb *Table) { published = append(published, tb.Len()) }}, NewTable(nil))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := NewReloader(ReloaderConfig{Source: Source{List: path}, Log: zap.NewNop(),
		Policy: blocklist.Policy{WidenTo: 48, Expire: 2 * time.Hour}}, srv)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2*time.Hour - time.Second)
	rl.clock = func() time.Time { return now }
	if err := rl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Stop() })
	for _, step := range []struct {
		at   time.Time
		want int
	}{{now, 2}, {t0.Add(2 * time.Hour), 1}, {t0.Add(3*time.Hour - time.Second), 1}, {t0.Add(3 * time.Hour), 0}} {
		now = step.at
		rl.reload(triggerPoll)
		if got := srv.Table().Len(); got != step.want {
			t.Errorf("at %s: %d entries, want %d", now.Sub(t0), got, step.want)
		}
	}
	if want := []int{2, 1, 0}; !slices.Equal(published, want) {
		t.Errorf("tables published %v, want %v", published, want)
	}
}
