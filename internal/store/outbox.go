package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// OutboxConfig bounds a sensor's outbox: the messages its publisher has
// not yet had acknowledged (a broker outage of hours only grows it).
type OutboxConfig struct {
	// MaxBytes bounds the outbox (0: unbounded). Past it, the kinds of
	// DropFirst are dropped, oldest first, in that order; a message of
	// another kind that does not fit even then is dropped, counted and
	// logged as an error.
	MaxBytes int64
	// DropFirst are the kinds given up first (SYN events, then status).
	DropFirst []string
}

// OutboxMsg is a message of the outbox.
type OutboxMsg struct {
	Seq     int64 // the order of enqueueing
	Kind    string
	MsgID   string
	Subject string
	Body    []byte
}

// OutboxStats are the outbox's counters.
type OutboxStats struct {
	// Rows and Bytes are committed; Queued are rows waiting for the
	// store's next commit.
	Rows, Bytes, Queued int64
	// Dropped counts the messages given up, by kind.
	Dropped map[string]uint64
}

// outboxState is the outbox's bookkeeping, under Store.mu.
type outboxState struct {
	rows, bytes        int64
	kindBytes          map[string]int64 // committed bytes of the DropFirst kinds
	queued, queuedB    int64
	dropped            map[string]uint64
	loud               uint64 // dropped messages not of a DropFirst kind since the last error logged
	loudAt, softAt     time.Time
	soft               uint64           // DropFirst messages dropped since the last warning
	txRows, txBytes    int64            // committed by the transaction under way (commitMu)
	txKind             map[string]int64 // its bytes of DropFirst kinds (commitMu)
	txQueued, txQBytes int64            // the batch's outbox rows (commitMu)
}

// outboxOverhead is what a row costs besides its text (key, kind, time).
const outboxOverhead = 48

func outboxCost(subject, msgID string, body int) int64 {
	return int64(len(subject)+len(msgID)+body) + outboxOverhead
}

// outboxCostSQL computes outboxCost in SQL.
const outboxCostSQL = "length(CAST(body AS BLOB)) + length(subject) + length(msg_id) + 48"

// The row of a message: a = kind, subject and msg id joined by NUL (none
// holds one), b = body.
func packOutbox(kind, subject, msgID string) string { return kind + "\x00" + subject + "\x00" + msgID }

func unpackOutbox(a string) (kind, subject, msgID string) {
	kind, rest, _ := strings.Cut(a, "\x00")
	subject, msgID, _ = strings.Cut(rest, "\x00")
	return kind, subject, msgID
}

func (s *Store) dropFirst(kind string) bool { return slices.Contains(s.cfg.Outbox.DropFirst, kind) }

// SetOutbox sets the outbox's bound, for a store opened before its
// publisher was set up; call it before anything is enqueued.
func (s *Store) SetOutbox(c OutboxConfig) error {
	s.mu.Lock()
	s.cfg.Outbox = c
	s.mu.Unlock()
	if db := s.conn(); db != nil {
		return s.loadOutbox(db) // the sizes of its DropFirst kinds
	}
	return nil
}

// loadOutbox reads the outbox's size (at open: what a previous run left).
func (s *Store) loadOutbox(db *sql.DB) error {
	rows, err := db.Query("SELECT kind, COUNT(*), COALESCE(SUM(" + outboxCostSQL + "), 0) FROM outbox GROUP BY kind")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ob.rows, s.ob.bytes, s.ob.kindBytes = 0, 0, map[string]int64{}
	for rows.Next() {
		var kind string
		var n, b int64
		if err := rows.Scan(&kind, &n, &b); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		s.ob.rows += n
		s.ob.bytes += b
		if s.dropFirst(kind) {
			s.ob.kindBytes[kind] += b
		}
	}
	return rows.Err()
}

