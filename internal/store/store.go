// Package store keeps a sensor's measurement in an embedded SQLite database
// (pure Go, modernc.org/sqlite) so that it survives restarts and runs for
// months: attempts, associations, a short journal of raw SYN events to
// replay after a crash, sampled SYN events, DNSBL rejections, and schema
// migrations and retention around them.
//
// Durability: the database is in WAL mode with synchronous=NORMAL, and rows
// are written in batched transactions at least every Config.FlushInterval
// (1 s). A killed process loses at most the rows of the open batch; the
// database itself is never left corrupt (SQLite's WAL guarantees that), and
// unique keys make a replay after a restart insert nothing twice.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/mxsensor/mxsensor/internal/linefile"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Config configures a Store.
type Config struct {
	// FlushInterval bounds how long a row waits before it is committed:
	// the most a kill -9 loses.
	FlushInterval time.Duration
	// BatchRows commits early when this many rows wait.
	BatchRows int
	// Journal is how long raw SYN events are kept for replay after a
	// restart; it must cover the attempt window plus the association
	// horizon. 0 disables the journal.
	Journal time.Duration
	// SampleSYNs keeps one SYN event in SampleSYNs for the long term (0:
	// none, 1: all).
	SampleSYNs int
	// Retention deletes attempts, associations, sampled SYN events and
	// rejections older than this (0: keep everything).
	Retention time.Duration
	// MaxPending bounds the rows waiting for a commit (a slow or full
	// disk): past it journal and sampled SYN rows are dropped, and past a
	// quarter more, every row (counted). 0 is DefaultMaxPending.
	MaxPending int
	// Retry is how often a failed commit (a full disk) is tried again;
	// rows keep queueing, within MaxPending, meanwhile. 0 is 1 s.
	Retry time.Duration
	// RetryOpen: a file system too full to open or create the database
	// on does not fail Open. The store starts unopened, drops and counts
	// the journal and sampled SYN rows, queues the others (within
	// MaxPending), reads as empty, and its committer tries to open it
	// again every OpenRetry. Other open errors fail Open all the same.
	RetryOpen bool
	// OpenRetry is how often an unopened store tries again. 0 is 2 s.
	OpenRetry time.Duration
	// CreateDir creates the database's directory when missing (on each
	// try: on a full disk creating it may fail too).
	CreateDir bool
	// Outbox bounds the publisher's outbox (see Enqueue).
	Outbox OutboxConfig
	// Log gets the warnings of a failing store (nil: none).
	Log *zap.Logger
}

// DefaultConfig: commit every second, a 2-minute journal, no SYN sampling,
// a 400-day retention.
func DefaultConfig() Config {
	return Config{FlushInterval: time.Second, BatchRows: 10000, Journal: 2 * time.Minute, Retention: 400 * 24 * time.Hour, OpenRetry: 2 * time.Second}
}

// Stats are the store's counters, safe to read from any goroutine.
type Stats struct {
	Batches, Rows, Errors uint64
	// Dropped counts rows dropped because the database fell behind or
	// failed (Config.MaxPending rows waiting): journal and sampled SYN rows
	// first, results past a quarter more. The SYN path never waits for the
	// disk.
	Dropped    uint64
	LastCommit time.Duration // how long the last commit took
}

