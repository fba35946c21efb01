package rejectlog

import (
	"bufio"
	"bytes"
	"compress/bzip2"
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
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if r == nil {
		r = f
	}
	return &logReader{Reader: r, zc: closer, f: f}, nil
}

type logReader struct {
	io.Reader
	zc io.Closer
	f  *os.File
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
// contents of path.
func readPrefix(path string, n int) ([]byte, error) {
	r, err := OpenLog(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
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
// that they are counted as too long without being held in memory; a last
// line without a newline is parsed too. Scan stops at the first error from
// fn, from r, or from ctx.
func Scan(ctx context.Context, r io.Reader, p *Parser, fn func(Rejection) error) error {
	lr := newLineReader(r)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if rej, ok, _ := p.Parse(line); ok {
			if err := fn(rej); err != nil {
				return err
			}
		}
	}
}

// ScanFiles opens each file with OpenLog and scans them in the order
// given; pass the result of [Generations] to read a rotation set from the
// oldest line to the newest.
func ScanFiles(ctx context.Context, paths []string, p *Parser, fn func(Rejection) error) error {
	for _, path := range paths {
		r, err := OpenLog(path)
		if err != nil {
			return err
		}
		err = Scan(ctx, r, p, fn)
		r.Close()
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
	}
	return nil
}

// lineReader splits a stream into lines, cutting over-long lines to
// MaxLineLength+1 bytes.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its newline, or io.EOF after the
// last one.
func (lr *lineReader) next() (string, error) {
	lr.buf = lr.buf[:0]
	got := false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		got = got || len(chunk) > 0
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		if room := MaxLineLength + 1 - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, chunk[:min(room, len(chunk))]...)
		}
		switch {
		case err == nil:
			return string(lr.buf), nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if !got {
				return "", io.EOF
			}
			return string(lr.buf), nil
		default:
			return "", err
		}
	}
}