// Enqueue queues a message for the outbox: it is committed with the
// store's next batch, never waiting for the disk. A message that does not
// fit (Config.Outbox, or the store's own bound) is dropped and counted by
// kind. The msg id is unique: a message enqueued again while the first is
// still in the outbox is not added twice. It fails only on a closed store.
func (s *Store) Enqueue(kind, subject, msgID string, body []byte) error {
	cost := outboxCost(subject, msgID, len(body))
	r := row{kind: rowOutbox, t: time.Now().UnixNano(), a: packOutbox(kind, subject, msgID), b: string(body)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	now := time.Now()
	if !s.outboxFits(kind, cost) || !s.queue(r) {
		s.outboxDropped(kind, 1, now)
		return nil
	}
	s.ob.queued++
	s.ob.queuedB += cost
	return nil
}

// outboxFits says whether a message of cost bytes fits the bound (under
// mu): with the DropFirst kinds given up for one of another kind.
func (s *Store) outboxFits(kind string, cost int64) bool {
	max := s.cfg.Outbox.MaxBytes
	if max <= 0 {
		return true
	}
	held := s.ob.bytes + s.ob.queuedB + cost
	if held <= max {
		return true
	}
	if s.dropFirst(kind) {
		return false
	}
	for _, b := range s.ob.kindBytes {
		held -= b
	}
	return held <= max
}

// outboxDropped counts n messages of kind given up (under mu) and logs
// it: a warning for the DropFirst kinds, an error for the others, at most
// every 10 s each.
func (s *Store) outboxDropped(kind string, n uint64, now time.Time) {
	if s.ob.dropped == nil {
		s.ob.dropped = map[string]uint64{}
	}
	s.ob.dropped[kind] += n
	if s.dropFirst(kind) {
		if s.ob.soft += n; now.Sub(s.ob.softAt) >= 10*time.Second {
			s.log.Warn("outbox full: dropped the oldest or newest messages of the kinds given up first",
				zap.String("path", s.path), zap.Uint64("dropped", s.ob.soft), zap.Int64("max_bytes", s.cfg.Outbox.MaxBytes))
			s.ob.soft, s.ob.softAt = 0, now
		}
		return
	}
	if s.ob.loud += n; now.Sub(s.ob.loudAt) >= 10*time.Second {
		s.log.Error("outbox full: RESULTS ARE LOST, not published (raise --outbox-size or bring the NATS servers back)",
			zap.String("path", s.path), zap.String("kind", kind), zap.Uint64("dropped", s.ob.loud),
			zap.Int64("max_bytes", s.cfg.Outbox.MaxBytes), zap.Int64("rows", s.ob.rows))
		s.ob.loud, s.ob.loudAt = 0, now
	}
}

// outboxLost accounts for a row the store gave up before its commit (a
// full disk; under mu, and logged by the store): a message of the outbox
// is no longer queued, and is counted as dropped.
func (s *Store) outboxLost(r row) {
	if r.kind != rowOutbox {
		return
	}
	kind, subject, msgID := unpackOutbox(r.a)
	s.ob.queued--
	s.ob.queuedB -= outboxCost(subject, msgID, len(r.b))
	if s.ob.dropped == nil {
		s.ob.dropped = map[string]uint64{}
	}
	s.ob.dropped[kind]++
}

// insertOutbox inserts a message in the commit's transaction and counts it
// (commitMu).
func (s *Store) insertOutbox(ctx context.Context, st *sql.Stmt, r row) error {
	kind, subject, msgID := unpackOutbox(r.a)
	cost := outboxCost(subject, msgID, len(r.b))
	s.ob.txQueued++
	s.ob.txQBytes += cost
	res, err := st.ExecContext(ctx, kind, msgID, subject, []byte(r.b), r.t)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // already in the outbox
	}
	s.ob.txRows++
	s.ob.txBytes += cost
	if s.dropFirst(kind) {
		if s.ob.txKind == nil {
			s.ob.txKind = map[string]int64{}
		}
		s.ob.txKind[kind] += cost
	}
	return nil
}

// evictOutbox deletes the oldest messages of the DropFirst kinds while the
// outbox is past its bound, in the commit's transaction (commitMu).
func (s *Store) evictOutbox(ctx context.Context, tx *sql.Tx, committed int64) (map[string]uint64, error) {
	max := s.cfg.Outbox.MaxBytes
	if max <= 0 || committed+s.ob.txBytes <= max {
		return nil, nil
	}
	evicted := map[string]uint64{}
	if s.ob.txKind == nil {
		s.ob.txKind = map[string]int64{}
	}
	for _, kind := range s.cfg.Outbox.DropFirst {
		for committed+s.ob.txBytes > max {
			n, freed, err := evictOldest(ctx, tx, kind, committed+s.ob.txBytes-max)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				break
			}
			s.ob.txRows -= n
			s.ob.txBytes -= freed
			s.ob.txKind[kind] -= freed // may go negative: committed rows of the kind
			evicted[kind] += uint64(n)
		}
	}
	return evicted, nil
}