// Store is an open database.
type Store struct {
	cfg  Config
	dbp  atomic.Pointer[sql.DB] // nil while unopened (Config.RetryOpen)
	path string
	log  *zap.Logger

	mu       sync.Mutex // guards pending, spare, inflight, err, openErr, out
	pending  []row
	spare    []row // the other buffer: rows are swapped out, then committed
	inflight int   // rows of the commit under way (they count against the bound)
	err      error // ErrClosed once closed; commit errors are in out
	openErr  error // why the database is not open yet (nil once open)
	out      *linefile.Drops
	nsyn     uint64
	jbuf     []byte // Write's JSON buffer
	rbuf     []byte // WriteAttempt's and WriteAssociation's (the pipeline's goroutine)

	ob       outboxState
	trimmed  uint64    // rows room dropped since its last warning
	trimWarn time.Time // room's last warning

	commitMu sync.Mutex    // one commit at a time, outside mu
	kick     chan struct{} // asks the committer to commit now

	batches, rows, errs atomic.Uint64
	lastCommit          atomic.Int64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// row is one pending insert.
type row struct {
	kind uint8
	t    int64
	a, b string // src, and the line or record
	x, y int64  // sport / family / flags
}

const (
	rowAttempt = iota
	rowAssociation
	rowJournal
	rowSYN
	rowRejection
	rowPosition
	rowEnrich
	rowOutbox
)

// ErrClosed is returned by writes to a closed Store.
var ErrClosed = errors.New("store closed")

// Open opens (creating if needed) the database at path, migrates its
// schema, and starts the committer. With Config.RetryOpen, a file system
// too full for that returns an unopened store that opens later.
func Open(path string, cfg Config) (*Store, error) {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 10000
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.OpenRetry <= 0 {
		cfg.OpenRetry = 2 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{cfg: cfg, path: path, log: log, stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1),
		out: linefile.NewDrops("store", cfg.Log, cfg.Retry, 10*time.Second)}
	s.out.SetPath(path)
	if err := s.open(); err != nil {
		if !cfg.RetryOpen || !outOfSpace(path, err) {
			var pe *os.PathError
			if !errors.As(err, &pe) || pe.Op != "mkdir" {
				err = explainOpen(path, err)
			}
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
		s.openErr = fmt.Errorf("store %s: the file system is full: %w", path, err)
		s.out.Fail(s.openErr, 0, time.Now()) // failing, and a warning
	}
	go s.run()
	return s, nil
}

// open opens the database, creating it (and with Config.CreateDir its
// directory) if needed, and migrates its schema. The store uses it once it
// all succeeded.
func (s *Store) open() error {
	if s.cfg.CreateDir {
		if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
			return err
		}
	}
	dsn := "file:" + s.path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(on)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	// One connection: SQLite allows one writer, and the readers (report)
	// open their own Store.
	db.SetMaxOpenConns(1)
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		return err
	}
	if err := s.loadOutbox(db); err != nil {
		db.Close()
		return err
	}
	s.dbp.Store(db)
	return nil
}

// reopen tries to open an unopened store (in the committer). The rows
// that waited are committed next, as after a failed commit: within the
// space that came back (room).
func (s *Store) reopen(now time.Time) bool {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	err := s.open()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.openErr = fmt.Errorf("store %s: %w", s.path, err)
		s.out.Fail(s.openErr, 0, now) // a warning at most every 10 s
		return false
	}
	s.openErr = nil
	s.log.Info("store opened", zap.String("path", s.path), zap.Int("rows_waiting", len(s.pending)))
	return true
}

// conn is the database, nil while unopened.
func (s *Store) conn() *sql.DB { return s.dbp.Load() }

// OpenError says why the database is not open yet (Config.RetryOpen on a
// full disk); nil once it is.
func (s *Store) OpenError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openErr
}

// unopened says whether the database is not open yet; a read at start
// then finds nothing stored, and says so.
func (s *Store) unopened(what string) bool {
	if s.conn() != nil {
		return false
	}
	s.log.Warn("store not open yet: nothing stored is read", zap.String("read", what), zap.String("path", s.path),
		zap.Error(s.OpenError()))
	return true
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB gives read access for tools and tests (nil while unopened).
func (s *Store) DB() *sql.DB { return s.conn() }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Rows: s.rows.Load(), Errors: s.errs.Load(), Dropped: s.out.Dropped(),
		LastCommit: time.Duration(s.lastCommit.Load())}
}

