package record

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxLine is the longest JSON line the readers of records take, in bytes.
// A line is one record of a few hundred bytes; a longer one is damage
// (a crash mid-write, a concatenated binary) and is skipped.
const MaxLine = 1 << 20

// ErrLineTooLong is what [LineReader.Next] returns (wrapped, with the
// line's length) for a line over its bound.
var ErrLineTooLong = errors.New("line too long")

// LineReader reads newline-terminated lines no longer than a bound. A
// longer line is read past in bounded chunks, never held whole, and
// reported as [ErrLineTooLong]; reading goes on with the line after it. It
// reads every JSON-lines file of records, and the blocklist.
type LineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// NewLineReader returns a reader of the lines of r, each at most max bytes
// without its newline.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next line without its "\n"; the slice is valid until
// the next call. A last line without a newline is returned too. The error
// is io.EOF after the last line, wraps ErrLineTooLong for an over-long line
// (the reader is then at the line after it), or is the error of the
// underlying reader.
func (lr *LineReader) Next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	n, got := 0, false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		got = got || len(chunk) > 0
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		n += len(chunk)
		if n <= lr.max {
			lr.buf = append(lr.buf, chunk...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && !got:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, err
		case n > lr.max:
			lr.buf = lr.buf[:0]
			return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrLineTooLong, n, lr.max)
		}
		return lr.buf, nil
	}
}