// evictOldest deletes the oldest messages of kind that free at least
// excess bytes (at most 256 at a time) and returns how many and what
// they took.
func evictOldest(ctx context.Context, tx *sql.Tx, kind string, excess int64) (n, freed int64, err error) {
	rows, err := tx.QueryContext(ctx, "SELECT seq, "+outboxCostSQL+" FROM outbox WHERE kind = ? ORDER BY seq LIMIT 256", kind)
	if err != nil {
		return 0, 0, err
	}
	last := int64(0)
	for freed < excess && rows.Next() {
		var c int64
		if err := rows.Scan(&last, &c); err != nil {
			rows.Close()
			return 0, 0, err
		}
		n++
		freed += c
	}
	if err := rows.Close(); err != nil || n == 0 {
		return 0, 0, err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM outbox WHERE kind = ? AND seq <= ?", kind, last)
	return n, freed, err
}

// outboxCommitted applies the counts of a commit (under mu): ok says
// whether it was committed.
func (s *Store) outboxCommitted(ok bool, evicted map[string]uint64, now time.Time) {
	if ok {
		s.ob.queued -= s.ob.txQueued
		s.ob.queuedB -= s.ob.txQBytes
		s.ob.rows += s.ob.txRows
		s.ob.bytes += s.ob.txBytes
		for k, b := range s.ob.txKind {
			if s.ob.kindBytes == nil {
				s.ob.kindBytes = map[string]int64{}
			}
			s.ob.kindBytes[k] += b
		}
		for k, n := range evicted {
			s.outboxDropped(k, n, now)
		}
	}
	s.ob.txQueued, s.ob.txQBytes, s.ob.txRows, s.ob.txBytes = 0, 0, 0, 0
	clear(s.ob.txKind)
}

// ReadOutbox appends to buf the messages after seq after, in order, at
// most limit. Only committed messages are read.
func (s *Store) ReadOutbox(after int64, limit int, buf []OutboxMsg) ([]OutboxMsg, error) {
	db := s.conn()
	if db == nil {
		return buf, nil
	}
	rows, err := db.Query("SELECT seq, kind, msg_id, subject, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return buf, fmt.Errorf("store %s: outbox: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m OutboxMsg
		if err := rows.Scan(&m.Seq, &m.Kind, &m.MsgID, &m.Subject, &m.Body); err != nil {
			return buf, fmt.Errorf("store %s: outbox: %w", s.path, err)
		}
		buf = append(buf, m)
	}
	return buf, rows.Err()
}

// DeleteOutbox deletes messages (acknowledged by the server). A message
// already gone (evicted) is skipped.
func (s *Store) DeleteOutbox(seqs []int64) error {
	db := s.conn()
	if db == nil || len(seqs) == 0 {
		return nil
	}
	s.commitMu.Lock() // the outbox's counts change with one writer at a time
	defer s.commitMu.Unlock()
	var q strings.Builder
	args := make([]any, 0, min(len(seqs), 500))
	for len(seqs) > 0 {
		n := min(len(seqs), 500)
		q.Reset()
		q.WriteString("DELETE FROM outbox WHERE seq IN (")
		args = args[:0]
		for i, seq := range seqs[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args = append(args, seq)
		}
		q.WriteString(") RETURNING kind, " + outboxCostSQL)
		if err := s.deleteOutbox(db, q.String(), args); err != nil {
			return fmt.Errorf("store %s: outbox: %w", s.path, err)
		}
		seqs = seqs[n:]
	}
	return nil
}

func (s *Store) deleteOutbox(db *sql.DB, q string, args []any) error {
	rows, err := db.Query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var rn, bn int64
	kinds := map[string]int64{}
	for rows.Next() {
		var kind string
		var c int64
		if err := rows.Scan(&kind, &c); err != nil {
			return err
		}
		rn++
		bn += c
		if s.dropFirst(kind) {
			kinds[kind] += c
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ob.rows -= rn
	s.ob.bytes -= bn
	for k, b := range kinds {
		s.ob.kindBytes[k] -= b
	}
	return nil
}

// OutboxStats returns the outbox's counters.
func (s *Store) OutboxStats() OutboxStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := OutboxStats{Rows: s.ob.rows, Bytes: s.ob.bytes, Queued: s.ob.queued, Dropped: make(map[string]uint64, len(s.ob.dropped))}
	for k, n := range s.ob.dropped {
		st.Dropped[k] = n
	}
	return st
}