// Outputs reports the store's drops and whether its commits fail (for
// the metrics).
func (s *Store) Outputs(fn func(name string, dropped uint64, failing bool)) {
	fn("store", s.out.Dropped(), s.out.Failing())
}

// retryChunk is the most rows a commit takes while the store is failing.
const retryChunk = 256

// reserve is the space the store leaves free on its file system for the
// other outputs (and the WAL's checkpoint): a sixteenth of it, between
// 64 KiB and 16 MiB.
func reserve(size uint64) uint64 { return min(max(size/16, 64<<10), 16<<20) }

// rowCost estimates what a row takes on disk: its text, once in the WAL and
// once in the database, and its keys in the indexes; commitCost what a
// commit takes besides (the WAL frames of the pages it changes).
func rowCost(r row) uint64 { return 2*uint64(len(r.a)+len(r.b)) + 128 }

const commitCost = 32 << 10

// room decides whether to commit the pending rows now, given the space
// left on the file system, and trims them to it (under mu). With less than
// the reserve free no commit is tried: it would only fill the disk (the WAL
// grows before the commit fails, and a full disk then cannot checkpoint
// it back: every output would fail until someone frees space) and take
// the space the other outputs need. The store then fails as on a full disk
// (it drops the journal and sampled SYN rows, keeps the results within
// MaxPending) and tries again every Retry. Above the reserve, the rows may
// take half of what is free beyond it (the estimates are rough): that
// matters after a failure, when the rows that waited may be more than the
// space that came back. Journal and sampled SYN rows are dropped first,
// then the latest results (rows keep their order, so a reject-log position
// never gets ahead of its rejections), counted and logged. Where statfs
// does not tell (a quota), every commit is tried.
func (s *Store) room(now time.Time) bool {
	free, size, ok := fsSpace(filepath.Dir(s.path))
	if !ok {
		return true
	}
	res := reserve(size) + commitCost
	if free < res {
		err := fmt.Errorf("store %s: the file system is nearly full: %d bytes free, the store leaves %d to the other outputs", s.path, free, res)
		n := uint64(0)
		if !s.out.Failing() {
			n = s.dropSYNs()
		}
		s.out.Fail(err, n, now)
		return false
	}
	budget, total := (free-res)/2, uint64(0)
	for _, r := range s.pending {
		total += rowCost(r)
	}
	if total <= budget {
		return true
	}
	n, used, full := len(s.pending), uint64(0), false
	kept := s.pending[:0]
	for _, r := range s.pending {
		if r.kind == rowJournal || r.kind == rowSYN {
			continue
		}
		if used += rowCost(r); full || used > budget {
			full = true
			s.outboxLost(r)
			continue
		}
		kept = append(kept, r)
	}
	clear(s.pending[len(kept):n])
	s.pending = kept
	s.out.Drop(uint64(n-len(kept)), now)
	if s.trimmed += uint64(n - len(kept)); s.trimWarn.IsZero() || now.Sub(s.trimWarn) >= 10*time.Second {
		s.log.Warn("store: the rows waiting do not fit in the space free: dropped the journal's and the latest",
			zap.String("path", s.path), zap.Uint64("dropped", s.trimmed), zap.Int("kept", len(kept)), zap.Uint64("free_bytes", free),
			zap.Uint64("reserve_bytes", res))
		s.trimmed, s.trimWarn = 0, now
	}
	return len(kept) > 0
}

// dropSYNs drops the journal and sampled SYN rows waiting (under mu) and
// returns how many.
func (s *Store) dropSYNs() uint64 {
	kept := s.pending[:0]
	for _, r := range s.pending {
		if r.kind != rowJournal && r.kind != rowSYN {
			kept = append(kept, r)
		}
	}
	n := len(s.pending) - len(kept)
	clear(s.pending[len(kept):])
	s.pending = kept
	return uint64(n)
}

// DefaultMaxPending bounds the rows waiting for a commit. Past it, journal
// and sampled SYN rows are dropped and counted; results past a quarter
// more.
const DefaultMaxPending = 200000

