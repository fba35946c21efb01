// Package linefile appends JSON lines to a file that may run out of space:
// a write that fails (ENOSPC, EDQUOT, EIO) never leaves a torn line behind
// and never stops the writer. The file is cut back to its last whole line,
// what could not be written is dropped and counted, and writing resumes
// when the disk takes data again.
package linefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config configures a File.
type Config struct {
	// Name is the output's name in logs and metrics ("events", "attempts").
	Name string
	// Truncate empties the file at open; otherwise lines are appended, and
	// a torn last line (a crash or a full disk) is cut off first.
	Truncate bool
	// BufSize is the write buffer (64 KiB when 0).
	BufSize int
	// Retry is how often a failed file is tried again (1 s when 0): at
	// most one write per interval, lines in between are dropped.
	Retry time.Duration
	// WarnEvery rate-limits the warnings of a failing file (10 s when 0).
	WarnEvery time.Duration
	Log       *zap.Logger
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.BufSize <= 0 {
		c.BufSize = 64 << 10
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.WarnEvery <= 0 {
		c.WarnEvery = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Target is where a File writes: an *os.File, or a fake in tests.
// Truncate is used when the target has it (regular files).
type Target interface {
	io.Writer
	io.Closer
}

type truncater interface{ Truncate(size int64) error }

// File is a buffered JSON-lines output. It is not safe for concurrent
// use, except for Dropped and Failing.
type File struct {
	cfg   Config
	path  string
	w     Target
	trunc truncater // nil: the target cannot be cut back (a pipe)

	buf   []byte
	lines uint64 // whole lines in buf
	good  int64  // bytes of whole lines in the file

	torn bool // the file may end with a partial write: cut it before writing
	*Drops
}

// Open opens path for writing lines (see Config.Truncate).
func Open(path string, cfg Config) (*File, error) {
	cfg.defaults()
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if cfg.Truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	good := int64(0)
	if !cfg.Truncate {
		cut, size, err := Repair(path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if cut > 0 {
			cfg.Log.Warn("cut a torn last line off an output file", zap.String("output", cfg.Name),
				zap.String("path", path), zap.Int64("bytes_cut", cut))
		}
		good = size
	}
	l := New(f, good, cfg)
	l.path = path
	l.Drops.path = path
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		l.trunc = nil // a FIFO or a device: nothing to cut back
	}
	return l, nil
}

// New writes to w, which holds good bytes of whole lines already. The
// File closes w.
func New(w Target, good int64, cfg Config) *File {
	cfg.defaults()
	l := &File{cfg: cfg, w: w, good: good, buf: make([]byte, 0, cfg.BufSize), path: cfg.Name,
		Drops: NewDrops(cfg.Name, cfg.Log, cfg.Retry, cfg.WarnEvery)}
	if t, ok := w.(truncater); ok {
		l.trunc = t
	}
	return l
}

// Name is the output's name.
func (l *File) Name() string { return l.cfg.Name }

// Write appends one line, which must end with '\n'. It never fails: a line
// that cannot be written is dropped and counted.
func (l *File) Write(line []byte) {
	if l.failed {
		now := l.cfg.Now()
		if !l.Due(now) {
			l.Drop(1, now)
			return
		}
		// One try per interval: this line, written through at once.
		l.buf = append(l.buf[:0], line...)
		l.lines = 1
		l.flush()
		return
	}
	if len(l.buf)+len(line) > cap(l.buf) {
		l.flush()
		if l.failed {
			l.Drop(1, l.cfg.Now())
			return
		}
	}
	l.buf = append(l.buf, line...)
	l.lines++
}

// Flush writes the buffered lines out. A failure is handled (the file is cut
// back, the lines counted as dropped), never returned.
func (l *File) Flush() {
	if !l.failed {
		l.flush()
	}
}

// Close flushes and closes the file.
func (l *File) Close() error {
	l.Flush()
	l.Closing()
	if err := l.w.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", l.path, err)
	}
	return nil
}

func (l *File) flush() {
	if len(l.buf) == 0 {
		return
	}
	if l.torn && l.trunc != nil {
		if err := l.trunc.Truncate(l.good); err != nil {
			l.fail(err)
			return
		}
		l.torn = false
	}
	n, err := l.w.Write(l.buf)
	if err == nil && n < len(l.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		l.fail(err)
		return
	}
	l.good += int64(n)
	l.buf, l.lines = l.buf[:0], 0
	l.Resume()
}

// fail cuts the file back to its last whole line (ftruncate needs no free
// space), drops the buffered lines and enters the failed state.
func (l *File) fail(err error) {
	l.torn = true
	if l.trunc != nil {
		if terr := l.trunc.Truncate(l.good); terr == nil {
			l.torn = false
		} else {
			err = errors.Join(err, terr)
		}
	}
	lines := l.lines
	l.buf, l.lines = l.buf[:0], 0
	l.Fail(err, lines, l.cfg.Now())
}

// Drops is the failure state of one output: what it dropped, whether it is
// failing now, when to try again, and rate-limited logs of it. Its methods
// other than Dropped and Failing are for the output's own goroutine (or
// under its lock).
type Drops struct {
	name, path string
	log        *zap.Logger
	retry      time.Duration
	warnEvery  time.Duration

	failed    bool
	lastTry   time.Time
	lastWarn  time.Time
	sinceWarn uint64 // dropped since the last warning
	outage    uint64 // dropped since the output failed
	lastErr   error

	dropped atomic.Uint64
	failing atomic.Bool
}

// NewDrops returns the state of output name, trying again every retry
// and warning at most every warnEvery while failing.
func NewDrops(name string, log *zap.Logger, retry, warnEvery time.Duration) *Drops {
	if log == nil {
		log = zap.NewNop()
	}
	return &Drops{name: name, path: name, log: log, retry: retry, warnEvery: warnEvery}
}

// SetPath names the output's file in logs.
func (d *Drops) SetPath(path string) { d.path = path }

// Dropped counts what the output dropped. Safe from any goroutine.
func (d *Drops) Dropped() uint64 { return d.dropped.Load() }

// Failing says whether the output's last write failed. Safe from any
// goroutine.
func (d *Drops) Failing() bool { return d.failing.Load() }

// Err is the error that made the output fail, nil while it works.
func (d *Drops) Err() error {
	if !d.failed {
		return nil
	}
	return d.lastErr
}

// Due says whether a failed output should try again now (and if so, counts
// the try): at most one try per retry interval.
func (d *Drops) Due(now time.Time) bool {
	if !d.failed || now.Sub(d.lastTry) >= d.retry {
		d.lastTry = now
		return true
	}
	return false
}

// Fail records a failed write that lost n records.
func (d *Drops) Fail(err error, n uint64, now time.Time) {
	d.lastErr = err
	if !d.failed {
		d.failed = true
		d.failing.Store(true)
		d.lastTry = now
	}
	d.Drop(n, now)
}

// Drop counts n records lost and warns at most once per warnEvery.
func (d *Drops) Drop(n uint64, now time.Time) {
	d.dropped.Add(n)
	d.sinceWarn += n
	d.outage += n
	if d.lastWarn.IsZero() || now.Sub(d.lastWarn) >= d.warnEvery {
		d.log.Warn("output failing: dropping what it cannot write until it can again", zap.String("output", d.name),
			zap.String("path", d.path), zap.Uint64("dropped", d.sinceWarn), zap.Duration("retry", d.retry), zap.Error(d.lastErr))
		d.lastWarn, d.sinceWarn = now, 0
	}
}

// Resume records a successful write: a failed output works again.
func (d *Drops) Resume() {
	if !d.failed {
		return
	}
	d.failed = false
	d.failing.Store(false)
	d.log.Info("output writes again", zap.String("output", d.name), zap.String("path", d.path),
		zap.Uint64("dropped_while_failing", d.outage), zap.NamedError("was", d.lastErr))
	d.outage = 0
}

// Closing logs what a failing output lost, when it closes.
func (d *Drops) Closing() {
	if d.failed && d.outage > 0 {
		d.log.Warn("output closed while failing: records were dropped", zap.String("output", d.name),
			zap.String("path", d.path), zap.Uint64("dropped", d.outage), zap.Error(d.lastErr))
	}
}

// Repair cuts path back to its last '\n' when it does not end with one (a
// line torn by a crash or a full disk). It returns the bytes cut and the
// size left. A missing or empty file is left alone.
func Repair(path string) (cut, size int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("repairing %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("repairing %s: %w", path, err)
	}
	size = st.Size()
	if !st.Mode().IsRegular() || size == 0 {
		return 0, size, nil
	}
	// Read back from the end, a block at a time, to the last '\n'.
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, size, fmt.Errorf("repairing %s: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return 0, size, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, size, fmt.Errorf("repairing %s: %w", path, err)
	}
	return size - end, end, nil
}

// MaxTailLine bounds what Tail holds of one line: longer lines (not lines
// of ours; garbage) are skipped, never held, and counted in the result.
const MaxTailLine = 1 << 20

// Tail calls fn with the whole lines of path (without their '\n'), last
// first, until fn returns false or the first line was seen, and returns how
// many lines longer than MaxTailLine it skipped. A missing file has no
// lines. fn must not keep line.
func Tail(path string, fn func(line []byte) bool) (skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	const block = 64 << 10
	var (
		end  = st.Size()
		part []byte // the start of a line whose beginning is in an earlier block
		buf  = make([]byte, block)
		join []byte // buf's block, then part: reused
		long bool   // the line being read back is over MaxTailLine: skip it
	)
	for end > 0 {
		n := int64(block)
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return skipped, fmt.Errorf("reading %s: %w", path, err)
		}
		end -= n
		join = append(append(join[:0], buf[:n]...), part...)
		chunk := join
		for {
			i := bytes.LastIndexByte(chunk[:max(len(chunk)-1, 0)], '\n')
			if i < 0 {
				break
			}
			if long {
				long = false // its first bytes: dropped with the rest
			} else if line := bytes.TrimSuffix(chunk[i+1:], []byte{'\n'}); len(line) > 0 && !fn(line) {
				return skipped, nil
			}
			chunk = chunk[:i+1]
		}
		if long {
			continue
		}
		if len(chunk) > MaxTailLine {
			skipped++
			long, part = true, part[:0]
			continue
		}
		part = append(part[:0], chunk...)
	}
	if line := bytes.TrimSuffix(part, []byte{'\n'}); len(line) > 0 && !long {
		fn(line)
	}
	return skipped, nil
}
