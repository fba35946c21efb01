package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// requireRoot skips a test that mounts file systems, or fails it under CI.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root to mount a tmpfs (CI=true: failing instead of skipping)")
	}
	t.Skip("skipping: needs root to mount a tmpfs")
}

// mountTmpfs mounts a tmpfs with opts (unmounted at cleanup).
func mountTmpfs(t *testing.T, flags uintptr, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, opts); err != nil {
		t.Fatalf("mounting a tmpfs (%s): %v", opts, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes a file in dir until the file system is full and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			return f.Name()
		}
	}
}

// An --db that cannot be created names the path and why, not SQLite's
// "unable to open database file (14)", also when a full disk would only
// delay the open (RetryOpen): these are not about space.
func TestOpenExplainsUnwritableDir(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RetryOpen = true
	missing := filepath.Join(t.TempDir(), "gone")
	_, err := Open(filepath.Join(missing, "mxsensor.db"), cfg)
	if err == nil || !strings.Contains(err.Error(), "directory "+missing+" does not exist") {
		t.Errorf("missing directory: %v", err)
	}

	requireRoot(t)
	ro := mountTmpfs(t, unix.MS_RDONLY, "size=64k")
	path := filepath.Join(ro, "mxsensor.db")
	_, err = Open(path, cfg)
	want := "store " + path + ": directory " + ro + " is not writable (read-only file system)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("read-only directory: %v, want %q", err, want)
	}
}