// add queues a row; the committer writes it. It never waits for the disk.
func (s *Store) add(r row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.queue(r)
	return nil
}

// queue queues a row (under mu), or drops and counts it when the rows
// waiting are past the bound; it says which.
func (s *Store) queue(r row) bool {
	held, limit := len(s.pending)+s.inflight, s.cfg.MaxPending
	if r.kind != rowJournal && r.kind != rowSYN {
		limit += limit / 4 // results keep room when the journal fills the queue
	}
	if held >= limit || (s.openErr != nil && (r.kind == rowJournal || r.kind == rowSYN)) {
		// Unopened: no journal to keep the SYNs in, and the memory is
		// better spent on the results.
		s.out.Drop(1, time.Now())
		return false
	}
	s.pending = append(s.pending, r)
	if len(s.pending) >= s.cfg.BatchRows {
		s.signal()
	}
	return true
}

// signal asks the committer to commit soon.
func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// WriteAttempt implements pipeline.ResultSink: the attempt's line, and
// the columns its key and the retention read. An attempt a replay after a
// restart writes again is not inserted twice (a unique key).
func (s *Store) WriteAttempt(a *record.Attempt) error {
	bl := int64(0)
	if a.Blocklisted {
		bl = 1
	}
	s.rbuf = a.AppendJSON(s.rbuf[:0])
	return s.add(row{kind: rowAttempt, t: a.FirstSeen.UnixNano(), a: a.Src.String(), b: string(trimNL(s.rbuf)),
		x: int64(a.SrcPort), y: int64(a.Family)<<1 | bl})
}

// WriteAssociation implements pipeline.ResultSink, as WriteAttempt.
func (s *Store) WriteAssociation(as *record.Association) error {
	sp := int64(0)
	if as.Spammer {
		sp = 1
	}
	s.rbuf = as.AppendJSON(s.rbuf[:0])
	return s.add(row{kind: rowAssociation, t: as.FirstSeen.UnixNano(), a: as.Src.String(), b: string(trimNL(s.rbuf)),
		x: int64(as.SrcPort), y: sp})
}

// RecordRejection stores a DNSBL rejection of ip at t (duplicates ignored).
func (s *Store) RecordRejection(ip netip.Addr, t time.Time, zone string) error {
	return s.add(row{kind: rowRejection, t: t.UnixNano(), a: ip.String(), b: zone})
}

// RecordPosition stores how far a reject log has been read (state is the
// follower's position, JSON). It is committed in the same transaction as the
// rejections recorded before it, so a restart neither skips nor repeats.
func (s *Store) RecordPosition(file, state string) error {
	return s.add(row{kind: rowPosition, a: file, b: state})
}

// RecordEnrichment keeps what enrichment found about ip (a JSON line).
func (s *Store) RecordEnrichment(ip netip.Addr, t time.Time, line []byte) error {
	return s.add(row{kind: rowEnrich, t: t.UnixNano(), a: ip.String(), b: string(trimNL(line))})
}

// Enrichments calls fn with every enrichment result kept since t.
func (s *Store) Enrichments(since time.Time, fn func(line []byte)) error {
	_ = s.commitNow(false) // a failing disk: read what is committed
	if s.unopened("enrichments") {
		return nil
	}
	rows, err := s.conn().Query("SELECT result FROM enrich_cache WHERE t >= ?", since.UnixNano())
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return err
		}
		fn([]byte(r))
	}
	return rows.Err()
}

