package store

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func att(src string, sport uint16, d time.Duration) *record.Attempt {
	a := &record.Attempt{Src: netip.MustParseAddr(src), SrcPort: sport, FirstSeen: t0.Add(d), LastSeen: t0.Add(d), SYNs: 1, Family: record.IPv4}
	if a.Src.Is6() {
		a.Family = record.IPv6
	}
	return a
}

// padded makes a's line n bytes longer (a disk fills sooner).
func padded(a *record.Attempt, n int) *record.Attempt {
	a.RawSig = strings.Repeat("x", n)
	return a
}

func readAll(t *testing.T, s *Store, name string) string {
	t.Helper()
	r, err := s.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecordAndReplay: the store keeps the records' lines (as the results
// files have them) with their keys; a replay after a restart inserts
// nothing twice.
func TestRecordAndReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a4, a6 := att("192.0.2.1", 1000, 0), att("2001:db8::1", 2000, time.Millisecond)
	a4.Blocklisted, a6.AddrType = true, "low-byte"
	as := &record.Association{FirstSeen: a6.FirstSeen, Src: a6.Src, SrcPort: a6.SrcPort, SYNs: 1, AddrType: "low-byte",
		IPv4: record.IPv4Ref{Src: a4.Src, SrcPort: a4.SrcPort, FirstSeen: a4.FirstSeen, Blocklisted: true}, Score: 0.75,
		Evidence: []string{"order:x(+3.0)"}, Spammer: true}
	write := func(atts ...*record.Attempt) {
		t.Helper()
		for _, a := range atts {
			if err := s.WriteAttempt(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WriteAssociation(as); err != nil {
			t.Fatal(err)
		}
	}
	write(a4, a6)
	if got, want := readAll(t, s, record.AttemptsFile), string(a6.AppendJSON(a4.AppendJSON(nil))); got != want {
		t.Errorf("attempts\n%s, want\n%s", got, want)
	}
	if got, want := readAll(t, s, record.AssociationsFile), string(as.AppendJSON(nil)); got != want {
		t.Errorf("associations\n%s, want\n%s", got, want)
	}
	var typed [3]int
	if err := s.DB().QueryRow("SELECT family, blocklisted, (SELECT spammer FROM associations) FROM attempts WHERE src = '192.0.2.1'").
		Scan(&typed[0], &typed[1], &typed[2]); err != nil || typed != [3]int{4, 1, 1} {
		t.Errorf("typed columns %v %v", typed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted agent replays: what is stored is not inserted again,
	// what is new is (another port at a stored time, a later attempt).
	s, err = Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(a4, att("192.0.2.1", 1001, 0), att("192.0.2.9", 9, time.Hour))
	if got := readAll(t, s, record.AttemptsFile); strings.Count(got, "\n") != 4 {
		t.Errorf("attempts after the replay:\n%s", got)
	}
	if got := readAll(t, s, record.AssociationsFile); strings.Count(got, "\n") != 1 {
		t.Errorf("associations after the replay:\n%s", got)
	}
	var v int
	if err := s.DB().QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Errorf("schema version %d %v", v, err)
	}
	var mode string
	if err := s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v", mode, err)
	}
}

func TestJournalAndRetention(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Journal = time.Minute
	cfg.SampleSYNs = 2
	cfg.Retention = 24 * time.Hour
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	for i := range 100 {
		ev := synevent.Event{Time: now.Add(time.Duration(i-99) * time.Second), Src: netip.MustParseAddr("192.0.2.1"), SrcPort: uint16(1000 + i),
			Dst: netip.MustParseAddr("192.0.2.250"), DstPort: 25, TTL: 64, Flags: 2, DataOffset: 5}
		if err := s.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	evs, skipped, err := s.Journal(time.Time{})
	if err != nil || skipped != 0 {
		t.Fatal(skipped, err)
	}
	// The journal keeps the last minute: SYNs 39..99.
	if len(evs) != 61 || evs[0].SrcPort != 1039 || evs[60].SrcPort != 1099 || !evs[60].Time.Equal(now) {
		t.Fatalf("journal: %d events, first %+v", len(evs), evs[0])
	}
	var n int
	if err := s.DB().QueryRow("SELECT COUNT(*) FROM syn_events").Scan(&n); err != nil || n != 50 {
		t.Errorf("sampled %d SYNs (%v), want 50", n, err)
	}
	// Retention drops what is older than a day.
	old := att("192.0.2.2", 1, 0)
	old.FirstSeen = now.Add(-48 * time.Hour)
	if err := s.WriteAttempt(old); err != nil {
		t.Fatal(err)
	}
	recent := att("192.0.2.3", 1, 0)
	recent.FirstSeen = now
	if err := s.WriteAttempt(recent); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(now); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d attempts after retention (%v), want 1", n, err)
	}
	st := s.Stats()
	if st.Batches == 0 || st.Rows < 100 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRetentionCountsFromNewest: the retention counts back from the newest
// measurement, so the results of a capture years old survive the store's
// first tick; a record dated ahead of the clock deletes no more than now
// would.
func TestRetentionCountsFromNewest(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention = 24 * time.Hour
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() int {
		t.Helper()
		var n int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	capture := time.Date(2014, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, d := range []time.Duration{-48 * time.Hour, -2 * time.Hour, 0} {
		a := att("192.0.2.2", uint16(1+i), 0)
		a.FirstSeen, a.LastSeen = capture.Add(d), capture.Add(d)
		if err := s.WriteAttempt(a); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := s.Expire(now); err != nil {
		t.Fatal(err)
	}
	// The capture's last day stays; the attempt two days before it goes.
	if n := count(); n != 2 {
		t.Errorf("%d attempts after the retention, want 2", n)
	}
	// A rejection dated today (a yearless log line given the wrong year)
	// does not move the reference while there are attempts.
	if err := s.RecordRejection(netip.MustParseAddr("192.0.2.9"), time.Now(), "zen.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d attempts after a rejection of today, want 2", n)
	}
	// Rows of today and one dated a year ahead: counted from now, not
	// from the future row, so today's stay and the capture's go.
	for i, d := range []time.Duration{-time.Hour, 365 * 24 * time.Hour} {
		a := att("192.0.2.3", uint16(1+i), 0)
		a.FirstSeen, a.LastSeen = now.Add(d), now.Add(d)
		if err := s.WriteAttempt(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Expire(now); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d attempts after the retention, want today's and the future one", n)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("err = %v", err)
	}
}

func TestPositions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Position("/var/log/mail.log"); ok || err != nil {
		t.Fatalf("a position before any: %v %v", ok, err)
	}
	if err := s.RecordRejection(netip.MustParseAddr("192.0.2.1"), t0, "zen.spamhaus.org"); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{`{"offset":10}`, `{"offset":20}`} {
		if err := s.RecordPosition("/var/log/mail.log", st); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, ok, err := s.Position("/var/log/mail.log"); !ok || err != nil || st != `{"offset":20}` {
		t.Errorf("position %q %v %v", st, ok, err)
	}
}

func TestEnrichmentCache(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ip := netip.MustParseAddr("192.0.2.1")
	for _, l := range []string{`{"v":1}`, `{"v":2}`} {
		if err := s.RecordEnrichment(ip, t0, []byte(l+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordEnrichment(netip.MustParseAddr("192.0.2.2"), t0.Add(-48*time.Hour), []byte(`{"v":3}`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Enrichments(t0.Add(-time.Hour), func(l []byte) { got = append(got, string(l)) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != `{"v":2}` {
		t.Errorf("enrichments %q: want the latest of the recent one", got)
	}
}

// When the disk falls behind, journal rows are dropped and counted, the
// results are kept, and the caller never waits.
func TestBacklogDropsJournalOnly(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.commitMu.Lock() // a commit that takes forever
	ev := synevent.Event{Time: time.Now(), Src: netip.MustParseAddr("192.0.2.1"), SrcPort: 1, DstPort: 25}
	for range DefaultMaxPending + 10 {
		if err := s.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteAttempt(att("192.0.2.1", 1, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := s.Stats().Dropped; d != 10 {
		t.Errorf("dropped %d, want 10", d)
	}
	s.commitMu.Unlock()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d attempts stored (%v)", n, err)
	}
}

// A full disk (here: SQLite's page limit, which fails a commit with
// SQLITE_FULL as a full file system does) does not poison the store: the
// failed batch is kept for the next try, the rows waiting stay bounded
// (past the bound they are dropped and counted), reads work, and commits
// resume when space returns.
func TestFullDiskRetriesAndResumes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPending = 40 // results up to 50
	cfg.FlushInterval = time.Hour
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	record := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := s.WriteAttempt(padded(att("192.0.2.1", uint16(i), time.Duration(i)*time.Second), 3000)); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	count := func() (n int) {
		t.Helper()
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	record(0, 5)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.DB().QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	record(5, 10)
	if err := s.Sync(); err == nil {
		t.Fatal("commit past the page limit succeeded")
	}
	if !s.out.Failing() || s.Flush() != nil {
		t.Errorf("failing %v, Flush %v: want failing, and no error for the agent", s.out.Failing(), s.Flush())
	}
	// Still taking rows, within the bound; reads see what is committed.
	record(15, 45)
	if d := s.Stats().Dropped; d != 5 {
		t.Errorf("dropped %d, want 5 (55 waiting, bound 50)", d)
	}
	if n := count(); n != 5 {
		t.Errorf("%d attempts readable while failing, want 5", n)
	}
	if _, err := s.DB().Exec("PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if n := count(); n != 55 || s.out.Failing() {
		t.Errorf("%d attempts after resuming (want 55), failing %v", n, s.out.Failing())
	}
	record(60, 1)
	if err := s.Sync(); err != nil || count() != 56 {
		t.Errorf("after resuming: %v, %d attempts", err, count())
	}
}
