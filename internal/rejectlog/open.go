package rejectlog

import (
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DamageError reports a compressed log file that is cut short or corrupt
// (truncated, a bad checksum, garbage after the data). What was
// decompressed before the damage is good and has been read; the rest of
// the file is lost.
type DamageError struct {
	Path string
	// Offset is the number of decompressed bytes read before the damage.
	Offset int64
	Err    error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s: compressed data damaged after %d bytes: %v", e.Path, e.Offset, e.Err)
}

func (e *DamageError) Unwrap() error { return e.Err }

// corrupt reports whether err, from a gzip or bzip2 reader, says the
// compressed data is damaged (rather than that the file could not be
// read).
func corrupt(err error) bool {
	var (
		flateErr flate.CorruptInputError
		bzipErr  bzip2.StructuralError
	)
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
		errors.As(err, &flateErr) || errors.As(err, &bzipErr)
}

// ErrUnsupportedCompression is returned for xz and zstd files, which the
// standard library cannot read.
var ErrUnsupportedCompression = errors.New("unsupported compression (xz or zstd)")

// OpenLog opens a log file for reading. Gzip and bzip2 files are
// decompressed; the format is recognised by its magic bytes, not by the
// file name.
func OpenLog(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, closer, err := decompress(f)
	if err != nil {
		f.Close()
		if corrupt(err) {
			return nil, &DamageError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	l := &logReader{Reader: r, zc: closer, f: f, path: path, compressed: r != nil}
	if r == nil {
		l.Reader = f
	}
	return l, nil
}

type logReader struct {
	io.Reader
	zc         io.Closer
	f          *os.File
	path       string
	compressed bool
	off        int64 // decompressed bytes read
}

// Read reads decompressed bytes; damage of the compressed data is
// reported as a *DamageError.
func (l *logReader) Read(b []byte) (int, error) {
	n, err := l.Reader.Read(b)
	l.off += int64(n)
	if err != nil && err != io.EOF && l.compressed && corrupt(err) {
		err = &DamageError{Path: l.path, Offset: l.off, Err: err}
	}
	return n, err
}

func (l *logReader) Close() error {
	if l.zc != nil {
		l.zc.Close()
	}
	return l.f.Close()
}

// decompress looks at the first bytes of f and returns a reader of its
// decompressed contents from the beginning, or nil when f is plain text.
// The reader uses ReadAt, so it neither depends on nor moves f's offset,
// and several can be used side by side. The closer, if any, releases the
// decompressor (not f).
func decompress(f *os.File) (io.Reader, io.Closer, error) {
	var magic [6]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	m := magic[:n]
	whole := io.NewSectionReader(f, 0, math.MaxInt64)
	switch {
	case bytes.HasPrefix(m, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(whole)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, zr, nil
	case bytes.HasPrefix(m, []byte("BZh")):
		return bzip2.NewReader(whole), nil, nil
	case bytes.HasPrefix(m, []byte{0xfd, '7', 'z', 'X', 'Z', 0}), bytes.HasPrefix(m, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, nil, ErrUnsupportedCompression
	}
	return nil, nil, nil
}

// readPrefix returns up to n bytes from the beginning of the decompressed
// contents of path; of a damaged file, those before the damage.
func readPrefix(path string, n int) ([]byte, error) {
	var d *DamageError
	r, err := OpenLog(path)
	if errors.As(err, &d) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &d) {
		return nil, err
	}
	return buf[:m], nil
}

// generation is one file of a log's rotation set.
type generation struct {
	path       string
	live       bool   // the log itself
	num        int    // numbered generation: mail.log.N
	date       string // dateext generation: the digits of mail.log-20261120
	compressed bool   // the name ends in .gz or .bz2
	id         fileID
	size       int64 // on disk, compressed or not
	mtime      time.Time
}

// listGenerations returns the files of path's rotation set, newest first:
// path itself, then mail.log.1, mail.log.2, ... (also .gz and .bz2), or
// dateext names (mail.log-20261120[.gz]) from the latest date back. Sets
// that mix both naming schemes are ordered by modification time. When a
// generation exists both compressed and uncompressed (compression in
// progress) only the uncompressed file is listed, and a file seen under two
// names (a rename during the listing) is listed once, under the older name.
func listGenerations(path string) ([]generation, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byKey := map[string]int{}
	var gens []generation
	numbered, dated := false, false
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) {
			continue
		}
		g, key, ok := classifyGeneration(name[len(base):])
		if !ok {
			continue
		}
		g.path = filepath.Join(dir, name)
		fi, err := os.Stat(g.path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		g.id, g.size, g.mtime = idOf(fi), fi.Size(), fi.ModTime()
		if i, dup := byKey[key]; dup {
			if gens[i].compressed && !g.compressed {
				gens[i] = g
			}
			continue
		}
		byKey[key] = len(gens)
		gens = append(gens, g)
		numbered = numbered || (!g.live && g.date == "")
		dated = dated || g.date != ""
	}
	sort.SliceStable(gens, func(i, j int) bool {
		a, b := gens[i], gens[j]
		if a.live != b.live {
			return a.live
		}
		switch {
		case numbered && dated:
			if !a.mtime.Equal(b.mtime) {
				return a.mtime.After(b.mtime)
			}
			return a.path < b.path
		case dated:
			// Digit strings of dates (YYYYMMDD, YYYYMMDDHH) and of epoch
			// seconds sort as text.
			return a.date > b.date
		default:
			return a.num < b.num
		}
	})
	// A file renamed while the directory was read can show up twice; keep
	// the entry further down the list (rotation only moves files down).
	seen := map[fileID]bool{}
	out := make([]generation, 0, len(gens))
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		if g.id != (fileID{}) {
			if seen[g.id] {
				continue
			}
			seen[g.id] = true
		}
		out = append(out, g)
	}
	slices.Reverse(out)
	return out, nil
}

// classifyGeneration reads the part of a file name after the log's name.
// The key identifies the generation regardless of compression.
func classifyGeneration(suffix string) (generation, string, bool) {
	var g generation
	for _, ext := range []string{".gz", ".bz2"} {
		if s, ok := strings.CutSuffix(suffix, ext); ok {
			suffix, g.compressed = s, true
			break
		}
	}
	switch {
	case suffix == "":
		if g.compressed {
			return g, "", false
		}
		g.live = true
		return g, "live", true
	case suffix[0] == '.' && allDigits(suffix[1:]) && len(suffix) <= 10:
		n, err := strconv.Atoi(suffix[1:])
		if err != nil {
			return g, "", false
		}
		g.num = n
		return g, "n" + strconv.Itoa(n), true
	case suffix[0] == '-':
		var digits []byte
		for i := 1; i < len(suffix); i++ {
			c := suffix[i]
			switch {
			case c >= '0' && c <= '9':
				digits = append(digits, c)
			case c == '-' || c == '_':
			default:
				return g, "", false
			}
		}
		if len(digits) < 6 {
			return g, "", false
		}
		g.date = string(digits)
		return g, "d" + g.date, true
	}
	return g, "", false
}

// Generations returns the files of the rotation set of the log at path,
// oldest first and path itself (if it exists) last: for example
// mail.log.4.gz, mail.log.3.gz, mail.log.2.gz, mail.log.1, mail.log, or
// mail.log-20261119.gz, mail.log-20261120, mail.log. Files with other
// suffixes (.xz, .old, ...) are not part of the set.
func Generations(path string) ([]string, error) {
	gens, err := listGenerations(path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(gens))
	for i, g := range gens {
		out[len(gens)-1-i] = g.path
	}
	return out, nil
}

// Scan reads lines from r and calls fn for every DNSBL rejection p finds,
// in order. Lines longer than MaxLineLength are handed to p cut short, so
// that they are counted as too long without being held in memory; a run of
// NUL bytes ends a line and is handed to p as one NUL byte (counted as
// garbage); a last line without a newline is parsed too. The lines read
// before an error from r are parsed before Scan returns it. Scan stops at
// the first error from fn, from r, or from ctx.
func Scan(ctx context.Context, r io.Reader, p *Parser, fn func(Rejection) error) error {
	var sp splitter
	buf := make([]byte, 64<<10)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		sp.feed(buf[:n], off)
		off += int64(n)
		if rerr != nil {
			sp.flush(off)
		}
		lines, _ := sp.take()
		for _, line := range lines {
			if rej, ok, _ := p.Parse(line); ok {
				if err := fn(rej); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// ScanFiles opens each file with OpenLog and scans them in the order
// given; pass the result of [Generations] to read a rotation set from the
// oldest line to the newest.
//
// A compressed file that is cut short or corrupt is not fatal: its lines
// up to the damage are scanned, the file is counted in p's
// Counters.DamagedFiles, damaged (if not nil) is called with the
// [DamageError], and the next file is read.
func ScanFiles(ctx context.Context, paths []string, p *Parser, damaged func(*DamageError), fn func(Rejection) error) error {
	for _, path := range paths {
		r, err := OpenLog(path)
		if err == nil {
			err = Scan(ctx, r, p, fn)
			r.Close()
		}
		if d := (*DamageError)(nil); errors.As(err, &d) {
			p.CountDamaged()
			if damaged != nil {
				damaged(d)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
	}
	return nil
}