// Position returns the stored read position of a reject log.
func (s *Store) Position(file string) (string, bool, error) {
	_ = s.commitNow(false) // a failing disk: read what is committed
	if s.unopened("reject log position") {
		return "", false, nil
	}
	var st string
	switch err := s.conn().QueryRow("SELECT state FROM reject_positions WHERE file = ?", file).Scan(&st); {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store %s: %w", s.path, err)
	}
	return st, true, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Write implements the agent's sink: the SYN goes to the journal (for a
// replay after a restart) and, one in SampleSYNs, to the long-term table.
func (s *Store) Write(ev *synevent.Event) error {
	if s.cfg.Journal <= 0 && s.cfg.SampleSYNs <= 0 {
		return nil
	}
	// One reused buffer (Write is called from the agent's drain loop only):
	// the row keeps a string of it, the one allocation per SYN.
	s.jbuf = ev.AppendJSON(s.jbuf[:0])
	rec := string(s.jbuf)
	t := ev.Time.UnixNano()
	if s.cfg.Journal > 0 {
		if err := s.add(row{kind: rowJournal, t: t, b: rec}); err != nil {
			return err
		}
	}
	if n := s.cfg.SampleSYNs; n > 0 {
		s.nsyn++
		if s.nsyn%uint64(n) == 0 {
			return s.add(row{kind: rowSYN, t: t, a: ev.Src.String(), b: rec, x: int64(ev.SrcPort)})
		}
	}
	return nil
}

// Flush asks for what is pending to be committed, without waiting (the
// agent calls it from its drain loop). It fails only on a closed store: a
// failing disk is retried by the committer, and what it drops is counted.
// Reads commit first on their own.
func (s *Store) Flush() error {
	s.signal()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Sync commits what is pending and waits for it.
func (s *Store) Sync() error { return s.commitNow(true) }

// Close commits what is pending, stops the committer and closes the
// database.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	// A last try; on a disk still full the rows are lost, counted and logged
	// (the agent stops cleanly all the same).
	err := s.commitNow(true)
	s.mu.Lock()
	if err != nil {
		s.out.Drop(uint64(len(s.pending)), time.Now())
		for _, r := range s.pending {
			s.outboxLost(r)
		}
		s.pending = nil
	}
	s.out.Closing()
	if s.err == nil {
		s.err = ErrClosed // whoever still writes gets an error, not a panic
	}
	s.mu.Unlock()
	if db := s.conn(); db != nil {
		return db.Close()
	}
	return nil
}

// run commits every FlushInterval and applies retention every hour.
func (s *Store) run() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	var reopen <-chan time.Time // while unopened
	if s.conn() == nil {
		t := time.NewTicker(s.cfg.OpenRetry)
		defer t.Stop()
		reopen = t.C
	}
	lastRetention := time.Time{}
	for {
		select {
		case <-s.stop:
			return
		case now := <-reopen:
			if s.reopen(now) {
				reopen = nil
				s.signal()
			}
		case <-s.kick:
			_ = s.commitNow(false)
		case now := <-tick.C:
			_ = s.commitNow(false)
			if now.Sub(lastRetention) >= time.Hour {
				lastRetention = now
				_ = s.Expire(now)
			}
		}
	}
}

var insertSQL = [...]string{
	rowAttempt:     "INSERT OR IGNORE INTO attempts (first_seen, src, sport, family, blocklisted, line) VALUES (?, ?, ?, ?, ?, ?)",
	rowAssociation: "INSERT OR IGNORE INTO associations (first_seen, src, sport, spammer, line) VALUES (?, ?, ?, ?, ?)",
	rowJournal:     "INSERT INTO journal (t, rec) VALUES (?, ?)",
	rowSYN:         "INSERT INTO syn_events (t, src, sport, rec) VALUES (?, ?, ?, ?)",
	rowRejection:   "INSERT OR IGNORE INTO rejections (t, ip, zone) VALUES (?, ?, ?)",
	rowPosition:    "INSERT OR REPLACE INTO reject_positions (file, state) VALUES (?, ?)",
	rowEnrich:      "INSERT OR REPLACE INTO enrich_cache (ip, t, result) VALUES (?, ?, ?)",
	rowOutbox:      "INSERT OR IGNORE INTO outbox (kind, msg_id, subject, body, t) VALUES (?, ?, ?, ?, ?)",
}

