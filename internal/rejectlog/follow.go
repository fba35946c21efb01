package rejectlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
)

// headSize is how many bytes at the beginning of a file identify it.
const headSize = 1024

// readBudget bounds the bytes read from a file in one step, so that
// batches are delivered while a long backlog is read.
const readBudget = 1 << 20

// Position is where a follower stands in a log file: which file, how far
// its lines have been delivered, and a fingerprint of the file's first
// bytes that tells the file apart from a later one reusing its inode, and
// recognises its copy after copytruncate or its compressed generation. It
// is small and JSON-encodable; callers persist it and pass it back in
// [FollowOptions.Start].
type Position struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Offset is the end of the last delivered line: the next line starts
	// there. In a compressed generation it counts decompressed bytes.
	Offset int64 `json:"offset"`
	// HeadLen is the number of bytes at the beginning of the file that
	// HeadHash covers (up to 1024; it may reach beyond Offset, since a
	// log only grows).
	HeadLen int `json:"head_len"`
	// HeadHash is the hex-encoded first 16 bytes of the SHA-256 of those
	// bytes.
	HeadHash string `json:"head_hash"`
}

// IsZero reports whether p is the zero Position, which means "the
// beginning of the live file".
func (p Position) IsZero() bool { return p == Position{} }

// valid reports whether p can be a position the follower produced.
func (p Position) valid() bool {
	return p.Offset >= 0 && p.HeadLen >= 0 && p.HeadLen <= headSize
}

// headMatches reports whether head, the first bytes of a file, begins
// with the bytes p's fingerprint covers.
func (p Position) headMatches(head []byte) bool {
	if len(head) < p.HeadLen {
		return false
	}
	return p.HeadLen == 0 || hashHead(head[:p.HeadLen]) == p.HeadHash
}