// A corrupt file and a newer schema fail Open with RetryOpen too; a corrupt
// file even on a full file system (on which the schema version cannot be
// read: that store waits for space, and then fails to open, warning).
func TestOpenFaultsNotAboutSpace(t *testing.T) {
	requireRoot(t)
	dir := mountTmpfs(t, 0, "size=512k")
	cfg := DefaultConfig()
	cfg.RetryOpen = true
	newer := filepath.Join(dir, "newer.db")
	s, err := Open(newer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(newer, cfg); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a database\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, full := range []bool{false, true} {
		if full {
			fill(t, dir)
		}
		if _, err := Open(corrupt, cfg); err == nil || !strings.Contains(err.Error(), "not a database") {
			t.Errorf("corrupt file (disk full %v): %v", full, err)
		}
	}
}

// TestOpenOnFullDisk: with RetryOpen, a file system too full to create the
// database on gives an unopened store that reads as empty, drops and
// counts SYN rows (and results past its bound), warns naming the path and
// the cause, and opens by itself once space returns: the results that
// waited are committed, and new rows after them.
func TestOpenOnFullDisk(t *testing.T) {
	requireRoot(t)
	dir := mountTmpfs(t, 0, "size=512k")
	filler := fill(t, dir)
	core, logs := observer.New(zap.WarnLevel)
	cfg := DefaultConfig()
	cfg.RetryOpen, cfg.OpenRetry, cfg.MaxPending, cfg.Log = true, 10*time.Millisecond, 8, zap.New(core) // results up to 10
	path := filepath.Join(dir, "m.db")
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer s.Close()
	if s.OpenError() == nil {
		t.Fatal("the store opened on a full disk")
	}
	warned := false
	for _, e := range logs.FilterField(zap.String("path", path)).All() {
		if err, ok := e.ContextMap()["error"].(string); ok && strings.Contains(err, "file system is full") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning naming %s and the full file system: %v", path, logs.All())
	}

	if evs, _, err := s.Journal(t0); len(evs) != 0 || err != nil {
		t.Errorf("journal while unopened: %d events, %v", len(evs), err)
	}
	if _, ok, err := s.JournalStart(); ok || err != nil {
		t.Errorf("journal start while unopened: %v %v", ok, err)
	}
	if _, ok, err := s.Position("/var/log/mail.log"); ok || err != nil {
		t.Errorf("position while unopened: %v %v", ok, err)
	}
	if err := s.Enrichments(t0, func([]byte) { t.Error("an enrichment while unopened") }); err != nil {
		t.Error(err)
	}

	ev := synevent.Event{Time: time.Now(), Src: netip.MustParseAddr("192.0.2.1"), SrcPort: 1, DstPort: 25}
	for range 3 {
		if err := s.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.Stats().Dropped; d != 3 {
		t.Errorf("dropped %d after 3 SYNs, want 3", d)
	}
	for i := range 12 {
		if err := s.WriteAttempt(att("192.0.2.1", uint16(i), time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.Stats().Dropped; d != 5 {
		t.Errorf("dropped %d after 12 attempts, want 5 (10 wait)", d)
	}
	failing := false
	s.Outputs(func(_ string, _ uint64, f bool) { failing = f })
	if !failing || s.Flush() != nil {
		t.Errorf("failing %v, Flush %v: want failing, and no error for the agent", failing, s.Flush())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.OpenError() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not open once space returned: %v", s.OpenError())
		}
		time.Sleep(10 * time.Millisecond)
	}
	count := func() (n int) {
		t.Helper()
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.Sync(); err != nil || count() != 10 {
		t.Errorf("after opening: %v, %d attempts (want the 10 that waited)", err, count())
	}
	if err := s.WriteAttempt(att("192.0.2.1", 100, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil || count() != 11 {
		t.Errorf("a new row: %v, %d attempts", err, count())
	}
	s.Outputs(func(_ string, _ uint64, f bool) { failing = f })
	if failing || s.Stats().Dropped != 5 {
		t.Errorf("failing %v, dropped %d after opening", failing, s.Stats().Dropped)
	}
}

// backlogOnFullDisk opens a store in dir, fills the file system, has
// write add n rows, then frees the space and lets the store catch up (it
// keeps what fits). The store is closed at the test's end.
func backlogOnFullDisk(t *testing.T, dir string, n int, write func(*Store, int)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FlushInterval = time.Hour
	s, err := Open(filepath.Join(dir, "m.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	filler := fill(t, dir)
	for i := range n {
		write(s, i)
	}
	if err := s.Sync(); err == nil {
		t.Fatal("a commit on a full disk succeeded")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the retry, then the rest
		_ = s.Sync()
	}
	return s
}

// Rows that waited while the disk was full and that do not fit in the
// space that came back are dropped (journal first, then the latest
// results), counted, and the store leaves its reserve free: it does not
// fill the disk again, and it works on.
func TestBacklogFitsSpaceThatReturns(t *testing.T) {
	requireRoot(t)
	dir := mountTmpfs(t, 0, "size=1m")
	const n = 3000 // ~1.7 MB on disk: more than the file system
	s := backlogOnFullDisk(t, dir, n, func(s *Store, i int) {
		if err := s.WriteAttempt(padded(att("192.0.2.1", uint16(i), time.Duration(i)*time.Second), 400)); err != nil {
			t.Fatal(err)
		}
	})
	var committed int
	if err := s.DB().QueryRow("SELECT COUNT(*) FROM attempts").Scan(&committed); err != nil {
		t.Fatal(err)
	}
	free, size, _ := fsSpace(dir)
	st := s.Stats()
	t.Logf("committed %d of %d rows, dropped %d; %d KiB free of %d", committed, n, st.Dropped, free>>10, size>>10)
	if s.out.Failing() || committed == 0 || committed+int(st.Dropped) != n {
		t.Errorf("failing %v, %d committed, %d dropped: want working, every row committed or dropped", s.out.Failing(), committed, st.Dropped)
	}
	if free < reserve(size) {
		t.Errorf("%d bytes free after catching up, want at least the reserve, %d", free, reserve(size))
	}
	if err := s.WriteAttempt(att("192.0.2.2", 1, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Errorf("a new row after catching up: %v", err)
	}
}

// Many small commits on a small file system: SQLite would let the WAL grow
// to 4 MB before checkpointing it; the store keeps it within the space
// free, so the commits go on succeeding and the disk keeps room.
func TestWALKeptWithinSpace(t *testing.T) {
	requireRoot(t)
	dir := mountTmpfs(t, 0, "size=1m")
	s, err := Open(filepath.Join(dir, "m.db"), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 400 {
		ev := synevent.Event{Time: t0.Add(time.Duration(i) * time.Second), Src: netip.MustParseAddr("192.0.2.1"), SrcPort: uint16(i), DstPort: 25}
		if err := s.Write(&ev); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteAttempt(att("192.0.2.1", uint16(i), time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	wal, err := os.Stat(filepath.Join(dir, "m.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	free, size, _ := fsSpace(dir)
	t.Logf("WAL %d KiB, %d KiB free of %d", wal.Size()>>10, free>>10, size>>10)
	if free < reserve(size) || s.Stats().Dropped != 0 {
		t.Errorf("%d bytes free (reserve %d), %d rows dropped", free, reserve(size), s.Stats().Dropped)
	}
}

// Outbox messages waiting for a commit on a full disk that the store gives
// up (trimmed to fit the space that came back, or dropped by Close) are no
// longer queued and are counted as dropped: a publisher waiting for the
// outbox to empty would otherwise wait for ever.
func TestOutboxRowsLostOnFullDisk(t *testing.T) {
	requireRoot(t)
	dir := mountTmpfs(t, 0, "size=1m")
	const n = 3000 // ~1.5 MB: more than the file system
	s := backlogOnFullDisk(t, dir, n, func(s *Store, i int) { enqueue(t, s, "attempts", i, 400) })
	st := s.OutboxStats()
	t.Logf("trimmed: %+v", st)
	if st.Queued != 0 || st.Dropped["attempts"] == 0 || st.Rows+int64(st.Dropped["attempts"]) != n {
		t.Errorf("after catching up: %+v, want nothing queued, %d rows committed or dropped", st, n)
	}
	fill(t, dir)
	for i := n; i < n+10; i++ {
		enqueue(t, s, "attempts", i, 400)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := s.OutboxStats()
	if st2.Queued != 0 || st2.Dropped["attempts"] != st.Dropped["attempts"]+10 {
		t.Errorf("closed on a full disk: %+v, want nothing queued and 10 more dropped", st2)
	}
}