// commitNow writes the pending rows in one transaction and prunes the
// journal. Writers keep adding to the other buffer meanwhile. A commit that
// fails (SQLITE_FULL) keeps its rows for the next try, which comes at most
// once per Config.Retry unless force is set, and only once the file system
// has space again (see room).
func (s *Store) commitNow(force bool) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	if s.err != nil || len(s.pending) == 0 {
		err := s.err
		s.mu.Unlock()
		return err
	}
	if s.openErr != nil {
		err := s.openErr
		s.mu.Unlock()
		return err
	}
	now := time.Now()
	if !s.out.Due(now) && !force {
		err := s.out.Err()
		s.mu.Unlock()
		return err
	}
	if !s.room(now) {
		err := s.out.Err()
		s.mu.Unlock()
		// The WAL may be what fills the disk: give it back if it can be.
		_, _ = s.conn().Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		return err
	}
	failing := s.out.Failing()
	batch := s.pending
	if failing && len(batch) > retryChunk {
		// A disk that was full takes one small transaction first: a try
		// that fails again grows the WAL by little, and the other outputs
		// get their share of the space that came back.
		rest := append(s.spare[:0], batch[retryChunk:]...)
		clear(batch[retryChunk:])
		batch, s.pending = batch[:retryChunk], rest
	} else {
		s.pending = s.spare[:0]
	}
	s.spare = nil
	s.inflight = len(batch)
	obBytes := s.ob.bytes
	s.mu.Unlock()

	start := time.Now()
	db := s.conn()
	evicted, err := s.commit(db, batch, obBytes)
	if err != nil || failing || s.walCrowds() {
		// Give the space a failed transaction took in the WAL back (when
		// the checkpoint can run).
		_, _ = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
	s.outboxCommitted(err == nil, evicted, time.Now())
	if err != nil {
		s.errs.Add(1)
		err = fmt.Errorf("store %s: %w", s.path, err)
		// The failed batch goes first again (rows stay in their order),
		// without its journal and sampled SYN rows: they are most of it,
		// and worth least.
		kept := batch[:0]
		for _, r := range batch {
			if r.kind != rowJournal && r.kind != rowSYN {
				kept = append(kept, r)
			}
		}
		clear(batch[len(kept):])
		s.pending = append(kept, s.pending...)
		s.out.Fail(err, uint64(len(batch)-len(kept)), time.Now())
		return err
	}
	clear(batch) // drop the strings
	s.spare = batch[:0]
	s.out.Resume()
	s.batches.Add(1)
	s.rows.Add(uint64(len(batch)))
	s.lastCommit.Store(int64(time.Since(start)))
	return nil
}

// walCrowds says whether the WAL takes more than half the space left on its
// file system. SQLite lets it grow to 1000 pages (4 MB) before it
// checkpoints, and then keeps the file at its size: on a small or nearly
// full disk that is the space the other outputs (and the checkpoint, which
// may grow the database) need. Truncating it then keeps it within what is
// free.
func (s *Store) walCrowds() bool {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil || fi.Size() == 0 {
		return false
	}
	free, _, ok := fsSpace(filepath.Dir(s.path))
	return ok && uint64(fi.Size()) > free/2
}