func hashHead(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// StartOfFile returns the position at the beginning of the file now at
// path, with the fingerprint of its current first bytes.
func StartOfFile(path string) (Position, error) {
	f, err := os.Open(path)
	if err != nil {
		return Position{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Position{}, err
	}
	head, err := decompressedPrefix(f, headSize)
	if err != nil {
		return Position{}, err
	}
	id := idOf(fi)
	return Position{Dev: id.dev, Ino: id.ino, HeadLen: len(head), HeadHash: hashHead(head)}, nil
}

// FollowOptions configure [Follow].
type FollowOptions struct {
	// Path is the live log file, e.g. /var/log/mail.log. Its rotated
	// generations are found next to it (see [Generations]).
	Path string
	// Start is where to resume. The zero Position starts at the beginning
	// of the live file.
	Start Position
	// Poll is the interval between looks at the file when there is nothing
	// to read. Zero means 200ms.
	Poll time.Duration
	// MaxBatch is the most lines delivered in one batch. Zero means 1024.
	MaxBatch int
	// Logger receives rotation events and warnings. Nil means no logging.
	Logger *zap.Logger
}

// Batch is a run of complete lines from one file and the position after
// the last of them. A batch without lines announces that the follower has
// moved on to a new file, or reports Damage.
type Batch struct {
	// Lines are complete lines without their "\n". A run of NUL bytes is
	// delivered as a line of one NUL byte, which [Parser.Parse] counts as
	// garbage. The slice is reused after the callback returns; the
	// strings may be kept.
	Lines []string
	// Pos is the position after the last line: persisted and passed back
	// as FollowOptions.Start, it resumes with the line that follows.
	Pos Position
	// Damage, when not nil, says that the compressed file being read is
	// cut short or corrupt: its lines up to the damage have been (or, for
	// an incomplete last line, will be) delivered, and the follower moves
	// on to the next file. Count it with [Parser.CountDamaged].
	Damage *DamageError
}

// errStopped ends Follow quietly when ctx is done between batches.
var errStopped = errors.New("stopped")

// Follow reads the log at opts.Path from opts.Start and keeps following it,
// calling fn with every batch of complete lines, until ctx is done (then it
// returns nil) or fn returns an error (which it returns).
//
// Follow survives rotation. When the live file is renamed away and a new
// one created, it reads the old file to its end, waits one more poll
// interval for late writes, and continues with the next newer generation,
// so that files rotated several times in between are not skipped. When the
// file shrinks or its first bytes change (copytruncate), it finishes the
// lines from the copy (found by its first bytes among the rotated files)
// and restarts the live file at offset 0. A line without its newline is
// held until it is completed; at the end of a rotated file it is
// delivered as it is. A compressed generation that is cut short or corrupt
// is read up to the damage, reported with a warning and in a Batch's
// Damage, and left for the next file. Resuming from a saved Position finds
// the file by device, inode and first bytes, also after it has been
// renamed, copied or compressed while no follower was running.
//
// Directory listings are not atomic, so the follower lists twice until two
// listings agree, checks every file it opens against the listing (same
// inode, not shorter), and looks for a missing file again for a while
// (five poll intervals, at least 250ms) before it gives up and, with a
// warning, falls back to the beginning of the live file.
//
// A file that is written and copy-truncated between two polls before the
// follower has seen any of its bytes cannot be told from one that was
// never truncated; its copied lines are then missed (the copy is the only
// trace of them). Lines written between logrotate's copy and its truncate
// are lost by copytruncate itself, and lines a writer appends to a renamed
// file more than a poll interval after the follower reached its end are
// not read.
func Follow(ctx context.Context, opts FollowOptions, fn func(Batch) error) error {
	f := &follower{
		ctx:      ctx,
		path:     opts.Path,
		start:    opts.Start,
		poll:     opts.Poll,
		maxBatch: opts.MaxBatch,
		log:      opts.Logger,
		fn:       fn,
		buf:      make([]byte, 64<<10),
		scratch:  make([]byte, headSize),
	}
	if f.poll <= 0 {
		f.poll = 200 * time.Millisecond
	}
	if f.maxBatch <= 0 {
		f.maxBatch = 1024
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	f.patience = max(5*f.poll, 250*time.Millisecond)
	defer f.closeSource()
	timer := time.NewTimer(f.poll)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		var (
			progressed bool
			err        error
		)
		if f.src == nil {
			progressed, err = f.begin()
		} else {
			progressed, err = f.step()
		}
		if errors.Is(err, errStopped) {
			return nil
		}
		if err != nil {
			return err
		}
		if progressed {
			continue
		}
		timer.Reset(f.poll)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// source is an open log file.
type source struct {
	path string
	f    *os.File
	zr   io.Reader // decompressed contents; nil for a plain file
	zc   io.Closer
	id   fileID
	size int64 // on disk when opened
	off  int64 // next byte to read (decompressed for zr)
	done bool  // zr is exhausted
	// damage is found damage of the compressed data not yet reported by
	// read.
	damage *DamageError
}

func (s *source) close() {
	if s.zc != nil {
		s.zc.Close()
	}
	s.f.Close()
}

// read reads at s.off; it returns io.EOF at the current end, and once a
// *DamageError where the compressed data is damaged.
func (s *source) read(buf []byte) (int, error) {
	if s.zr == nil {
		return s.f.ReadAt(buf, s.off)
	}
	if d := s.damage; d != nil {
		s.damage = nil
		return 0, d
	}
	if s.done {
		return 0, io.EOF
	}
	n, err := s.zr.Read(buf)
	if err != nil {
		s.done = true
		switch {
		case err == io.EOF:
		case corrupt(err):
			err = &DamageError{Path: s.path, Offset: s.off + int64(n), Err: err}
		default:
			err = fmt.Errorf("decompress %s: %w", s.path, err)
		}
	}
	return n, err
}

// openSource opens path at offset and returns it with the file's first
// bytes (up to headSize), read through the same descriptor.
func openSource(path string, offset int64) (*source, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	s := &source{path: path, f: f, id: idOf(fi), size: fi.Size(), off: offset}
	zr, zc, err := decompress(f)
	if err != nil && corrupt(err) {
		// Damaged from its header on: a file without lines, whose damage
		// the first read reports.
		s.zr, s.done = bytes.NewReader(nil), true
		s.damage = &DamageError{Path: path, Err: err}
		return s, nil, nil
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if zr == nil {
		head := make([]byte, headSize)
		n, err := f.ReadAt(head, 0)
		if err != nil && err != io.EOF {
			f.Close()
			return nil, nil, err
		}
		return s, head[:n], nil
	}
	s.zr, s.zc = zr, zc
	head, err := decompressedPrefix(f, headSize)
	if err == nil && offset > 0 {
		var n int64
		n, err = io.CopyN(io.Discard, zr, offset)
		switch {
		case err == io.EOF:
			s.off, s.done, err = n, true, nil
		case err != nil && corrupt(err):
			s.off, s.done, err = n, true, nil
			s.damage = &DamageError{Path: path, Offset: n, Err: err}
		}
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, head, nil
}

// decompressedPrefix reads up to n bytes from the beginning of the
// decompressed contents of f; of a damaged file, those before the damage.
func decompressedPrefix(f *os.File, n int) ([]byte, error) {
	r, c, err := decompress(f)
	if err != nil && corrupt(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = io.NewSectionReader(f, 0, int64(n))
	}
	if c != nil {
		defer c.Close()
	}
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && !corrupt(err) {
		return nil, err
	}
	return buf[:m], nil
}

// openGeneration opens g at offset and checks, through the new descriptor,
// that it is still the file the listing saw: the same inode (a rotation may
// have renamed another file to its name since), not shorter (a
// copytruncate may have moved its contents to a copy the listing did not
// show) and, when want is not empty, starting with want. It returns nil
// when it is not.
func openGeneration(g generation, offset int64, want []byte) (*source, []byte) {
	s, head, err := openSource(g.path, offset)
	if err != nil {
		return nil, nil
	}
	if s.id != g.id || s.size < g.size || !bytes.HasPrefix(head, want) {
		s.close()
		return nil, nil
	}
	return s, head
}

type follower struct {
	ctx      context.Context
	path     string
	start    Position
	started  bool // start has been looked for
	poll     time.Duration
	maxBatch int
	log      *zap.Logger
	fn       func(Batch) error

	src       *source
	head      []byte   // the first bytes of src, up to headSize
	headHash  string   // hash of head; "" until computed
	lineStart int64    // offset of the first byte not yet delivered
	split     splitter // cuts what is read into lines
	idle      bool     // src is not the live file and was at its end last time

	listFailed bool      // the last directory listing failed (warned once)
	missSince  time.Time // when a lookup of a generation started failing
	patience   time.Duration

	buf     []byte
	scratch []byte
}

func (f *follower) closeSource() {
	if f.src != nil {
		f.src.close()
		f.src = nil
	}
}

// switchTo makes s the current file, continuing at its read offset; head
// is its first bytes.
func (f *follower) switchTo(s *source, head []byte) {
	if f.src != nil && f.src != s {
		f.src.close()
	}
	f.src = s
	f.head = append(f.head[:0:0], head...)
	f.headHash = ""
	f.lineStart = s.off
	f.split.reset()
	f.idle = false
	f.missSince = time.Time{}
}

// giveUp records that a lookup (of the start position, of a copy, of the
// current file) found nothing and reports whether it has failed for long
// enough to fall back. A directory listing is not atomic: during a
// rotation it can miss a file that is being renamed, so a single miss
// proves nothing.
func (f *follower) giveUp() bool {
	now := time.Now()
	if f.missSince.IsZero() {
		f.missSince = now
	}
	return now.Sub(f.missSince) >= f.patience
}

func (f *follower) position(offset int64) Position {
	if f.headHash == "" {
		f.headHash = hashHead(f.head)
	}
	return Position{Dev: f.src.id.dev, Ino: f.src.id.ino, Offset: offset, HeadLen: len(f.head), HeadHash: f.headHash}
}

// begin opens the first file: the one holding the start position, or the
// live file.
func (f *follower) begin() (bool, error) {
	gens := f.generations()
	if !f.started && !f.start.IsZero() && !f.start.valid() {
		f.log.Warn("ignoring invalid start position", zap.Int64("offset", f.start.Offset), zap.Int("head_len", f.start.HeadLen))
		f.started = true
	}
	if !f.started && !f.start.IsZero() {
		if len(gens) == 0 {
			return false, nil // nothing to examine yet
		}
		if k := f.locate(gens, f.start); k >= 0 {
			s, head := openGeneration(gens[k], f.start.Offset, nil)
			if s == nil || !f.start.headMatches(head) {
				if s != nil {
					s.close()
				}
				return false, nil // changed under our feet: look again
			}
			f.started = true
			f.switchTo(s, head)
			f.log.Info("resuming", zap.String("file", s.path), zap.Int64("offset", f.start.Offset))
			return true, nil
		}
		if !f.giveUp() {
			return false, nil
		}
		f.started = true
		var seen []string
		for _, g := range gens {
			seen = append(seen, fmt.Sprintf("%s (inode %d, %d bytes)", g.path, g.id.ino, g.size))
		}
		f.log.Warn("saved position not found in any generation; starting at the beginning of the live file",
			zap.String("path", f.path), zap.Uint64("inode", f.start.Ino), zap.Int64("offset", f.start.Offset),
			zap.Int("head_len", f.start.HeadLen), zap.Strings("generations", seen))
	}
	f.started = true
	if len(gens) == 0 || !gens[0].live {
		return false, nil
	}
	s, head := openGeneration(gens[0], 0, nil)
	if s == nil {
		return false, nil
	}
	f.switchTo(s, head)
	return true, f.announce()
}

// announce delivers an empty batch with the position at the start of a new
// file, once the file has a fingerprint to be recognised by.
func (f *follower) announce() error {
	if len(f.head) == 0 {
		return nil
	}
	return f.fn(Batch{Pos: f.position(f.lineStart)})
}

// step reads what is new in the current file and delivers it; at the end
// of a file that is no longer the live one it moves on.
func (f *follower) step() (bool, error) {
	plain := f.src.zr == nil
	if plain && !f.intact() {
		return f.truncated()
	}
	saved := f.lineStart
	f.split.take()
	n, err := f.readAvailable()
	var damage *DamageError
	switch {
	case errors.As(err, &damage):
		logDamage(f.log, damage)
	case err != nil:
		f.log.Warn("reading log", zap.String("file", f.src.path), zap.Error(err))
	}
	// The file may have been truncated and rewritten while it was read:
	// then what was read may belong to the new contents. The copy holds
	// the old contents from lineStart on.
	if n > 0 && plain && !f.intact() {
		f.lineStart = saved
		return f.truncated()
	}
	if err := f.emit(); err != nil {
		return false, err
	}
	if damage != nil {
		if err := f.fn(Batch{Pos: f.position(f.lineStart), Damage: damage}); err != nil {
			return false, err
		}
	}
	if n > 0 {
		f.idle = false
		return true, nil
	}
	if plain && f.isLive() {
		f.idle = false
		return false, nil
	}
	if plain && !f.idle {
		// Renamed away: give writers that still hold it one more poll
		// interval before moving on.
		f.idle = true
		return false, nil
	}
	return f.advance()
}

// readAvailable reads up to readBudget bytes and splits them into lines.
func (f *follower) readAvailable() (int64, error) {
	var total int64
	for total < readBudget {
		n, err := f.src.read(f.buf)
		if n > 0 {
			f.split.feed(f.buf[:n], f.src.off)
			f.src.off += int64(n)
			total += int64(n)
			if k := len(f.split.ends); k > 0 {
				f.lineStart = f.split.ends[k-1]
			}
		}
		if err == io.EOF || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// emit delivers the collected lines in batches of at most maxBatch.
func (f *follower) emit() error {
	lines, ends := f.split.take()
	for len(lines) > 0 {
		if f.ctx.Err() != nil {
			return errStopped
		}
		n := min(len(lines), f.maxBatch)
		if err := f.fn(Batch{Lines: lines[:n], Pos: f.position(ends[n-1])}); err != nil {
			return err
		}
		lines, ends = lines[n:], ends[n:]
	}
	return nil
}

// intact checks that the plain current file still holds what was read from
// it: it is not shorter than the read offset and starts with the same
// bytes. It extends the known head as the file grows.
func (f *follower) intact() bool {
	fi, err := f.src.f.Stat()
	if err != nil {
		return true // cannot tell; the next look will
	}
	if fi.Size() < f.src.off {
		return false
	}
	n := min(int64(headSize), fi.Size())
	m, err := f.src.f.ReadAt(f.scratch[:n], 0)
	if err != nil && err != io.EOF {
		return true
	}
	got := f.scratch[:m]
	if len(got) < len(f.head) || !bytes.Equal(got[:len(f.head)], f.head) {
		return false
	}
	if len(got) > len(f.head) {
		f.head = append(f.head, got[len(f.head):]...)
		f.headHash = ""
	}
	return true
}

// isLive reports whether the current file is the one at the log's path.
func (f *follower) isLive() bool {
	fi, err := os.Stat(f.path)
	return err == nil && idOf(fi) == f.src.id && f.src.id != (fileID{})
}

// truncated handles a current file that lost its contents (copytruncate):
// the rest of its lines, from lineStart on, is read from the copy, found
// among the rotated files by its first bytes; without a copy the file is
// read again from its beginning. It reports false when the rotation set
// changed while it looked: the next poll looks again.
func (f *follower) truncated() (bool, error) {
	if len(f.head) > 0 {
		retry := false
		for _, g := range f.generations() {
			if g.id == f.src.id || (!g.compressed && g.size < f.lineStart) || !f.prefixMatches(g.path, f.head) {
				continue
			}
			s, _ := openGeneration(g, f.lineStart, f.head)
			if s == nil {
				retry = true
				continue
			}
			f.log.Info("log truncated; finishing from its copy",
				zap.String("copy", g.path), zap.Int64("offset", f.lineStart))
			f.switchTo(s, f.head)
			return true, nil
		}
		if retry || !f.giveUp() {
			return false, nil
		}
	}
	f.log.Warn("log truncated and no copy found; reading it again from the start", zap.String("file", f.src.path))
	s := f.src
	s.off = 0
	head := make([]byte, headSize)
	n, _ := s.f.ReadAt(head, 0)
	f.switchTo(s, head[:n])
	return true, f.announce()
}

// advance moves from a finished rotated file to the next newer
// generation.
func (f *follower) advance() (bool, error) {
	gens := f.generations()
	k := f.indexOf(gens)
	var next *generation
	switch {
	case k == 0 && gens[0].live:
		return false, nil // it is the live file after all
	case k > 0:
		next = &gens[k-1]
	case k < 0:
		if !f.giveUp() {
			return false, nil
		}
		if len(gens) > 0 && gens[0].live {
			f.log.Warn("current file is no longer part of the rotation set; continuing with the live file",
				zap.String("file", f.src.path))
			next = &gens[0]
		}
	}
	if next == nil {
		return false, nil
	}
	// A copytruncate in progress: the next file is the original of the
	// copy just read and continues it.
	if len(f.head) > 0 && (next.compressed || next.size >= f.lineStart) && f.prefixMatches(next.path, f.head) {
		s, _ := openGeneration(*next, f.lineStart, f.head)
		if s == nil {
			return false, nil
		}
		f.switchTo(s, f.head)
		return true, nil
	}
	if f.split.holding() {
		// The writer is gone: the incomplete last line (or NUL run) is
		// all there is.
		f.split.take()
		f.split.flush(f.src.off)
		f.lineStart = f.src.off
		if err := f.emit(); err != nil {
			return false, err
		}
	}
	s, head := openGeneration(*next, 0, nil)
	if s == nil {
		return false, nil
	}
	from := f.src.path
	if k >= 0 {
		from = gens[k].path // its name now
	}
	f.log.Info("log rotated; continuing with the next file", zap.String("from", from), zap.String("to", s.path))
	f.switchTo(s, head)
	return true, f.announce()
}

// indexOf finds the current file in gens: by device and inode, or else by
// its first bytes (it may have been compressed).
func (f *follower) indexOf(gens []generation) int {
	if f.src.id != (fileID{}) {
		for i, g := range gens {
			if g.id == f.src.id {
				return i
			}
		}
	}
	if len(f.head) == 0 {
		return -1
	}
	for i, g := range gens {
		if f.prefixMatches(g.path, f.head) {
			return i
		}
	}
	return -1
}

// locate finds the generation holding pos: first the same device and inode
// with the same first bytes and enough length, then (a copy or a
// compressed generation) any file with the same first bytes.
func (f *follower) locate(gens []generation, pos Position) int {
	fits := func(g generation) bool {
		if !g.compressed && g.size < pos.Offset {
			return false
		}
		head, err := readPrefix(g.path, pos.HeadLen)
		return err == nil && pos.headMatches(head)
	}
	for i, g := range gens {
		if g.id.dev == pos.Dev && g.id.ino == pos.Ino && g.id != (fileID{}) && fits(g) {
			return i
		}
	}
	if pos.HeadLen == 0 {
		return -1
	}
	for i, g := range gens {
		if fits(g) {
			return i
		}
	}
	return -1
}

// prefixMatches reports whether the file at path starts with head.
func (f *follower) prefixMatches(path string, head []byte) bool {
	got, err := readPrefix(path, len(head))
	return err == nil && bytes.Equal(got, head)
}

// generations lists the rotation set, repeating the listing until two in a
// row agree, so that a rotation in progress is not seen half done.
func (f *follower) generations() []generation {
	var prev []generation
	for try := 0; try < 6; try++ {
		gens, err := listGenerations(f.path)
		if err != nil {
			if !f.listFailed {
				f.log.Warn("listing log generations", zap.Error(err))
			}
			f.listFailed = true
			return nil
		}
		f.listFailed = false
		if try > 0 && sameGenerations(prev, gens) {
			return gens
		}
		prev = gens
		if try > 0 {
			time.Sleep(f.poll / 4)
		}
	}
	return prev
}

// sameGenerations reports whether two listings show the same files, none
// of which shrank in between (a truncation in progress).
func sameGenerations(a, b []generation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].path != b[i].path || a[i].id != b[i].id || b[i].size < a[i].size {
			return false
		}
	}
	return true
}