// commit writes rows in one transaction; obBytes is the outbox's size
// before it, and evicted what it gave up of the outbox to stay within its
// bound.
func (s *Store) commit(db *sql.DB, rows []row, obBytes int64) (evicted map[string]uint64, err error) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var stmts [len(insertSQL)]*sql.Stmt
	latest := int64(0)
	for _, r := range rows {
		st := stmts[r.kind]
		if st == nil {
			if st, err = tx.PrepareContext(ctx, insertSQL[r.kind]); err != nil {
				return nil, err
			}
			stmts[r.kind] = st
		}
		switch r.kind {
		case rowAttempt:
			_, err = st.ExecContext(ctx, r.t, r.a, r.x, r.y>>1, r.y&1, r.b)
		case rowAssociation:
			_, err = st.ExecContext(ctx, r.t, r.a, r.x, r.y, r.b)
		case rowJournal:
			_, err = st.ExecContext(ctx, r.t, r.b)
			latest = max(latest, r.t)
		case rowSYN:
			_, err = st.ExecContext(ctx, r.t, r.a, r.x, r.b)
		case rowRejection:
			_, err = st.ExecContext(ctx, r.t, r.a, r.b)
		case rowPosition:
			_, err = st.ExecContext(ctx, r.a, r.b)
		case rowEnrich:
			_, err = st.ExecContext(ctx, r.a, r.t, r.b)
		case rowOutbox:
			err = s.insertOutbox(ctx, st, r)
		}
		if err != nil {
			return nil, err
		}
	}
	if latest > 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM journal WHERE t < ?", latest-int64(s.cfg.Journal)); err != nil {
			return nil, err
		}
	}
	if evicted, err = s.evictOutbox(ctx, tx, obBytes); err != nil {
		return nil, err
	}
	return evicted, tx.Commit()
}

// Expire deletes what is older than the retention. Measurements count back
// from the newest attempt stored (the newest rejection if there is no
// attempt yet), or from now if that is earlier: an analysis of a capture
// years old keeps its results (counted from now they would all go at the
// first tick), and a record dated ahead of the clock cannot make the store
// delete more than now would. Attempts come first because their times are
// the capture's own; a reject log's yearless lines are dated by inference.
// In a store that mixes old and new measurements (a collector given an old
// capture's results) the old ones go. The enrichment cache holds lookups,
// not measurements: it counts from now.
func (s *Store) Expire(now time.Time) error {
	if s.cfg.Retention <= 0 {
		return nil
	}
	if err := s.commitNow(false); err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	db := s.conn()
	if db == nil {
		return nil
	}
	ref := now
	newest, err := newestMeasurement(db)
	if err != nil {
		return fmt.Errorf("store: retention: %w", err)
	}
	if newest > 0 && newest < now.UnixNano() {
		ref = time.Unix(0, newest)
	}
	cut := ref.Add(-s.cfg.Retention).UnixNano()
	for _, q := range []struct {
		table, col string
		cut        int64
	}{
		{"attempts", "first_seen", cut}, {"associations", "first_seen", cut},
		{"syn_events", "t", cut}, {"rejections", "t", cut},
		{"enrich_cache", "t", now.Add(-s.cfg.Retention).UnixNano()},
	} {
		if _, err := db.Exec("DELETE FROM "+q.table+" WHERE "+q.col+" < ?", q.cut); err != nil {
			return fmt.Errorf("store: retention: %w", err)
		}
	}
	return nil
}

// LastSYN is the time of the latest SYN event the store kept (sampled or
// journaled); ok is false when there is none.
func (s *Store) LastSYN() (t time.Time, ok bool, err error) {
	_ = s.commitNow(false) // a failing disk: read what is committed
	db := s.conn()
	if db == nil {
		return t, false, s.OpenError()
	}
	var ns sql.NullInt64
	if err := db.QueryRow("SELECT MAX(m) FROM (SELECT MAX(t) AS m FROM syn_events UNION ALL SELECT MAX(t) FROM journal)").Scan(&ns); err != nil {
		return t, false, fmt.Errorf("store %s: %w", s.path, err)
	}
	if !ns.Valid {
		return t, false, nil
	}
	return time.Unix(0, ns.Int64), true, nil
}

// newestMeasurement is the time (Unix ns) of the newest attempt, or of the
// newest rejection if there is no attempt; 0 if there is neither. (The
// attempts' time is indexed; the rejections are scanned only while there
// is no attempt, so they need no index of their own, and the schema stays
// one older builds open.)
func newestMeasurement(db *sql.DB) (int64, error) {
	var t sql.NullInt64
	if err := db.QueryRow("SELECT MAX(first_seen) FROM attempts").Scan(&t); err != nil {
		return 0, err
	}
	if t.Valid {
		return t.Int64, nil
	}
	if err := db.QueryRow("SELECT MAX(t) FROM rejections").Scan(&t); err != nil {
		return 0, err
	}
	return t.Int64, nil
}

// Journal returns the journaled SYN events at or after since, in time
// order, and how many records it skipped because they did not parse.
func (s *Store) Journal(since time.Time) ([]synevent.Event, int, error) {
	_ = s.commitNow(false) // a failing disk: read what is committed
	if s.unopened("journal") {
		return nil, 0, nil
	}
	rows, err := s.conn().Query("SELECT rec FROM journal WHERE t >= ? ORDER BY t, seq", since.UnixNano())
	if err != nil {
		return nil, 0, fmt.Errorf("store: journal: %w", err)
	}
	defer rows.Close()
	var out []synevent.Event
	skipped := 0
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, skipped, err
		}
		var ev synevent.Event
		if err := ev.UnmarshalJSON([]byte(rec)); err != nil {
			skipped++ // a record this version cannot read
			continue
		}
		out = append(out, ev)
	}
	return out, skipped, rows.Err()
}

// SYNEvents calls fn with every sampled SYN event kept, in time order.
// Records this version cannot read are skipped and counted.
func (s *Store) SYNEvents(fn func(*synevent.Event) error) (skipped int, err error) {
	_ = s.commitNow(false) // a failing disk: read what is committed
	db := s.conn()
	if db == nil {
		return 0, s.OpenError()
	}
	rows, err := db.Query("SELECT rec FROM syn_events ORDER BY t, rowid")
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", s.path, err)
	}
	defer rows.Close()
	var ev synevent.Event
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return skipped, err
		}
		ev = synevent.Event{}
		if err := ev.UnmarshalJSON([]byte(rec)); err != nil {
			skipped++
			continue
		}
		if err := fn(&ev); err != nil {
			return skipped, err
		}
	}
	return skipped, rows.Err()
}

// Open implements results.Source: the rows of attempts.jsonl or
// associations.jsonl, as JSON lines in insertion order.
func (s *Store) Open(name string) (io.ReadCloser, error) { return s.openLines(name, "") }

// openLines returns the lines of name's table, in insertion order, those
// of one sensor when where is "sensor = ?" (args its id), or all.
func (s *Store) openLines(name, where string, args ...any) (io.ReadCloser, error) {
	var table string
	switch name {
	case record.AttemptsFile:
		table = "attempts"
	case record.AssociationsFile:
		table = "associations"
	default:
		return nil, fmt.Errorf("store: no table for %s", name)
	}
	_ = s.commitNow(false) // a failing disk: read what is committed
	db := s.conn()
	if db == nil {
		return nil, s.OpenError()
	}
	q := "SELECT line FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := db.Query(q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	pr, pw := io.Pipe()
	go func() {
		defer rows.Close()
		buf := make([]byte, 0, 1024)
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				pw.CloseWithError(err)
				return
			}
			buf = append(append(buf[:0], line...), '\n')
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
		pw.CloseWithError(rows.Err())
	}()
	return pr, nil
}

// String names the source in messages.
func (s *Store) String() string { return s.path }

// JournalStart is the time of the oldest journaled SYN (ok false when the
// journal is empty): what a replay after a restart covers.
func (s *Store) JournalStart() (t time.Time, ok bool, err error) {
	if s.unopened("journal start") {
		return time.Time{}, false, nil
	}
	var ns sql.NullInt64
	if err := s.conn().QueryRow("SELECT MIN(t) FROM journal").Scan(&ns); err != nil {
		return time.Time{}, false, fmt.Errorf("store %s: journal: %w", s.path, err)
	}
	if !ns.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, ns.Int64), true, nil
}
